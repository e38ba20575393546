"""Urgent desk digests: one message listing the P1/P2 tickets the desk chat cannot card in time.

Revision ID: 0014_urgent_digests
Revises: 0013_desk_digests
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_urgent_digests"
down_revision: str | Sequence[str] | None = "0013_desk_digests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("desk_digest") as batch:
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("desk_digest") as batch:
        batch.drop_column("urgent")
