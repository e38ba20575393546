"""The retention job's purge of finished sends (``outbox_message``) and SLA steps
(``sla_step``), on SQLite and PostgreSQL, on a clock the test moves: old rows whose cause is
finished go, in batches; recent ones, unfinished ones (queued, sending, a pending event or
step, an unrecorded card or digest) and kinds no rule covers stay at any age; and what reads
those rows afterwards — a replayed event, the card outbox, the desk queue, the SLA worker —
sends nothing again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import ChatRef, Reply
from bot.desk.queue.store import DigestStore
from bot.inbox.models import InboxState, OutboxMessage, OutboxState
from bot.inbox.scope import Handling, current
from bot.inbox.store import InboxStore, OutboxStore
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.privacy.purge import Eraser
from bot.privacy.retention import RetentionJob
from bot.privacy.sends import FinishedSends
from bot.privacy.settings import PrivacySettings
from bot.sla.models import SlaStep, Step
from bot.sla.steps import SlaSteps
from bot.tickets import Ticket, TicketStore
from tests.testbot import MemoryAdapter
from tests.tickets.conftest import FakeClock
from tests.tickets.test_desk_queue import GROUP, carded, desk_queue, desk_texts
from tests.tickets.test_desk_queue import services as services
from tests.tickets.test_sla_keyed import DESK as SLA_DESK
from tests.tickets.test_sla_keyed import LEAD, ONCALL, Env, exclusive
from tests.tickets.test_sla_keyed import env as env
from tests.tickets.test_sla_keyed import on_duty as on_duty

CHAT = ChatRef("telegram", "-1001001")


def retention(engine: Engine, db: Database, clock: FakeClock, **keep: int) -> RetentionJob:
    """The job purging only sends and SLA steps (``keep``: their ``[privacy]`` settings)."""
    settings = PrivacySettings(retention_days=0, inbox_keep_days=0, **keep)
    sends, steps = FinishedSends(engine), SlaSteps(engine)
    return RetentionJob(Eraser(engine, clock), settings, db, clock, sends=sends, steps=steps)


def event(inbox: InboxStore, key: str, *, handled: bool = True) -> str:
    """An inbox event (handled, or still pending); returns its sends' key prefix."""
    row = inbox.put("telegram", key, CHAT.chat_id, "message", False, "{}")
    assert row is not None
    if handled:
        inbox.finish(row, InboxState.DONE, 1)
    return f"telegram:{key}"


def send(outbox: OutboxStore, key: str, state: OutboxState = OutboxState.SENT) -> None:
    """A send claimed and recorded now."""
    assert outbox.claim(key, CHAT.platform, CHAT.chat_id) is None
    outbox.record(key, state, "42" if state is OutboxState.SENT else None)


def keys(engine: Engine, prefix: str = "") -> set[str]:
    with Session(engine) as s:
        found = s.exec(select(OutboxMessage.key)).all()
    return {k for k in found if k.startswith(prefix)}


def steps_of(engine: Engine, ticket: Ticket) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(select(SlaStep.key).where(SlaStep.ticket_id == ticket.id)).all()
    return sorted(rows)


