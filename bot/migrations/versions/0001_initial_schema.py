"""Initial schema: the KB, the registry (hospitals, chats, engineers), the tickets, the bot's
exchanges and message links, and the broadcasts (notices, waves, deliveries, receipts).

Databases created before Alembic (``SQLModel.metadata.create_all`` made the two KB tables) are
adopted: the KB tables and their indexes are created only if missing, so their rows are kept.
The audit log's append-only triggers are the ones ``bot.tickets.models`` attaches to
``create_all`` (``APPEND_ONLY_DDL``), written out here so this revision never changes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = {
    "sqlite": (
        "CREATE TRIGGER ticket_event_no_update BEFORE UPDATE ON ticket_event "
        "BEGIN SELECT RAISE(ABORT, 'ticket_event is append-only'); END",
        "CREATE TRIGGER ticket_event_no_delete BEFORE DELETE ON ticket_event "
        "BEGIN SELECT RAISE(ABORT, 'ticket_event is append-only'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION ticket_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'ticket_event is append-only'; END $$",
        "CREATE TRIGGER ticket_event_append_only BEFORE UPDATE OR DELETE ON ticket_event "
        "FOR EACH ROW EXECUTE FUNCTION ticket_event_append_only()",
    ),
}


def upgrade() -> None:
    op.create_table(
        "engineer",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_article",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("module", sa.String(), nullable=False),
        sa.Column("tags_json", sa.String(), nullable=False),
        sa.Column("questions_json", sa.String(), nullable=False),
        sa.Column("updated", sa.Date(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("ix_kb_article_category", "kb_article", ["category"], if_not_exists=True)
    op.create_index("ix_kb_article_module", "kb_article", ["module"], if_not_exists=True)

    op.create_table(
        "kb_article_version",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("markdown", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("changed_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("article_id", "version"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_kb_article_version_article_id", "kb_article_version", ["article_id"], if_not_exists=True
    )

    op.create_table(
        "ticket_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "engineer_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_user_id", sa.String(length=64), nullable=False),
        sa.Column("engineer_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "platform_user_id", name="uq_engineer_identity_user"),
    )
    op.create_index("ix_engineer_identity_engineer_id", "engineer_identity", ["engineer_id"])

    op.create_table(
        "engineer_role",
        sa.Column("engineer_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "role IN ('engineer', 'lead', 'broadcaster')", name="ck_engineer_role_role"
        ),
        sa.ForeignKeyConstraint(
            ["engineer_id"],
            ["engineer.id"],
        ),
        sa.PrimaryKeyConstraint("engineer_id", "role"),
    )
    op.create_table(
        "hospital",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("his_version", sa.String(), nullable=False),
        sa.Column("dedicated_engineer_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dedicated_engineer_id"],
            ["engineer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "hospital_chat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("migrated_from", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.Column("deactivated_reason", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospital.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", name="uq_hospital_chat_chat"),
    )
    op.create_index("ix_hospital_chat_hospital_id", "hospital_chat", ["hospital_id"])

    op.create_table(
        "hospital_module",
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospital.id"],
        ),
        sa.PrimaryKeyConstraint("hospital_id", "module"),
    )
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("reporter_platform", sa.String(length=16), nullable=False),
        sa.Column("reporter_user_id", sa.String(length=64), nullable=False),
        sa.Column("reporter_name", sa.String(), nullable=False),
        sa.Column("source_platform", sa.String(length=16), nullable=False),
        sa.Column("source_chat_id", sa.String(length=64), nullable=False),
        sa.Column("source_thread_id", sa.String(length=64), nullable=True),
        sa.Column("source_message_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted_by", sa.String(length=32), nullable=True),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.Column("question", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('new', 'accepted', 'in_progress', 'resolved', 'closed')",
            name="ck_ticket_status",
        ),
        sa.CheckConstraint("urgency IN ('P1', 'P2', 'P3', 'P4')", name="ck_ticket_urgency"),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["engineer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospital.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_ticket_accepted_by", "ticket", ["accepted_by"])
    op.create_index("ix_ticket_hospital_status", "ticket", ["hospital_id", "status"])
    op.create_index("ix_ticket_source", "ticket", ["source_platform", "source_chat_id"])
    op.create_index("ix_ticket_status", "ticket", ["status"])

    op.create_table(
        "ticket_article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "position", name="uq_ticket_article_pos"),
    )
    op.create_index("ix_ticket_article_ticket_id", "ticket_article", ["ticket_id"])

    op.create_table(
        "ticket_card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id", name="uq_ticket_card_message"),
    )
    op.create_index("ix_ticket_card_ticket_id", "ticket_card", ["ticket_id"])

    op.create_table(
        "ticket_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=True),
        sa.Column("actor_name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_value", sa.String(), nullable=True),
        sa.Column("to_value", sa.String(), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.CheckConstraint(
            "actor_kind IN ('engineer', 'hospital_user', 'bot', 'system')",
            name="ck_ticket_event_actor_kind",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_event_ticket_id", "ticket_event", ["ticket_id"])

    op.create_table(
        "ticket_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("author_id", sa.String(length=80), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("ref_platform", sa.String(length=16), nullable=True),
        sa.Column("ref_chat_id", sa.String(length=64), nullable=True),
        sa.Column("ref_message_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "direction IN ('hospital', 'engineer', 'bot')", name="ck_ticket_message_direction"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_ticket_message_ref", "ticket_message", ["ref_platform", "ref_chat_id", "ref_message_id"]
    )
    op.create_index("ix_ticket_message_ticket_id", "ticket_message", ["ticket_id"])
    # -- bot.conversation.exchanges and bot.tickets.links ---------------------------------
    op.create_table(
        "exchange",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("thread_root", sa.String(length=64), nullable=False),
        sa.Column("question_message_id", sa.String(length=64), nullable=False),
        sa.Column("reporter_user_id", sa.String(length=64), nullable=False),
        sa.Column("reporter_name", sa.String(), nullable=False),
        sa.Column("question", sa.String(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("article_ids", sa.String(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reply_message_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ticket_number", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exchange_hospital_id", "exchange", ["hospital_id"])
    op.create_table(
        "message_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_number", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id"),
    )
    op.create_index("ix_message_link_ticket_number", "message_link", ["ticket_number"])

    # -- bot.broadcasts.models ---------------------------------------------------------------
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("module", sa.String(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("download_url", sa.String(), nullable=False),
        sa.Column("checksum", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("confirmed_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('patch', 'upgrade', 'announcement')", name="ck_notice_kind"),
        sa.CheckConstraint(
            "status IN ('draft', 'scheduled', 'sending', 'sent', 'cancelled', 'missed')",
            name="ck_notice_status",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_status", "notice", ["status"])
    op.create_table(
        "notice_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_audit_notice_id", "notice_audit", ["notice_id"])
    op.create_table(
        "notice_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "kind", "value", name="uq_notice_item"),
    )
    op.create_index("ix_notice_item_notice_id", "notice_item", ["notice_id"])
    op.create_table(
        "notice_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('all', 'region', 'his_version', 'module', 'hospital')",
            name="ck_notice_target_kind",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "kind", "value", name="uq_notice_target"),
    )
    op.create_index("ix_notice_target_notice_id", "notice_target", ["notice_id"])
    op.create_table(
        "notice_wave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "kind", "offset_minutes", name="uq_notice_wave"),
    )
    op.create_index("ix_notice_wave_due", "notice_wave", ["status", "due_at"])
    op.create_index("ix_notice_wave_notice_id", "notice_wave", ["notice_id"])
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("reply_to", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'gave_up', 'unknown', 'cancelled')",
            name="ck_delivery_status",
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospital.id"],
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["notice_wave.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wave_id", "platform", "chat_id", name="uq_delivery_chat"),
    )
    op.create_index("ix_delivery_due", "delivery", ["status", "next_attempt_at"])
    op.create_index("ix_delivery_message", "delivery", ["platform", "chat_id", "message_id"])
    op.create_index("ix_delivery_notice_id", "delivery", ["notice_id"])
    op.create_table(
        "notice_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_number", sa.String(length=16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospital.id"],
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id", name="uq_notice_reply_message"),
    )
    op.create_index("ix_notice_reply_notice_id", "notice_reply", ["notice_id"])
    op.create_table(
        "receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('ack', 'applied')", name="ck_receipt_kind"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"],
            ["hospital.id"],
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "hospital_id", "kind", name="uq_receipt"),
    )
    op.create_index("ix_receipt_notice_id", "receipt", ["notice_id"])

    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_receipt_notice_id", table_name="receipt")
    op.drop_table("receipt")
    op.drop_index("ix_notice_reply_notice_id", table_name="notice_reply")
    op.drop_table("notice_reply")
    op.drop_index("ix_delivery_notice_id", table_name="delivery")
    op.drop_index("ix_delivery_message", table_name="delivery")
    op.drop_index("ix_delivery_due", table_name="delivery")
    op.drop_table("delivery")
    op.drop_index("ix_notice_wave_notice_id", table_name="notice_wave")
    op.drop_index("ix_notice_wave_due", table_name="notice_wave")
    op.drop_table("notice_wave")
    op.drop_index("ix_notice_target_notice_id", table_name="notice_target")
    op.drop_table("notice_target")
    op.drop_index("ix_notice_item_notice_id", table_name="notice_item")
    op.drop_table("notice_item")
    op.drop_index("ix_notice_audit_notice_id", table_name="notice_audit")
    op.drop_table("notice_audit")
    op.drop_index("ix_notice_status", table_name="notice")
    op.drop_table("notice")
    op.drop_index("ix_message_link_ticket_number", table_name="message_link")
    op.drop_table("message_link")
    op.drop_index("ix_exchange_hospital_id", table_name="exchange")
    op.drop_table("exchange")
    op.drop_index("ix_ticket_message_ticket_id", table_name="ticket_message")
    op.drop_index("ix_ticket_message_ref", table_name="ticket_message")

    op.drop_table("ticket_message")
    op.drop_index("ix_ticket_event_ticket_id", table_name="ticket_event")

    op.drop_table("ticket_event")
    op.drop_index("ix_ticket_card_ticket_id", table_name="ticket_card")

    op.drop_table("ticket_card")
    op.drop_index("ix_ticket_article_ticket_id", table_name="ticket_article")

    op.drop_table("ticket_article")
    op.drop_index("ix_ticket_status", table_name="ticket")
    op.drop_index("ix_ticket_source", table_name="ticket")
    op.drop_index("ix_ticket_hospital_status", table_name="ticket")
    op.drop_index("ix_ticket_accepted_by", table_name="ticket")

    op.drop_table("ticket")
    op.drop_table("hospital_module")
    op.drop_index("ix_hospital_chat_hospital_id", table_name="hospital_chat")

    op.drop_table("hospital_chat")
    op.drop_table("hospital")
    op.drop_table("engineer_role")
    op.drop_index("ix_engineer_identity_engineer_id", table_name="engineer_identity")

    op.drop_table("engineer_identity")
    op.drop_table("ticket_counter")
    op.drop_index("ix_kb_article_version_article_id", table_name="kb_article_version")

    op.drop_table("kb_article_version")
    op.drop_index("ix_kb_article_module", table_name="kb_article")
    op.drop_index("ix_kb_article_category", table_name="kb_article")

    op.drop_table("kb_article")
    op.drop_table("engineer")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ticket_event_append_only()")
