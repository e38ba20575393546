"""The Alembic migrations produce exactly the schema the models declare."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from bot.migrations import MODEL_MODULES, alembic_config, schema_metadata, upgrade_to_head
from bot.registry import RegistryStore
from bot.tickets import TicketStore
from kb_index.store import KbArticle

REPO = Path(__file__).resolve().parents[2]


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not under Alembic yet, or empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


EXPECTED_TABLES = {
    "duty_rotation",
    "duty_rotation_member",
    "duty_override",
    "sla_clock",
    "sla_step",
    "sla_target",
    "kb_article",
    "kb_article_version",
    "hospital",
    "hospital_module",
    "hospital_chat",
    "engineer",
    "engineer_role",
    "engineer_identity",
    "ticket",
    "ticket_article",
    "ticket_message",
    "ticket_event",
    "ticket_event_detail",
    "erasure",
    "ticket_card",
    "ticket_counter",
    "exchange",
    "message_link",
    "notice",
    "notice_item",
    "notice_target",
    "notice_wave",
    "delivery",
    "receipt",
    "notice_audit",
    "notice_reply",
    "web_account",
    "hospital_link",
    "web_session",
    "web_audit",
    "hospital_admin",
    "ticket_level",
    "remote_grant",
    "site_visit",
    "upgrade",
    "upgrade_step",
    "hospital_product",
    "question_label",
    "ticket_attachment",
    "lease",
    "relayed_send",
    "warned_chat",
    "web_chat_entry",
    "login_count",
    "inbox_event",
    "outbox_message",
    "incident_reporter",
    "skipped_message",
    "desk_digest",
    "desk_digest_ticket",
}


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, schema_metadata()))


def test_schema_covers_every_table() -> None:
    assert set(schema_metadata().tables) == EXPECTED_TABLES


def test_every_module_with_tables_is_in_the_schema() -> None:
    """A new table module not listed in MODEL_MODULES would be invisible to the migrations."""
    found = set()
    for package in ("bot", "kb_index", "intents", "adapters"):
        for path in (REPO / package).rglob("*.py"):
            if re.search(r"\btable\s*=\s*True\b", path.read_text(encoding="utf-8")):
                found.add(".".join(path.relative_to(REPO).with_suffix("").parts))
    assert found == set(MODEL_MODULES)


def test_migrated_schema_matches_the_models(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    assert current_revision(engine) is None
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []
    assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES | {"alembic_version"}
    upgrade_to_head(engine)  # a second start is a no-op
    assert current_revision(engine) == head_revision()


def test_the_comparison_would_notice_a_difference(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_ticket_status"))
        conn.execute(text("DROP TABLE ticket_counter"))
    diffs = [str(d) for d in _diff(engine)]
    assert any("ix_ticket_status" in d for d in diffs), diffs
    assert any("ticket_counter" in d for d in diffs), diffs


def test_upgrade_from_a_url_string(db_url: str, make_db: Callable[..., Engine]) -> None:
    upgrade_to_head(db_url)
    assert current_revision(make_db(create=False)) == head_revision()


def test_the_stores_work_on_the_migrated_schema(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    upgrade_to_head(engine)
    clock = lambda: dt.datetime(2026, 5, 1, 12, 0)  # noqa: E731
    reg = RegistryStore(engine, clock)
    reg.add_engineer("e01", "张工")
    reg.add_hospital("h001", "市第一人民医院")
    store = TicketStore(engine, clock)
    t = store.open_ticket(
        hospital_id="h001",
        reporter_platform="web",
        reporter_user_id="u1",
        reporter_name="小刘",
        source_platform="web",
        source_chat_id="h001",
        source_message_id="m1",
        question="报表导出为空",
        category="report",
    )
    store.claim(t.number, "e01")
    assert store.get(t.number).accepted_by == "e01"
    # the migration created the audit log's append-only triggers too
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM ticket_event"))


def test_a_database_made_before_alembic_is_adopted(make_db: Callable[..., Engine]) -> None:
    """Deployments created the KB tables with create_all: their articles must survive."""
    engine = make_db(create=False)
    kb_tables = [
        SQLModel.metadata.tables["kb_article"],
        SQLModel.metadata.tables["kb_article_version"],
    ]
    SQLModel.metadata.create_all(engine, tables=kb_tables)
    with Session(engine) as s:
        s.add(
            KbArticle(
                id="hb-001",
                title="打印机脱机",
                category="usage",
                module="门诊",
                updated=dt.date(2026, 1, 1),
                body="重启打印服务",
                content_hash="x",
                imported_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
        s.commit()
    # the tables as create_all made them then: without the columns later revisions added
    with engine.begin() as conn:
        for column in ("retired_at", "retired_by", "retired_reason"):  # 0004
            conn.execute(text(f"ALTER TABLE kb_article DROP COLUMN {column}"))
    upgrade_to_head(engine)
    assert _diff(engine) == []
    with Session(engine) as s:
        row = s.get(KbArticle, "hb-001")
        assert row is not None and row.title == "打印机脱机" and not row.retired


def test_concurrent_starts_migrate_once(db_url: str, make_db: Callable[..., Engine]) -> None:
    """Two processes starting at once on an empty database: one migrates, the other waits
    and finds the schema at head."""
    code = "import sys; from bot.migrations import upgrade_to_head; upgrade_to_head(sys.argv[1])"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [rc for rc, _ in outcomes] == [0, 0], outcomes
    engine = make_db(create=False)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []


def test_a_failed_migration_leaves_nothing_behind(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    with engine.begin() as conn:  # a stray table the initial revision also wants to create
        conn.execute(text("CREATE TABLE ticket_card (id INTEGER PRIMARY KEY)"))
    with pytest.raises(DBAPIError):
        upgrade_to_head(engine)
    assert set(inspect(engine).get_table_names()) == {"ticket_card"}


def test_downgrade_removes_everything(db_url: str, make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    upgrade_to_head(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade_to_head(engine)  # and back up again (the PostgreSQL trigger function was dropped)
    assert _diff(engine) == []