async def test_old_finished_sends_go_and_recent_unfinished_or_unknown_kinds_stay(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    inbox, outbox = InboxStore(engine, clock), OutboxStore(engine, clock)
    handled = event(inbox, "m:-1:1")
    send(outbox, f"{handled}#1")
    send(outbox, f"{handled}#2", OutboxState.FAILED)
    assert outbox.claim(f"{handled}#3", "telegram", "-1", queued=True) is None  # never left
    assert outbox.claim(f"{handled}#4", "telegram", "-1") is None  # sending: maybe on the wire
    send(outbox, "weekly:2026-W10:telegram:-9")
    send(outbox, "notice-missed:3:desk:telegram:-9")  # a missed notice can be sent again
    send(outbox, "relay:1")  # a kind no rule covers
    clock.advance(days=37)
    recent = f"{event(inbox, 'm:-1:2')}#1"
    send(outbox, recent)
    clock.advance(days=2)  # the first rows are 39 days old: past the weekly post's 30 + 8
    assert await retention(engine, db, clock).purge_sends() == 3
    assert keys(engine) == {
        f"{handled}#3",
        f"{handled}#4",
        "notice-missed:3:desk:telegram:-9",
        "relay:1",
        recent,
    }


async def test_a_pending_events_sends_stay_however_old_and_its_replay_sends_nothing_again(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    """Its worker died mid-way (the next takes it over): every send of it is what keeps the
    replay from answering twice; rows of events handled before it go."""
    inbox, outbox = InboxStore(engine, clock), OutboxStore(engine, clock)
    before = f"{event(inbox, 'm:-1:1')}#1"
    send(outbox, before)
    clock.advance(hours=2)  # a pending event's sends may be up to an hour older (clock skew)
    pending = event(inbox, "m:-1:2", handled=False)
    send(outbox, f"{pending}#1")
    clock.advance(days=400)  # past both horizons (an unknown send's too)
    assert await retention(engine, db, clock).purge_sends() == 1
    assert keys(engine) == {f"{pending}#1"}

    adapter = MemoryAdapter()
    messenger = Messenger(db, outbox)
    messenger.register(adapter)
    token = current.set(Handling(pending, replay=True, task=asyncio.current_task()))
    try:
        ref = await messenger.send(Reply(chat=CHAT, text="请重启打印服务"))
    finally:
        current.reset(token)
    assert ref is not None and ref.message_id == "42"  # the earlier send's message
    assert adapter.said == []


async def test_sends_go_in_batches_and_zero_keeps_them(
    engine: Engine, db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, outbox = InboxStore(engine, clock), OutboxStore(engine, clock)
    handled = event(inbox, "m:-1:1")
    for n in range(5):
        send(outbox, f"{handled}#{n}")
    send(outbox, f"{handled}#unknown", OutboxState.UNKNOWN)
    clock.advance(days=31)
    kept = retention(engine, db, clock, sends_keep_days=0, unknown_sends_keep_days=0)
    assert await kept.purge_sends() == 0
    assert len(keys(engine)) == 6
    monkeypatch.setattr("bot.privacy.retention.INBOX_PURGE_BATCH", 2)
    job = retention(engine, db, clock)
    assert await job.run_once() == 0  # nothing erased; five sends deleted, two at a time
    assert keys(engine) == {f"{handled}#unknown"}  # unknown: kept 365 days
    clock.advance(days=335)
    assert await job.purge_sends() == 1
    assert keys(engine) == set()


async def test_a_weeks_post_stays_until_its_week_is_over_whatever_the_horizon(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    """The weekly summary is keyed by its week: a restart within the week must find it."""
    inbox, outbox = InboxStore(engine, clock), OutboxStore(engine, clock)
    send(outbox, "weekly:2026-W10:telegram:-9")
    reply = f"{event(inbox, 'm:-1:1')}#1"
    send(outbox, reply)
    clock.advance(days=3)
    job = retention(engine, db, clock, sends_keep_days=1)
    assert await job.purge_sends() == 1
    assert keys(engine) == {"weekly:2026-W10:telegram:-9"}
    clock.advance(days=7)  # 10 days: its week is over whichever its zone and clock changes
    assert await job.purge_sends() == 1


async def test_a_grants_expiry_notice_stays_while_the_grant_may_still_be_announced(
    engine: Engine, db: Database, clock: FakeClock
) -> None:
    """``remote-expired:`` keys are asked for within a day of the grant's end: with a one-day
    horizon such a row must outlive the announcing window, then goes."""
    outbox = OutboxStore(engine, clock)
    send(outbox, "remote-expired:7:hospital")
    clock.advance(hours=36)  # past the one-day horizon, but the grant's end was at most a
    job = retention(engine, db, clock, sends_keep_days=1)  # day before the send: keep
    assert await job.purge_sends() == 0
    assert keys(engine) == {"remote-expired:7:hospital"}
    clock.advance(hours=13)  # 49 hours: past the horizon and the announcing day
    assert await job.purge_sends() == 1 and keys(engine) == set()


async def test_a_recorded_card_goes_an_unknown_one_stays_and_no_card_is_posted_again(
    services: Any,
    open_ticket: Callable[..., Ticket],
    store: TicketStore,
    clock: FakeClock,
    engine: Engine,
    db: Database,
) -> None:
    """The card outbox posts every open ticket without a recorded card, except one whose send
    got no answer (its ``unknown`` row): that row must outlive any reopening."""
    queue = desk_queue(services)
    posted = open_ticket(urgency="P3", question="门诊收费打印机脱机").number
    await queue.run_once()
    services.adapter.unanswered.add("机房UPS断电")
    lost = open_ticket(urgency="P1", question="机房UPS断电，全院停机").number
    await queue.run_once()
    assert carded(services) == [posted] and len(desk_texts(services)) == 1
    for number in (posted, lost):
        store.claim(number, "e01")
        store.resolve(number, "e01", "已处理")
    services.adapter.unanswered.clear()
    clock.advance(days=400)  # past both horizons
    assert await retention(engine, db, clock).purge_sends() == 1
    assert keys(engine, "card:") == {f"card:{lost}:telegram:-1009000"}
    for number in (posted, lost):  # open again: the card outbox looks at both
        store.reopen(number, "e01", "问题复发")
    await desk_queue(services).run_once()
    assert carded(services) == [posted] and len(desk_texts(services)) == 1


async def test_a_digest_sent_but_not_recorded_keeps_its_send_until_the_restart_records_it(
    services: Any,
    open_ticket: Callable[..., Ticket],
    clock: FakeClock,
    engine: Engine,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services.adapter.budget = GROUP
    for i in range(6):
        open_ticket(urgency="P3", question=f"第{i}台电脑打不开")

    def crash(*args: object) -> None:
        raise RuntimeError("the process died before the digest was recorded")

    monkeypatch.setattr(DigestStore, "record", crash)
    with pytest.raises(RuntimeError):
        await desk_queue(services).run_once()
    monkeypatch.undo()
    (digest,) = keys(engine, "digest:")
    clock.advance(days=31)
    job = retention(engine, db, clock)
    assert await job.purge_sends() == 0  # the digest does not know its message yet
    restarted = desk_queue(services)
    assert await restarted.run_once() is None
    assert len(desk_texts(services)) == 1  # recorded from its row, not posted again
    clock.advance(days=31)
    assert await job.purge_sends() == 1 and keys(engine, "digest:") == set()
    assert await desk_queue(services).run_once() is None
    assert len(desk_texts(services)) == 1 and digest.startswith("digest:")


async def test_sla_steps_go_once_their_clock_stopped_and_nothing_is_paged_again(
    env: Env,
) -> None:
    platform, clock, store = env.platform, env.clock, env.store
    w = env.worker(exclusive())
    done = env.breached_p1(w)
    (breach,) = await w.watch.tick()
    store.claim(done.number, "e01")
    store.resolve(done.number, "e01", "重启服务")
    assert await w.watch.tick() == []  # its clocks stop
    said = len(platform.said)
    assert said == 3 and steps_of(env.engine, done) == [breach.key]
    clock.advance(days=31)
    job = retention(env.engine, w.db, clock)
    assert await job.purge_sends() == 6  # the step, per page its key and message, the desk line
    assert steps_of(env.engine, done) == [] and keys(env.engine, "sla:") == set()
    assert await w.watch.tick() == [] and len(platform.said) == said


async def test_a_pending_steps_sends_stay_and_its_takeover_pages_nobody_twice(env: Env) -> None:
    """The step's desk line failed: released, pending. However old, its pages' rows stay, and
    the next round sends only the desk's line; once done, its clock still runs (paused): the
    step's row stays, its sends go."""
    platform, clock = env.platform, env.clock
    w = env.worker(exclusive())
    ticket = env.breached_p1(w)
    platform.down.add(SLA_DESK.chat_id)
    (step,) = await w.watch.tick()
    assert platform.attempts == {ONCALL: 1, LEAD: 1, SLA_DESK.chat_id: 1}
    w.watch.clocks.pause(ticket.number, clock.now)  # no new round meanwhile
    clock.advance(days=2)
    job = retention(env.engine, w.db, clock, sends_keep_days=1)
    assert await job.purge_sends() == 0
    platform.down.clear()
    (taken,) = await w.watch.tick()
    assert taken.replay and taken.key == step.key
    assert platform.attempts == {ONCALL: 1, LEAD: 1, SLA_DESK.chat_id: 2}
    clock.advance(days=2)
    assert await job.purge_sends() == 5
    assert keys(env.engine, "sla:") == set() and steps_of(env.engine, ticket) == [step.key]


async def test_a_p1s_opening_page_is_kept_and_raising_it_to_p1_again_pages_nobody(
    env: Env,
) -> None:
    """The opening page's row keeps the ticket from being paged as a new P1 twice — reopened
    and raised to P1 again a year later too."""
    platform, clock, store = env.platform, env.clock, env.store
    w = env.worker(exclusive())
    ticket = env.open_ticket(urgency="P1")
    hospital = env.registry.get_hospital("h001")
    assert hospital is not None
    await w.watch.ticket_opened(ticket, hospital)
    await w.watch.settled()
    said = len(platform.said)
    assert said == 3  # the on-call engineer, the lead, the hospital told who was paged
    store.claim(ticket.number, "e01")
    store.resolve(ticket.number, "e01", "已恢复")
    assert await w.watch.tick() == []
    clock.advance(days=400)
    assert await retention(env.engine, w.db, clock).purge_sends() == 5
    (opening,) = steps_of(env.engine, ticket)
    assert opening.endswith(f":{Step.P1.value}:0") and keys(env.engine, "sla:") == set()
    store.reopen(ticket.number, "e01", "又停机了")
    store.set_urgency(ticket.number, "P3", "e01")
    raised = store.set_urgency(ticket.number, "P1", "e01")
    await w.watch.raised_to_p1(raised)
    await w.watch.settled()
    assert len(platform.said) == said
