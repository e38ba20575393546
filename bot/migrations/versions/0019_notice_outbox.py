"""Notices through the one durable outbox: a delivery's send is claimed, sent and recorded in
``outbox_message`` (key ``notice:<delivery id>``), so ``delivery`` keeps only the plan and the
report — its claim token and claim time go, and an engineer's resend counts as a new key.

Existing rows: a delivery an earlier version left ``sending`` was on the wire when that
version stopped, so it becomes ``unknown`` (never re-sent); the outcome of every delivery that
ended is copied into the outbox, so the report and the outbox agree.

Revision ID: 0019_notice_outbox
Revises: 0018_sla_steps
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_notice_outbox"
down_revision: str | Sequence[str] | None = "0018_sla_steps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'queued', 'sent', 'failed', 'gave_up', 'unknown', 'cancelled'"
_OLD_STATUSES = "'queued', 'sending', 'sent', 'failed', 'gave_up', 'unknown', 'cancelled'"


def upgrade() -> None:
    op.execute(
        "UPDATE delivery SET status = 'unknown', claimed_by = NULL,"
        " last_error = 'interrupted during the send (before an upgrade): outcome unknown'"
        " WHERE status = 'sending'"
    )
    op.execute(
        "INSERT INTO outbox_message"
        " (key, platform, chat_id, state, message_id, error, claimed_by, created_at, sent_at)"
        " SELECT 'notice:' || id, platform, chat_id,"
        " CASE WHEN status = 'gave_up' THEN 'failed' ELSE status END,"
        " message_id, substr(coalesce(last_error, ''), 1, 200), claimed_by, updated_at, sent_at"
        " FROM delivery WHERE status IN ('sent', 'failed', 'gave_up', 'unknown')"
    )
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("ck_delivery_status", type_="check")
        batch.drop_column("claim_token")
        batch.drop_column("claimed_at")
        batch.add_column(sa.Column("resends", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint("ck_delivery_status", f"status IN ({_STATUSES})")


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("ck_delivery_status", type_="check")
        batch.drop_column("resends")
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint("ck_delivery_status", f"status IN ({_OLD_STATUSES})")
    op.execute("DELETE FROM outbox_message WHERE key LIKE 'notice:%'")
