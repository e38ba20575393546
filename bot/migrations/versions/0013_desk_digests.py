"""Desk digests: one message listing the tickets waiting for a card while the desk is saturated.

Revision ID: 0013_desk_digests
Revises: 0012_group_behaviour
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_desk_digests"
down_revision: str | Sequence[str] | None = "0012_group_behaviour"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "desk_digest_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["digest_id"], ["desk_digest.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "platform", "chat_id", name="uq_desk_digest_ticket"),
    )
    op.create_index(
        op.f("ix_desk_digest_ticket_digest_id"), "desk_digest_ticket", ["digest_id"], unique=False
    )
    op.create_index(
        op.f("ix_desk_digest_ticket_ticket_id"), "desk_digest_ticket", ["ticket_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_desk_digest_ticket_ticket_id"), table_name="desk_digest_ticket")
    op.drop_index(op.f("ix_desk_digest_ticket_digest_id"), table_name="desk_digest_ticket")
    op.drop_table("desk_digest_ticket")
    op.drop_table("desk_digest")
