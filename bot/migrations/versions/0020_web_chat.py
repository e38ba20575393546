"""The web chat's board in the database: every worker shows the same playground chats.

``web_chat_entry`` holds each chat's messages (an edit moves a message to a new row in its
place), and the answers to button presses; ``erasure`` counts the entries an erasure deleted.

Revision ID: 0020_web_chat
Revises: 0019_notice_outbox
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_web_chat"
down_revision: str | Sequence[str] | None = "0019_notice_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_chat_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("for_user", sa.String(length=128), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("badge", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("reply_to", sa.String(length=64), nullable=True),
        sa.Column("citation_article", sa.String(length=64), nullable=True),
        sa.Column("citation_title", sa.String(length=300), nullable=True),
        sa.Column("citation_url", sa.String(length=1000), nullable=True),
        sa.Column("buttons", sa.String(), nullable=False),
        sa.Column("mentions", sa.String(), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_web_chat_entry_chat", "web_chat_entry", ["chat_id", "id"])
    op.create_index("ix_web_chat_entry_position", "web_chat_entry", ["chat_id", "position"])
    op.create_index("ix_web_chat_entry_message", "web_chat_entry", ["chat_id", "message_id"])
    op.create_index("ix_web_chat_entry_sent_at", "web_chat_entry", ["sent_at"])
    # a plain ADD COLUMN (no table copy): the erasure log's append-only triggers stay
    op.add_column(
        "erasure", sa.Column("web_chat_entries", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("erasure") as batch:
        batch.drop_column("web_chat_entries")
    op.drop_index("ix_web_chat_entry_sent_at", table_name="web_chat_entry")
    op.drop_index("ix_web_chat_entry_message", table_name="web_chat_entry")
    op.drop_index("ix_web_chat_entry_position", table_name="web_chat_entry")
    op.drop_index("ix_web_chat_entry_chat", table_name="web_chat_entry")
    op.drop_table("web_chat_entry")
