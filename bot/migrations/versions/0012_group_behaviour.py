"""Group behaviour: the reporters who joined an outage's P1, and messages the bot stayed out of.

Revision ID: 0012_group_behaviour
Revises: 0011_durable_inbox
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_group_behaviour"
down_revision: str | Sequence[str] | None = "0011_durable_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_reporter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "ticket_id", "platform", "chat_id", "message_id", name="uq_incident_msg"
        ),
    )
    op.create_index(
        op.f("ix_incident_reporter_ticket_id"), "incident_reporter", ["ticket_id"], unique=False
    )
    op.create_table(
        "skipped_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("engineer_id", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["engineer_id"], ["engineer.id"]),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_skipped_message_at", "skipped_message", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_skipped_message_at", table_name="skipped_message")
    op.drop_table("skipped_message")
    op.drop_index(op.f("ix_incident_reporter_ticket_id"), table_name="incident_reporter")
    op.drop_table("incident_reporter")
