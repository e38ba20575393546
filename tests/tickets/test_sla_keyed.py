"""SLA steps fire their sends exactly once across restarts and leader changes (SQLite and
PostgreSQL, a clock the test moves, no sleeping): a worker that dies between a page's delivery
and its record pages nobody twice when the step is finished by the next one; a page whose
outcome is unknown is audited and not repeated; each repeated round has its own keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from adapters.base import ChatRef, DeliveryError, MessageRef, OnRelease, Reply
from bot.cluster.claims import Claimant, worker_lease
from bot.cluster.leases import LeaseStore
from bot.duty import DutySettings, Post, WorkCalendar
from bot.duty.roster import Roster
from bot.inbox.models import OutboxState
from bot.inbox.store import OutboxStore
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry import RegistryStore
from bot.sla.clocks import SlaClocks
from bot.sla.paging import Pager
from bot.sla.settings import SlaSettings
from bot.sla.steps import SlaSteps
from bot.sla.watch import SlaWatch
from bot.sla.worktime import WorkTime
from bot.tickets import Ticket, TicketStore
from bot.web.settings import ServiceTargets
from tests.lookups import pending_sla_steps
from tests.testbot import MemoryAdapter
from tests.tickets.conftest import FakeClock

ONCALL, LEAD = "5001", "5009"
DESK = ChatRef("telegram", "-9000")


class Platform(MemoryAdapter):
    """Telegram in memory, shared by every worker (what it delivered is what people got).
    ``hang``: chats whose send is delivered and then never answered — the worker dies
    before it can record it; ``unknown``: chats whose send times out after going out;
    ``down``: chats refusing sends for now (proven undelivered)."""

    def __init__(self) -> None:
        super().__init__("telegram")
        self.hang: set[str] = set()
        self.unknown: set[str] = set()
        self.down: set[str] = set()
        self.hung = asyncio.Event()
        self.attempts: dict[str, int] = {}

    async def send(self, reply: Reply) -> MessageRef:
        chat = reply.chat.chat_id
        self.attempts[chat] = self.attempts.get(chat, 0) + 1
        if chat in self.down:
            raise DeliveryError(reply.chat, "connection refused", permanent=False)
        if chat in self.unknown:
            raise DeliveryError(reply.chat, "read timeout", outcome_unknown=True)
        ref = await super().send(reply)
        if chat in self.hang:
            self.hung.set()
            await asyncio.Event().wait()  # until the worker is killed
        return ref

    def to(self, chat: str) -> list[str]:
        return [s.reply.text for s in self.said if s.reply.chat.chat_id == chat]


class LimitedPlatform(Platform):
    """``Platform`` with a rate limiter that says when it lets a send go (``ReleasesSends``):
    a send matching one of ``holds`` waits in the limiter (listed in ``held``) until its
    event is set."""

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        waiting = [release for matches, release in self.holds if matches(reply)]
        if waiting:
            self.held.append(reply)
            self.changes.bump()
        for release in waiting:
            await release.wait()
        await on_release()
        self.holds = [(m, r) for m, r in self.holds if r not in waiting]
        return await self.send(reply)


@dataclass
class Worker:
    watch: SlaWatch
    outbox: OutboxStore
    db: Database


def worker(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    platform: Platform,
    claimant: Claimant,
) -> Worker:
    """One bot process's SLA side: nothing carried over from another but the database."""
    db = Database(engine)
    outbox = OutboxStore(engine, clock, claimant)
    messenger = Messenger(db, outbox)
    messenger.register(platform)
    settings = SlaSettings()
    calendar = WorkCalendar()
    worktime = WorkTime(DutySettings(), calendar)
    clocks = SlaClocks(engine, settings, ServiceTargets(), worktime, claimant)
    roster = Roster(engine, DutySettings(), calendar, clock=clock)
    pager = Pager(registry, messenger, settings, clock, db, outbox)
    tickets = TicketStore(engine, clock)
    watch = SlaWatch(
        clocks,
        roster,
        pager,
        tickets,
        registry,
        messenger,
        [DESK],
        clock,
        db,
        SlaSteps(engine, claimant),
    )
    return Worker(watch, outbox, db)


