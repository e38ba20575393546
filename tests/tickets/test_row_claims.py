"""Rows owned by workers (``bot.cluster.claims``), on SQLite and PostgreSQL: two workers —
two engines, as two processes have — each with its own lease ``worker:<id>``; the clock is
moved to let one of them die (its lease runs out), nothing waits.

* an inbox event is handled by the worker that stored it, and taken over by another only once
  that worker is dead — once, and never by two at a time (PostgreSQL: ``SKIP LOCKED``);
* a send in flight becomes ``unknown`` only when its worker is dead, never a live one's; a send
  still queued in a rate limiter is its worker's until it dies, then dropped or taken over;
* notice deliveries are reserved per worker and sent through the same outbox (key
  ``notice:<id>``): a dead worker's notice still in its limiter goes to another, never unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text

from adapters.base import MessageRef, OnRelease, Reply
from bot.broadcasts import (
    Actor,
    Broadcaster,
    BroadcastSettings,
    BroadcastStore,
    NoticeDraft,
    NoticeKind,
)
from bot.broadcasts.models import Delivery, delivery_key
from bot.broadcasts.specs import Targets
from bot.cluster.claims import Claimant, count_live_workers, forget_dead_workers, worker_lease
from bot.cluster.leases import LeaseStore
from bot.inbox import InboxState, InboxStore, OutboxState, OutboxStore
from bot.inbox.models import OutboxMessage
from bot.infra.gateway import Database
from bot.registry import RegistryStore
from tests.broadcasts.conftest import FakeTransport
from tests.lookups import inbox_count
from tests.tickets.conftest import FakeClock

TTL = dt.timedelta(seconds=6)


@dataclass
class Worker:
    """One process: its own engine, its lease, its stores."""

    name: str
    engine: Engine
    clock: FakeClock

    def __post_init__(self) -> None:
        claimant = Claimant(self.name, exclusive=False)
        self.leases = LeaseStore(self.engine, self.clock)
        self.inbox = InboxStore(self.engine, self.clock, claimant)
        self.outbox = OutboxStore(self.engine, self.clock, claimant)
        self.notices = BroadcastStore(
            self.engine,
            RegistryStore(self.engine),
            self.clock,
            BroadcastSettings(quiet_hours=""),
            claimant=claimant,
        )
        self.alive()

    def alive(self) -> None:
        """Renew this worker's lease (what its keeper does every 1.5 s)."""
        assert self.leases.claim(worker_lease(self.name), self.name, TTL)

    def put(self, n: int) -> int:
        row = self.inbox.put("telegram", f"m:-1:{n}", "-1", "message", False, "{}")
        assert row is not None
        return row


@pytest.fixture
def two(engine: Engine, make_db: Callable[..., Engine], clock: FakeClock) -> tuple[Worker, Worker]:
    return Worker("a", engine, clock), Worker("b", make_db(create=False), clock)


def let_a_die(clock: FakeClock, b: Worker) -> None:
    """``a`` stops renewing; ``b`` goes on."""
    clock.advance(seconds=TTL.total_seconds() + 1)
    b.alive()


def test_a_live_workers_events_are_never_taken_a_dead_ones_once(
    two: tuple[Worker, Worker], clock: FakeClock
) -> None:
    a, b = two
    first, second = a.put(1), a.put(2)
    b.put(3)
    assert b.inbox.take_over() == []  # a is alive: its events are its own
    assert a.inbox.take_over() == []  # and b's are b's
    a.inbox.finish(first, InboxState.DONE, 1)
    let_a_die(clock, b)
    taken = b.inbox.take_over()
    assert [(e.id, e.claimed_by) for e in taken] == [(second, "b")]  # not the one done
    assert b.inbox.take_over() == []  # taken once: b is alive
    c = Worker("c", b.engine, clock)
    assert c.inbox.take_over() == []  # a third worker does not take it from b either


def test_a_worker_stopped_cleanly_hands_its_events_over_at_once(
    two: tuple[Worker, Worker],
) -> None:
    a, b = two
    event = a.put(1)
    a.leases.release(worker_lease("a"), "a")  # what a clean stop does, last
    assert [e.id for e in b.inbox.take_over()] == [event]


def test_two_workers_taking_over_at_once_never_share_an_event(
    two: tuple[Worker, Worker], clock: FakeClock
) -> None:
    """PostgreSQL: rows another transaction is claiming are skipped, not waited on."""
    a, b = two
    if a.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one process (the instance lock): nothing to skip")
    dead = Worker("dead", a.engine, clock)
    first, second = dead.put(1), dead.put(2)
    let_a_die(clock, b)
    a.alive()
    with a.engine.connect() as busy:  # a's takeover has locked the first event, not committed
        busy.execute(text("SELECT id FROM inbox_event WHERE id = :id FOR UPDATE"), {"id": first})
        assert [e.id for e in b.inbox.take_over()] == [second]  # returns, without the first
        busy.rollback()
    assert [e.id for e in a.inbox.take_over()] == [first]
    assert b.inbox.take_over() == [] and a.inbox.take_over() == []


