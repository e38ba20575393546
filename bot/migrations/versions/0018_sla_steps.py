"""SLA steps: every warning, page round and P1 opening page a clock carried out, so an
interrupted one is finished by another worker with its sends keyed in the outbox.

Revision ID: 0018_sla_steps
Revises: 0017_row_claims
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_sla_steps"
down_revision: str | Sequence[str] | None = "0017_row_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("step", sa.String(length=8), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_sla_step_key"),
    )
    op.create_index("ix_sla_step_state", "sla_step", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sla_step_state", table_name="sla_step")
    op.drop_table("sla_step")
