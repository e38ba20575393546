"""Erasure (issue 13, item 3), on SQLite and PostgreSQL: personal data can be erased by
ticket, hospital, phone/ID number or age, the append-only audit trail keeps its events and
records that something was erased, by whom and when — never the data."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session

from bot.conversation.exchanges import ExchangeStore, Outcome
from bot.inbox import InboxState, InboxStore
from bot.infra.gateway import Database
from bot.migrations import alembic_config, upgrade_to_head
from bot.privacy.purge import ERASED, Eraser, PurgeRefused, Scope
from bot.privacy.retention import RetentionJob
from bot.privacy.settings import PrivacySettings
from bot.tickets import Ticket, TicketStore, incidents
from bot.tickets.incidents import IncidentReporter
from kb_index.articles import Article
from kb_index.store import WEB_SOURCE, article_history, save_article
from tests.lookups import inbox_count
from tests.tickets.conftest import FakeClock

LANDLINE = "0571 8888 6666"  # no label: redaction keeps it, an erasure request must find it


@pytest.fixture
def eraser(engine: Engine, clock: FakeClock) -> Eraser:
    return Eraser(engine, clock)


def worked_ticket(store: TicketStore, open_ticket: Callable[..., Ticket], **kw: object) -> str:
    """A ticket with a conversation, a note, a relayed reply and a resolution."""
    number = open_ticket(reporter_name="家属老王", **kw).number
    store.claim(number, "e01")
    store.append_message(number, "hospital", _hospital(), f"家里座机 {LANDLINE}")
    store.add_note(number, "e01", f"已打 {LANDLINE}")
    store.resolve(number, "e01", "重装打印驱动")
    return number


def _hospital():  # type: ignore[no-untyped-def]
    from bot.tickets.store import Actor

    return Actor.hospital_user("h001", "telegram", 7001, "家属老王")


def test_erasing_a_ticket_keeps_the_record_and_the_trail(
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
    eraser: Eraser,
    engine: Engine,
    clock: FakeClock,
) -> None:
    number = worked_ticket(store, open_ticket)
    other = worked_ticket(store, open_ticket)
    exchanges = ExchangeStore(engine, lambda: clock().replace(tzinfo=dt.UTC))
    asked = ask(exchanges, f"打印机脱机 {LANDLINE}", number)
    reporter = IncidentReporter(  # someone else who reported the same outage
        ticket_id=0,
        platform="telegram",
        chat_id="-1",
        message_id="9",
        user_id="7002",
        name="护士小王",
        joined_at=clock(),
    )
    incidents.join(engine, store.get(number), reporter)
    kinds = [e.kind for e in store.events(number)]

    log = eraser.erase(Scope.ticket(number), by="e09")

    t = store.get(number)
    assert (t.question, t.resolution, t.reporter_name, t.reporter_user_id) == (
        ERASED,
        ERASED,
        "",
        "",
    )
    assert (t.status, t.accepted_by, t.category) == ("resolved", "e01", "usage")
    assert t.completed_at is not None
    assert store.messages(number) == []
    assert incidents.reporters(engine, t.id or 0) == []
    events = store.events(number)
    assert [e.kind for e in events] == [*kinds, "erased"]
    assert all(e.text is None and e.actor_name == "" for e in events)
    assert (events[-1].actor_id, events[-1].to_value) == ("e09", "ticket")
    assert events[1].actor_id == "e01"  # engineers stay named in the trail
    assert exchanges.get(asked).question == ERASED  # type: ignore[union-attr]
    assert (log.actor, log.scope, log.target, log.tickets, log.exchanges) == (
        "e09",
        "ticket",
        number,
        1,
        1,
    )
    assert "8888" in store.messages(other)[0].text  # another ticket is untouched
    with Session(engine) as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("DELETE FROM erasure"))
        s.commit()


def test_erasing_by_phone_finds_it_however_it_was_written(
    store: TicketStore, open_ticket: Callable[..., Ticket], eraser: Eraser
) -> None:
    in_question = open_ticket(question="座机０５７１—８８８８ ６６６６打不通").number
    in_message = open_ticket().number
    store.append_message(in_message, "hospital", _hospital(), "座机0571-88886666")
    in_note = open_ticket().number
    store.add_note(in_note, "e01", "回电 0571.8888.6666")
    unrelated = open_ticket(question="电话 0571 8888 6667 是机房").number

    chosen = eraser.select(Scope.subject("057188886666"))
    ids = {store.get(n).id for n in (in_question, in_message, in_note)}
    assert set(chosen.tickets) == ids
    log = eraser.erase(Scope.subject("0571-8888-6666"), by="e09")
    assert (log.scope, log.target, log.tickets) == ("subject", "", 3)  # never the number
    assert store.get(unrelated).question.endswith("是机房")
    with pytest.raises(PurgeRefused):
        Scope.subject("2304")


def ask(exchanges: ExchangeStore, question: str, ticket: str | None = None) -> int:
    row = exchanges.record(
        hospital_id="h001",
        platform="telegram",
        chat_id="-1001001",
        thread_root="1",
        question_message_id="1",
        reporter_user_id="7001",
        reporter_name="家属老王",
        question=question,
        decision="answer",
        article_ids=[],
        confidence=0.9,
    )
    if ticket:
        exchanges.set_outcome(row.id or 0, Outcome.ESCALATED, ticket)
    return row.id or 0


def test_retention_erases_what_is_old_and_done_only(
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
    eraser: Eraser,
    clock: FakeClock,
    engine: Engine,
) -> None:
    exchanges = ExchangeStore(engine, lambda: clock().replace(tzinfo=dt.UTC))
    old_done = worked_ticket(store, open_ticket)
    old_open = open_ticket(question="老问题还在处理").number
    answered = ask(exchanges, "发票怎么补打")
    escalated_open = ask(exchanges, "老问题还在处理", old_open)
    clock.advance(days=400)
    recent = ask(exchanges, "今天的问题")
    recent_done = worked_ticket(store, open_ticket)

    log = eraser.erase(Scope.older_than(365, clock()), by="system")

    assert store.get(old_done).question == ERASED
    assert store.get(old_open).question == "老问题还在处理"
    assert store.get(recent_done).question != ERASED
    assert store.events(old_done)[-1].actor_kind == "system"
    questions = {i: exchanges.get(i).question for i in (answered, escalated_open, recent)}  # type: ignore[union-attr]
    assert questions == {answered: ERASED, escalated_open: "老问题还在处理", recent: "今天的问题"}
    assert (log.scope, log.target, log.tickets, log.exchanges) == ("retention", "365d", 1, 1)
    again = eraser.erase(Scope.older_than(365, clock()), by="system")
    assert again.tickets == 0  # erased tickets are not erased twice


def test_erasing_a_hospital_leaves_the_other_hospitals(
    store: TicketStore, open_ticket: Callable[..., Ticket], eraser: Eraser
) -> None:
    mine = worked_ticket(store, open_ticket)
    theirs = open_ticket(hospital_id="h002", question="挂号机死机").number
    assert eraser.erase(Scope.hospital("h001"), by="e09").tickets == 1
    assert store.get(mine).question == ERASED
    assert store.get(theirs).question == "挂号机死机"


def test_an_old_kb_version_can_be_erased_but_not_the_current_one(
    engine: Engine, eraser: Eraser
) -> None:
    article = Article(
        "kb-1", "发票打印", "usage", "门诊", (), (), dt.date(2026, 1, 1), "旧：打电话"
    )
    with Session(engine) as s:
        save_article(s, article, source="kb")
        save_article(s, dataclasses.replace(article, body="中：重装"), source="kb")
        save_article(s, dataclasses.replace(article, body="新：重启"), source=WEB_SOURCE)
        s.commit()
    with pytest.raises(PurgeRefused, match="current"):
        eraser.erase_kb_version("kb-1", 3, by="e09")
    with pytest.raises(PurgeRefused, match="last one imported"):
        eraser.erase_kb_version("kb-1", 2, by="e09")  # the next import compares with it
    log = eraser.erase_kb_version("kb-1", 1, by="e09")
    assert [v.markdown == "" for v in article_history(engine, "kb-1")] == [True, False, False]
    assert (log.scope, log.target, log.kb_versions) == ("kb_version", "kb-1 v1", 1)


def test_the_migration_moves_event_text_out_of_the_audit_log(
    make_db: Callable[..., Engine], clock: FakeClock
) -> None:
    engine = make_db(create=False)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO hospital (id, name, region, his_version, created_at, updated_at) "
                "VALUES ('h001', '一院', '', '', '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ticket (id, number, hospital_id, reporter_platform, reporter_user_id, "
                "reporter_name, source_platform, source_chat_id, source_message_id, category, "
                "urgency, status, question, created_at, updated_at) VALUES (1, '2026-000001', "
                "'h001', 'telegram', '7', '老王', 'telegram', '-1', '1', 'usage', 'P3', 'new', "
                "'问', '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ticket_event (ticket_id, at, actor_kind, actor_id, actor_name, kind, "
                "text) VALUES (1, '2026-01-01', 'hospital_user', 'telegram:7', '老王', "
                "'relayed_to_engineers', '补充') , (1, '2026-01-01', 'engineer', 'e01', '张工', "
                "'note', NULL)"
            )
        )
    upgrade_to_head(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("ticket_event")}
    assert "text" not in columns and "actor_name" not in columns
    events = TicketStore(engine, clock).events("2026-000001")
    assert [(e.actor_id, e.actor_name, e.text) for e in events] == [
        ("telegram:7", "老王", "补充"),
        ("e01", "张工", None),
    ]


async def test_the_retention_job_applies_the_configured_period(
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
    eraser: Eraser,
    clock: FakeClock,
    engine: Engine,
) -> None:
    old = worked_ticket(store, open_ticket)
    clock.advance(days=31)
    db = Database(engine)
    kept = RetentionJob(eraser, PrivacySettings(retention_days=0), db, clock)
    assert await kept.run_once() == 0
    assert store.get(old).question != ERASED
    job = RetentionJob(eraser, PrivacySettings(retention_days=30), db, clock)
    assert await job.run_once() == 1
    assert store.get(old).question == ERASED
    assert await job.run_once() == 0  # nothing left: no empty erasure is logged
    assert [e.scope for e in eraser.log()] == ["retention"]


async def test_the_retention_job_purges_handled_inbox_events_in_batches(
    eraser: Eraser, clock: FakeClock, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = InboxStore(engine, clock)
    for n in range(5):
        row = inbox.put("telegram", f"m:-1:{n}", "-1", "message", False, "{}")
        assert row is not None
        inbox.finish(row, InboxState.DONE, 1)
    inbox.put("telegram", "m:-1:9", "-1", "message", False, "{}")  # not handled: kept
    db = Database(engine)
    clock.advance(days=7)
    week = PrivacySettings(retention_days=0, inbox_keep_days=7)
    assert await RetentionJob(eraser, week, db, clock, inbox).purge_inbox() == 0  # not older yet
    clock.advance(seconds=1)
    keep = PrivacySettings(retention_days=0, inbox_keep_days=0)
    assert await RetentionJob(eraser, keep, db, clock, inbox).purge_inbox() == 0  # 0 keeps them
    monkeypatch.setattr("bot.privacy.retention.INBOX_PURGE_BATCH", 2)
    assert await RetentionJob(eraser, week, db, clock, inbox).run_once() == 0  # nothing erased
    assert inbox_count(engine, InboxState.DONE) == 0
    assert inbox_count(engine, InboxState.PENDING) == 1


def test_erasing_a_ticket_deletes_its_web_chat_messages_and_the_replies_to_them(
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
    eraser: Eraser,
    engine: Engine,
    clock: FakeClock,
) -> None:
    from adapters.chat_board import Entry
    from bot.tickets.links import LinkStore, Side
    from bot.webchat.store import WebChatStore

    chat = WebChatStore(engine)

    def say(message_id: str, text: str, reply_to: str | None = None) -> None:
        chat.append("h001", Entry(message_id, "user", "挂号处", text, clock(), reply_to=reply_to))

    number = open_ticket().number
    say("q1", "打印机脱机了")
    say("n1", f"已为您登记工单 #{number}", reply_to="q1")
    say("f1", f"座机 {LANDLINE}，麻烦回电", reply_to="n1")  # a follow-up in the ticket's thread
    say("x1", "另一个问题")
    links = LinkStore(engine)
    links.link("web", "h001", "q1", number, Side.HOSPITAL)
    links.link("web", "h001", "n1", number, Side.HOSPITAL)
    assert len(eraser.select(Scope.ticket(number)).web_chat) == 3
    done = eraser.erase(Scope.ticket(number), "e01")
    assert done.web_chat_entries == 3
    assert [e.id for e in chat.since("h001", 0).entries] == ["x1"]