def test_only_a_dead_workers_sends_in_flight_become_unknown(
    two: tuple[Worker, Worker], clock: FakeClock
) -> None:
    a, b = two
    assert a.outbox.claim("telegram:m:-1:1#1", "telegram", "-1") is None  # a is sending
    assert b.outbox.claim("card:2026-000001:telegram:-9", "telegram", "-9") is None
    assert b.outbox.interrupted() == 0  # b restarting or reconciling: a's call may be under way
    let_a_die(clock, b)
    assert b.outbox.interrupted() == 1
    a_row = b.outbox.claim("telegram:m:-1:1#1", "telegram", "-1")
    assert a_row is not None and a_row.state == OutboxState.UNKNOWN  # never re-sent
    b_row = a.outbox.claim("card:2026-000001:telegram:-9", "telegram", "-9")
    assert b_row is not None and b_row.state == OutboxState.SENDING  # b's still under way


def test_a_queued_send_is_its_workers_until_it_dies_then_anyones_to_send(
    two: tuple[Worker, Worker], clock: FakeClock
) -> None:
    """``queued``: waiting in a's rate limiter, provably not sent. Never unknown; b may send
    it only once a is dead, and a, taken over, may then no longer let it go."""
    a, b = two
    key = "telegram:m:-1:2#1"
    assert a.outbox.claim(key, "telegram", "-1", queued=True) is None
    assert a.outbox.claim(key, "telegram", "-1", queued=True) is None  # a's retry: still a's
    queued = b.outbox.claim(key, "telegram", "-1", queued=True)
    assert queued is not None and queued.state == OutboxState.QUEUED  # a's, alive: not b's
    let_a_die(clock, b)
    assert b.outbox.claim(key, "telegram", "-1", queued=True) is None  # taken over, unsent
    assert not a.outbox.mark_sending(key)  # a's limiter lets it go too late: a must not send
    assert b.outbox.mark_sending(key)
    assert b.outbox.interrupted() == 0  # b is alive: its send in flight is left alone


def test_a_dead_workers_queued_sends_are_forgotten_not_unknown(
    two: tuple[Worker, Worker], clock: FakeClock
) -> None:
    a, b = two
    assert a.outbox.claim("telegram:m:-1:3#1", "telegram", "-1", queued=True) is None
    assert a.outbox.claim("telegram:m:-1:3#2", "telegram", "-1", queued=True) is None
    assert a.outbox.mark_sending("telegram:m:-1:3#2")  # on the wire when a died
    let_a_die(clock, b)
    assert b.outbox.interrupted() == 1  # #2 unknown; #1 dropped: its replay sends it
    assert b.outbox.claim("telegram:m:-1:3#1", "telegram", "-1", queued=True) is None
    again = b.outbox.claim("telegram:m:-1:3#2", "telegram", "-1", queued=True)
    assert again is not None and again.state == OutboxState.UNKNOWN


def notice_deliveries(worker: Worker) -> list[Delivery]:
    """A notice to every hospital (two groups), its wave fired: the delivery rows."""
    store, who = worker.notices, Actor.cli("e05")
    draft = NoticeDraft(NoticeKind.ANNOUNCEMENT, Targets(everyone=True), title="维护", body="周六")
    notice = store.create(draft, who)
    assert notice.id is not None
    store.confirm(notice.id, who, skip_test=True)
    [wave] = store.waves.due_waves(store.now())
    assert wave.id is not None and store.waves.fire(wave.id, store.now())
    return store.deliveries.of_notice(notice.id)


def claim_notice(worker: Worker, delivery: Delivery, queued: bool = True) -> OutboxMessage | None:
    """What the broadcaster's send does first: claim the delivery's key in the one outbox."""
    key = delivery_key(delivery)
    return worker.outbox.claim(key, delivery.platform, delivery.chat_id, queued=queued)


def test_notice_deliveries_are_reserved_per_worker_and_claimed_in_the_one_outbox(
    two: tuple[Worker, Worker], registry: RegistryStore, clock: FakeClock
) -> None:
    a, b = two
    first, second = notice_deliveries(a)
    now = clock.now
    assert [d.id for d in a.notices.deliveries.reserve_due(now, 1)] == [first.id]
    assert [d.id for d in b.notices.deliveries.reserve_due(now, 10)] == [second.id]  # not a's
    assert b.notices.deliveries.reserve_due(now, 10)[0].id == second.id  # its own again, next round
    assert claim_notice(a, first, queued=False) is None  # a's call is under way
    taken = claim_notice(b, first)
    assert taken is not None and taken.state == OutboxState.SENDING  # a's: not sent by b
    assert b.outbox.interrupted() == 0  # a is alive
    assert count_live_workers(a.engine, now) == 2
    let_a_die(clock, b)
    assert count_live_workers(a.engine, clock.now) == 1
    assert b.outbox.interrupted() == 1
    unknown = claim_notice(b, first)
    assert unknown is not None and unknown.state == OutboxState.UNKNOWN  # never re-sent
    assert forget_dead_workers(a.engine, clock.now) == 1  # a's lease goes, b's stays
    assert count_live_workers(a.engine, clock.now) == 1


