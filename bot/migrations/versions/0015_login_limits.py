"""Login limits shared by every worker: failed and refused logins per subject and window.

Revision ID: 0015_login_limits
Revises: 0014_urgent_digests
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_login_limits"
down_revision: str | Sequence[str] | None = "0014_urgent_digests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_count",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject"),
    )
    op.create_index("ix_login_count_window_ends_at", "login_count", ["window_ends_at"])


def downgrade() -> None:
    op.drop_index("ix_login_count_window_ends_at", table_name="login_count")
    op.drop_table("login_count")
