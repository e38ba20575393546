"""Erasure: personal data moves out of the append-only audit log into purgeable rows.

``ticket_event`` refuses UPDATE and DELETE, so whatever personal data an event held stayed
forever. Its ``actor_name`` and ``text`` (and a hospital user's id) now live in
``ticket_event_detail``, one row per event, which an erasure deletes; the event itself keeps
who (an engineer's id, or only "a hospital user"), when and what changed. Existing events are
copied over, then the columns are dropped (the triggers are lifted for that one step and put
back as they were). ``erasure`` is the append-only log of erasures: by whom, when, which
scope, how many rows — never the data.

Revision ID: 0005_privacy
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_privacy"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _append_only(table: str, dialect: str) -> tuple[str, ...]:
    """The statements ``bot.tickets.models.append_only_ddl`` gives today, written out so this
    revision never changes."""
    if dialect == "sqlite":
        return (
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        )
    return (
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
    )


def _drop_append_only(table: str, dialect: str, function: bool) -> None:
    if dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    if function:
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")


def _restore_event_triggers(dialect: str) -> None:
    """Put the ticket_event triggers back (on PostgreSQL the function was kept)."""
    statements = _append_only("ticket_event", dialect)
    for statement in statements if dialect == "sqlite" else statements[1:]:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "ticket_event_detail",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=True),
        sa.Column("actor_name", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["ticket_event.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("exchanges", sa.Integer(), nullable=False),
        sa.Column("receipts", sa.Integer(), nullable=False),
        sa.Column("kb_versions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for statement in _append_only("erasure", dialect):
        op.execute(statement)

    op.execute(
        "INSERT INTO ticket_event_detail (event_id, actor_id, actor_name, text) "
        "SELECT id, CASE WHEN actor_kind = 'hospital_user' THEN actor_id END, actor_name, text "
        "FROM ticket_event "
        "WHERE actor_name <> '' OR text IS NOT NULL OR actor_kind = 'hospital_user'"
    )
    _drop_append_only("ticket_event", dialect, function=False)
    op.execute("UPDATE ticket_event SET actor_id = NULL WHERE actor_kind = 'hospital_user'")
    op.execute("ALTER TABLE ticket_event DROP COLUMN actor_name")
    op.execute("ALTER TABLE ticket_event DROP COLUMN text")
    _restore_event_triggers(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_append_only("ticket_event", dialect, function=False)
    op.add_column(
        "ticket_event", sa.Column("actor_name", sa.String(), nullable=False, server_default="")
    )
    op.add_column("ticket_event", sa.Column("text", sa.String(), nullable=True))
    for column in ("actor_name", "text"):
        op.execute(
            f"UPDATE ticket_event SET {column} = (SELECT d.{column} FROM ticket_event_detail d "
            "WHERE d.event_id = ticket_event.id) "
            "WHERE id IN (SELECT event_id FROM ticket_event_detail)"
        )
    op.execute(
        "UPDATE ticket_event SET actor_id = (SELECT d.actor_id FROM ticket_event_detail d "
        "WHERE d.event_id = ticket_event.id) WHERE actor_kind = 'hospital_user'"
    )
    _restore_event_triggers(dialect)
    op.drop_table("ticket_event_detail")
    _drop_append_only("erasure", dialect, function=True)
    op.drop_table("erasure")
