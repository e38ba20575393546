"""Row ownership for several workers: which worker handles an inbox event, claimed a keyed send
or reserved a notice delivery (``bot.cluster.claims``).

Revision ID: 0017_row_claims
Revises: 0016_send_relay
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_row_claims"
down_revision: str | Sequence[str] | None = "0016_send_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("inbox_event", "outbox_message", "delivery")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))
    # the purge of handled inbox events walks them by age
    op.create_index("ix_inbox_event_done_at", "inbox_event", ["done_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_event_done_at", table_name="inbox_event")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claimed_by")
