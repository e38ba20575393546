"""Login limits shared by every worker (SQLite and PostgreSQL): failures counted on one worker
block, delay and forgive on another; counts racing from several workers never collide."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.infra.gateway import Database
from bot.web.counts import Kind, WindowCounts
from bot.web.login_limits import LoginLimiter, subjects
from bot.web.models import LoginCount
from tests.tickets.conftest import FakeClock

WINDOW = 15 * 60.0


@pytest.fixture
def workers(make_db: Callable[..., Engine], clock: FakeClock) -> Iterator[list[LoginLimiter]]:
    """Two workers: each its own engine and gateway on the one database."""
    gateways = [Database(make_db()), Database(make_db(create=False))]
    yield [LoginLimiter(db, 3, WINDOW, max_delay=10.0, clock=clock) for db in gateways]
    for db in gateways:
        db.close()


def test_failures_counted_at_once_by_several_workers_are_all_counted(
    make_db: Callable[..., Engine], clock: FakeClock
) -> None:
    stores = [WindowCounts(make_db(), clock)] + [
        WindowCounts(make_db(create=False), clock) for _ in range(3)
    ]
    start = threading.Barrier(len(stores))
    subject = (Kind.USER, "e01")
    window = dt.timedelta(seconds=WINDOW)

    def fail_ten(store: WindowCounts) -> list[int]:
        start.wait()
        return [store.add([subject], window)[subject] for _ in range(10)]

    with ThreadPoolExecutor(len(stores)) as pool:
        seen = [n for counts in pool.map(fail_ten, stores) for n in counts]
    # every increment got its own number: none lost, no milestone reported twice
    assert sorted(seen) == list(range(1, 41))
    assert stores[2].counts([subject]) == {subject: 40}


async def test_a_pair_blocked_on_one_worker_is_blocked_on_the_other(
    workers: list[LoginLimiter], clock: FakeClock
) -> None:
    a, b = workers
    await a.failed("E01", "203.0.113.9")
    await b.failed("e01", "203.0.113.9")
    assert not (await a.check("e01", "203.0.113.9")).blocked
    await a.failed("e01", "203.0.113.9")
    assert (await b.check("e01", "203.0.113.9")).blocked
    assert not (await b.check("e01", "198.51.100.1")).blocked  # the engineer's own address
    # refusals are numbered across workers: the audit's milestones are not repeated
    assert [await w.refused("e01", "203.0.113.9") for w in (a, b, a)] == [1, 2, 3]
    # the window ends (15 minutes after the pair's first failure): the count starts over
    clock.advance(seconds=WINDOW)
    assert not (await b.check("e01", "203.0.113.9")).blocked
    await b.failed("e01", "203.0.113.9")
    assert not (await a.check("e01", "203.0.113.9")).blocked
    assert await a.refused("e01", "203.0.113.9") == 1


async def test_a_success_on_one_worker_forgives_the_pair_on_the_other(
    workers: list[LoginLimiter],
) -> None:
    a, b = workers
    for _ in range(3):
        await a.failed("e01", "203.0.113.9")
    await a.refused("e01", "203.0.113.9")
    await b.succeeded("e01", "203.0.113.9")
    assert (await a.check("e01", "203.0.113.9")) == (await a.check("e01", "192.0.2.1"))
    assert not (await a.check("e01", "203.0.113.9")).blocked
    assert await a.refused("e01", "203.0.113.9") == 1
    # the name's failures from everywhere are not forgiven: its delay stays
    assert (await b.check("e01", "192.0.2.1")).delay == 0.5


async def test_a_spread_attack_is_slowed_on_every_worker(workers: list[LoginLimiter]) -> None:
    """One guess per address, alternating workers: no pair is ever blocked, but the user
    name's failures add up across both, and so does its delay."""
    delays = []
    for n in range(9):
        worker = workers[n % 2]
        check = await worker.check("e01", f"203.0.113.{n}")
        assert not check.blocked
        delays.append(check.delay)
        await worker.failed("e01", f"203.0.113.{n}")
    assert delays == [0.0, 0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    # an address guessing many names is slowed the same way
    for n in range(4):
        await workers[n % 2].failed(f"user{n}", "198.51.100.7")
    assert (await workers[0].check("someone", "198.51.100.7")).delay == 1.0


async def test_rows_past_their_window_are_deleted(
    workers: list[LoginLimiter], make_db: Callable[..., Engine], clock: FakeClock
) -> None:
    a, b = workers
    engine = make_db(create=False)
    await a.failed("e01", "203.0.113.9")  # the first failure purges (nothing to delete yet)
    clock.advance(seconds=WINDOW + 1)
    await b.failed("e02", "198.51.100.1")  # b's first purge: a's three rows are gone

    def rows() -> set[tuple[str, str]]:
        with Session(engine) as session:
            return {(r.kind, r.subject) for r in session.exec(select(LoginCount)).all()}

    db = Database(engine)
    left = await db.read(rows)
    db.close()
    keys = subjects("e02", "198.51.100.1")
    assert left == {(kind.value, keys[kind]) for kind in (Kind.PAIR, Kind.USER, Kind.ADDRESS)}