@pytest.fixture
def on_duty(registry: RegistryStore, engine: Engine, clock: FakeClock) -> None:
    """张工 (e01) on call, 王组长 (e09) the lead, both reachable on Telegram."""
    roster = Roster(engine, DutySettings(), WorkCalendar(), clock=clock)
    for post in (Post.DAY, Post.NIGHT, Post.WEEKEND):
        roster.set_rotation(post, ["e01"], "e09")
    roster.set_rotation(Post.LEAD, ["e09"], "e09")
    registry.add_identity("telegram", ONCALL, "e01")
    registry.add_identity("telegram", LEAD, "e09")


@dataclass
class Env:
    """One database with the roster set, a Telegram in memory every worker shares."""

    engine: Engine
    registry: RegistryStore
    clock: FakeClock
    store: TicketStore
    platform: Platform
    open_ticket: Callable[..., Ticket]

    def worker(self, claimant: Claimant) -> Worker:
        return worker(self.engine, self.registry, self.clock, self.platform, claimant)

    def breached_p1(self, w: Worker) -> Ticket:
        """A P1 whose 15-minute accept target has just passed."""
        ticket = self.open_ticket(urgency="P1")
        w.watch.clocks.start(ticket.number, self.clock.now)
        self.clock.advance(minutes=15)
        return ticket

    def trail(self, number: str) -> list[str]:
        return [e.text or "" for e in self.store.events(number)]


@pytest.fixture
def env(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
    on_duty: None,
) -> Env:
    return Env(engine, registry, clock, store, Platform(), open_ticket)


def exclusive() -> Claimant:
    """A freshly started process alone on the database: every other owner is dead."""
    return Claimant(f"proc-{uuid.uuid4().hex[:8]}", exclusive=True)


async def kill(task: asyncio.Task[object], w: Worker) -> None:
    """The process dies: its tick and its pager's senders stop where they are."""
    for sender in list(w.watch._pager._senders):
        sender.cancel()
    task.cancel()
    await asyncio.gather(task, *w.watch._pager._senders, return_exceptions=True)


async def sent(w: Worker, key: str) -> None:
    """Until the worker's send keyed ``key`` is recorded sent (it runs in its own task;
    bounded, the database read off the loop)."""
    for _ in range(1000):
        row = await w.db.read(lambda: w.outbox.get(key))
        if row is not None and row.state == OutboxState.SENT:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{key} was never recorded sent")


def breach_key(number: str, page_no: int = 1) -> str:
    step = "breach" if page_no == 1 else "repage"
    return f"sla:{number}:accept:{step}:{page_no}"


async def test_a_restart_between_a_page_and_its_record_pages_nobody_twice(env: Env) -> None:
    platform, clock = env.platform, env.clock
    first = env.worker(exclusive())
    ticket = env.breached_p1(first)
    platform.hang.add(ONCALL)  # delivered to the on-call engineer, then the process dies
    tick = asyncio.create_task(first.watch.tick())
    await platform.hung.wait()
    await sent(first, f"{breach_key(ticket.number)}:dm:telegram:{LEAD}")
    await kill(tick, first)
    assert len(platform.to(ONCALL)) == 1 and len(platform.to(LEAD)) == 1
    assert platform.to(DESK.chat_id) == []  # the desk was not told yet
    assert pending_sla_steps(env.engine) == 1

    # the restarted process: the dead one's send in flight is unknown, its step taken over
    platform.hang.clear()
    second = env.worker(exclusive())
    assert await second.db.write(second.outbox.interrupted) >= 1
    (replayed,) = await second.watch.tick()
    assert replayed.replay and replayed.key == breach_key(ticket.number)
    assert len(platform.to(ONCALL)) == 1  # not paged twice
    assert len(platform.to(LEAD)) == 1  # recorded before the crash: skipped
    (desk,) = platform.to(DESK.chat_id)  # the rest of the step is carried out, once
    assert (
        "已私信 王组长（telegram）" in desk and "呼叫结果未知（未重发）：张工（telegram）" in desk
    )
    lines = env.trail(ticket.number)
    assert any("接续中断的一轮" in line for line in lines)
    assert any("呼叫结果未知（未重发）：张工（telegram）" in line for line in lines)
    assert pending_sla_steps(env.engine) == 0
    assert await second.watch.tick() == []  # nothing left, nothing sent again
    assert len(platform.said) == 3

    # the next round has keys of its own: both are paged again, once
    clock.advance(minutes=10)
    (repage,) = await second.watch.tick()
    assert repage.key == breach_key(ticket.number, 2)
    assert len(platform.to(ONCALL)) == 2 and len(platform.to(LEAD)) == 2
    assert "第 2 次" in platform.to(ONCALL)[-1]