def test_a_dead_workers_notice_waiting_in_its_limiter_goes_to_another_never_unknown(
    two: tuple[Worker, Worker], registry: RegistryStore, clock: FakeClock
) -> None:
    a, b = two
    rows = notice_deliveries(a)
    assert len(a.notices.deliveries.reserve_due(clock.now, 10)) == 2
    assert all(claim_notice(a, d) is None for d in rows)  # both wait in a's rate limiter
    assert b.notices.deliveries.reserve_due(clock.now, 10) == []
    assert all(claim_notice(b, d) is not None for d in rows)  # a's, alive
    let_a_die(clock, b)  # a dies before its limiter let either go
    assert b.outbox.interrupted() == 0  # nothing was on the wire: nothing unknown
    assert sorted(d.id for d in b.notices.deliveries.reserve_due(clock.now, 10)) == sorted(
        d.id for d in rows
    )
    assert all(claim_notice(b, d) is None for d in rows)  # b's to send, once
    assert all(b.outbox.mark_sending(delivery_key(d)) for d in rows)
    assert not a.outbox.mark_sending(delivery_key(rows[0]))  # a, come back late, may not


def test_handled_events_older_than_the_keep_are_purged_in_batches(
    engine: Engine, clock: FakeClock
) -> None:
    inbox = InboxStore(engine, clock)
    old = [inbox.put("telegram", f"m:-1:{n}", "-1", "message", False, "{}") for n in range(3)]
    for n, row in enumerate(old):
        assert row is not None
        inbox.finish(row, InboxState.FAILED if n == 2 else InboxState.DONE, 1)
    waiting = inbox.put("telegram", "m:-1:9", "-1", "message", False, "{}")  # never handled
    clock.advance(days=8)
    recent = inbox.put("telegram", "m:-1:10", "-1", "message", False, "{}")
    assert recent is not None
    inbox.finish(recent, InboxState.DONE, 1)
    before = clock.now - dt.timedelta(days=7)
    assert [inbox.purge(before, limit=2), inbox.purge(before, limit=2)] == [2, 1]
    assert inbox.purge(before, limit=2) == 0
    assert inbox_count(engine, InboxState.DONE) == 1
    assert inbox_count(engine, InboxState.PENDING) == 1
    assert waiting is not None
    # a redelivery of a purged event would be stored anew: platforms redeliver within a day
    assert inbox.put("telegram", "m:-1:0", "-1", "message", False, "{}") is not None


class _Limiter(FakeTransport):
    """A worker's adapter whose rate limiter lets nothing go (a 429's long retry_after)."""

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        await asyncio.Event().wait()
        raise AssertionError("never released")


async def test_a_notice_held_in_a_dead_workers_limiter_is_sent_once_by_another(
    two: tuple[Worker, Worker], registry: RegistryStore, clock: FakeClock
) -> None:
    """Both groups' notices wait in a's adapter when a is killed: provably never sent, so no
    ``unknown`` — b, once a is dead, sends each exactly once (PostgreSQL: two engines)."""
    a, b = two
    rows = notice_deliveries(a)
    a_db, b_db = Database(a.engine), Database(b.engine)
    try:
        first = Broadcaster(a.notices, _Limiter(), db=a_db)
        killed = asyncio.create_task(first.process_once())
        keys = [delivery_key(d) for d in rows]
        while [r.state if (r := a.outbox.get(k)) else None for k in keys] != ["queued"] * 2:
            await asyncio.sleep(0.01)  # both in a's limiter
        killed.cancel()  # kill -9
        with contextlib.suppress(asyncio.CancelledError):
            await killed
        let_a_die(clock, b)
        transport = FakeTransport()
        second = Broadcaster(b.notices, transport, db=b_db)
        assert await second.reconcile() == 0  # nothing was on the wire
        assert await second.process_once() == 2
    finally:
        a_db.close()
        b_db.close()
    assert sorted(s.ref.chat_id for s in transport.sent) == sorted(d.chat_id for d in rows)
    for d in b.notices.deliveries.of_notice(rows[0].notice_id):
        row = b.outbox.get(delivery_key(d))
        assert row is not None and (d.status, row.state) == ("sent", "sent")
        assert row.message_id == d.message_id and row.claimed_by == "b"
    assert not a.outbox.mark_sending(keys[0])  # a, were it to come back, may not send
