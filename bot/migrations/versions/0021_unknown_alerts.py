"""The engineers' alert about notices whose delivery is unknown is owed in the database:
``delivery.tell_unknown`` is set with the unknown outcome and cleared once the alert's send
is recorded; ``delivery.unknown_alert`` is the alert's outbox key, assigned before the send.

Existing unknown deliveries were told by the version before, when it found them, except
those 0019 found left ``sending`` by the version before it (which told the engineers at its
start): they are owed their alert, sent by the first broadcast round.

Revision ID: 0021_unknown_alerts
Revises: 0020_web_chat
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_unknown_alerts"
down_revision: str | Sequence[str] | None = "0020_web_chat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What 0019 wrote on a delivery it found ``sending`` (its outcome unknown).
INTERRUPTED_BY_0019 = "interrupted during the send (before an upgrade): outcome unknown"


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(
            sa.Column("tell_unknown", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("unknown_alert", sa.String(length=128), nullable=True))
        batch.create_index("ix_delivery_tell_unknown", ["tell_unknown"])
    op.execute(
        sa.text(
            "UPDATE delivery SET tell_unknown = :owed WHERE status = 'unknown'"
            " AND last_error = :interrupted"
        ).bindparams(owed=True, interrupted=INTERRUPTED_BY_0019)
    )


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index("ix_delivery_tell_unknown")
        batch.drop_column("unknown_alert")
        batch.drop_column("tell_unknown")