async def test_an_unknown_page_is_audited_and_not_repeated_when_its_step_is_retried(
    env: Env,
) -> None:
    platform = env.platform
    w = env.worker(exclusive())
    ticket = env.breached_p1(w)
    platform.unknown.add(ONCALL)  # Telegram did not answer: maybe delivered
    platform.down.add(DESK.chat_id)  # the desk is unreachable for now: the step fails
    (breach,) = await w.watch.tick()
    assert platform.attempts == {ONCALL: 1, LEAD: 1, DESK.chat_id: 1}
    assert pending_sla_steps(env.engine) == 1  # released for the next round
    row = w.outbox.get(f"{breach.key}:dm:telegram:{ONCALL}")
    assert row is not None and row.state == OutboxState.UNKNOWN

    platform.unknown.clear()
    platform.down.clear()
    (retried,) = await w.watch.tick()
    assert retried.replay and retried.key == breach.key
    # the unknown page is not re-sent, the delivered one neither; the desk gets its message
    assert platform.attempts == {ONCALL: 1, LEAD: 1, DESK.chat_id: 2}
    (desk,) = platform.to(DESK.chat_id)
    assert "呼叫结果未知（未重发）：张工（telegram）" in desk
    unknown_lines = [line for line in env.trail(ticket.number) if "呼叫结果未知" in line]
    assert len(unknown_lines) == 2  # the first attempt's line and the retried step's
    assert pending_sla_steps(env.engine) == 0


async def test_a_leader_change_mid_round_pages_once(env: Env) -> None:
    """Two workers on one database (their liveness is their ``worker:`` lease): the leader
    dies mid-round; the next leader finishes the round once the old one's lease has expired,
    never while it may still be sending."""
    platform, clock = env.platform, env.clock
    leases = LeaseStore(env.engine, clock)
    ttl = dt.timedelta(seconds=6)
    a, b = Claimant("worker-a", exclusive=False), Claimant("worker-b", exclusive=False)
    leader = env.worker(a)
    ticket = env.breached_p1(leader)
    for c in (a, b):  # both alive (their leases renewed every 1.5 s)
        assert leases.claim(worker_lease(c.owner), c.owner, ttl)
    platform.hang.add(ONCALL)
    tick = asyncio.create_task(leader.watch.tick())
    await platform.hung.wait()
    await sent(leader, f"{breach_key(ticket.number)}:dm:telegram:{LEAD}")
    await kill(tick, leader)
    assert leases.claim(worker_lease(b.owner), b.owner, ttl)

    follower = env.worker(b)
    assert await follower.watch.tick() == []  # the leader's lease still runs: hands off
    assert len(platform.to(ONCALL)) == 1
    clock.advance(seconds=7)  # worker-a's lease expires; worker-b renews its own
    assert leases.claim(worker_lease(b.owner), b.owner, ttl)
    (taken,) = await follower.watch.tick()
    assert taken.replay and taken.key == breach_key(ticket.number)
    assert len(platform.to(ONCALL)) == 1  # left ``sending`` by a dead worker: unknown
    assert len(platform.to(LEAD)) == 1 and len(platform.to(DESK.chat_id)) == 1
    assert any("呼叫结果未知（未重发）：张工（telegram）" in t for t in env.trail(ticket.number))
    assert await follower.watch.tick() == []


async def test_a_replayed_round_acknowledged_meanwhile_sends_nothing(env: Env) -> None:
    platform, clock = env.platform, env.clock
    first = env.worker(exclusive())
    ticket = env.breached_p1(first)
    platform.hang.update({ONCALL, LEAD})
    tick = asyncio.create_task(first.watch.tick())
    await platform.hung.wait()
    await kill(tick, first)
    first.watch.clocks.acknowledge(ticket.number, "e01", clock.now)  # 收到 pressed meanwhile
    platform.hang.clear()
    second = env.worker(exclusive())
    (replayed,) = await second.watch.tick()
    assert replayed.replay
    assert platform.to(DESK.chat_id) == []  # acknowledged: the round is not finished
    assert any("不再补发" in t for t in env.trail(ticket.number))
    assert pending_sla_steps(env.engine) == 0


