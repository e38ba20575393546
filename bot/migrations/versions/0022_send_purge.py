"""Indexes for the retention job's purge of finished sends and SLA steps: ``outbox_message``
by state and when a send was claimed, ``sla_step`` by state and when a step finished (range
scans: only old rows are read), and ``desk_digest`` by its posted message (the purge matches a
digest's send to the digest that recorded it; a reply to a digest is found by it too).

Revision ID: 0022_send_purge
Revises: 0021_unknown_alerts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_send_purge"
down_revision: str | Sequence[str] | None = "0021_unknown_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_message_state_created_at",
        "outbox_message",
        ["state", "created_at"],
        unique=False,
    )
    op.create_index("ix_sla_step_state_done_at", "sla_step", ["state", "done_at"], unique=False)
    op.create_index(
        "ix_desk_digest_message", "desk_digest", ["platform", "chat_id", "message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_desk_digest_message", table_name="desk_digest")
    op.drop_index("ix_sla_step_state_done_at", table_name="sla_step")
    op.drop_index("ix_outbox_message_state_created_at", table_name="outbox_message")
