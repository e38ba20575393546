"""Several workers: replies relayed to the worker holding a platform's connection
(relayed_send; WeCom sends only over the bot's one long connection).

Revision ID: 0016_send_relay
Revises: 0015_login_limits
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_send_relay"
down_revision: str | Sequence[str] | None = "0015_login_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relayed_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=9), nullable=False),
        sa.Column("taken_by", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("outcome_unknown", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_relayed_send_platform"), "relayed_send", ["platform"], unique=False)
    op.create_index(
        op.f("ix_relayed_send_created_at"), "relayed_send", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_relayed_send_created_at"), table_name="relayed_send")
    op.drop_index(op.f("ix_relayed_send_platform"), table_name="relayed_send")
    op.drop_table("relayed_send")