async def test_a_p1_opening_page_interrupted_is_finished_once_by_the_next_process(env: Env) -> None:
    platform = env.platform
    first = env.worker(exclusive())
    ticket = env.open_ticket(urgency="P1")
    hospital = env.registry.get_hospital(ticket.hospital_id)
    assert hospital is not None
    platform.hang.add(ONCALL)
    told = await first.watch.ticket_opened(ticket, hospital)
    assert "正在呼叫值班工程师" in told
    await platform.hung.wait()
    await sent(first, f"sla:{ticket.number}:accept:p1:0:dm:telegram:{LEAD}")
    for task in list(first.watch._paging):
        await kill(task, first)
    # the replayed opening (the inbox replays the event) does not page again
    assert "正在呼叫" in await first.watch.ticket_opened(ticket, hospital)
    platform.hang.clear()
    second = env.worker(exclusive())
    await second.db.write(second.outbox.interrupted)
    (opening,) = await second.watch.tick()
    assert opening.replay and opening.key == f"sla:{ticket.number}:accept:p1:0"
    assert len(platform.to(ONCALL)) == 1
    # the hospital is told once, and only who was certainly reached
    (hospital_told,) = platform.to(ticket.source_chat_id)
    assert "已呼叫值班工程师王组长" in hospital_told
    assert await second.watch.tick() == []


class StepsLosingTheDatabase(SlaSteps):
    """The database goes away just as the step is to be marked done (once)."""

    lost = 1

    def finish(self, step_id: int, now: dt.datetime) -> None:
        if self.lost:
            self.lost -= 1
            raise OperationalError("UPDATE sla_step", None, ConnectionError("server closed"))
        super().finish(step_id, now)


async def test_a_step_not_marked_done_is_finished_at_the_next_round_without_sending(
    env: Env,
) -> None:
    claimant = exclusive()
    w = env.worker(claimant)
    w.watch.steps = StepsLosingTheDatabase(env.engine, claimant)
    ticket = env.breached_p1(w)
    (breach,) = await w.watch.tick()
    assert len(env.platform.said) == 3  # two pages and the desk's line
    assert pending_sla_steps(env.engine) == 1  # still this worker's: nobody else takes it
    (again,) = await w.watch.tick()
    assert again.replay and again.key == breach.key
    assert len(env.platform.said) == 3 and pending_sla_steps(env.engine) == 0
    assert not any("呼叫结果未知" in t for t in env.trail(ticket.number))


@pytest.mark.parametrize("opening", [False, True], ids=["breach page", "P1 opening page"])
async def test_a_page_waiting_in_the_limiter_at_a_kill_is_sent_once_by_the_replay(
    env: Env, opening: bool
) -> None:
    """A page still in the adapter's rate limiter when the process dies was never sent: its
    key is ``queued`` (``sending`` only once the limiter lets the message go), so the next
    process's replay of the step sends it, once, and nobody reads "outcome unknown"."""
    platform = env.platform = LimitedPlatform()
    first = env.worker(exclusive())
    limiter = asyncio.Event()  # never set: the page waits until the process dies
    platform.holds.append((lambda reply: reply.chat.chat_id == ONCALL, limiter))
    if opening:
        ticket = env.open_ticket(urgency="P1")
        hospital = env.registry.get_hospital(ticket.hospital_id)
        assert hospital is not None
        await first.watch.ticket_opened(ticket, hospital)
        step = f"sla:{ticket.number}:accept:p1:0"
        tasks = list(first.watch._paging)
    else:
        ticket = env.breached_p1(first)
        step = breach_key(ticket.number)
        tasks = [asyncio.create_task(first.watch.tick())]
    await platform.wait_until(lambda: bool(platform.held), "the on-call page in the limiter")
    await sent(first, f"{step}:dm:telegram:{LEAD}")
    page_key = f"{step}:dm:telegram:{ONCALL}"
    held = await first.db.read(lambda: first.outbox.get(page_key))
    assert held is not None and held.state == OutboxState.QUEUED
    for task in tasks:
        await kill(task, first)  # kill -9: the page never left the limiter
    assert platform.to(ONCALL) == []
    platform.holds.clear()  # the next process's limiter lets it go

    second = env.worker(exclusive())
    assert await second.db.write(second.outbox.interrupted) == 0  # nothing became unknown
    (replayed,) = await second.watch.tick()
    assert replayed.replay and replayed.key == step
    assert len(platform.to(ONCALL)) == 1 and len(platform.to(LEAD)) == 1  # each paged once
    row = await second.db.read(lambda: second.outbox.get(page_key))
    assert row is not None and row.state == OutboxState.SENT
    assert not any("呼叫结果未知" in line for line in env.trail(ticket.number))
    assert await second.watch.tick() == []
    assert len(platform.to(ONCALL)) == 1
