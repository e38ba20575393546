"""Leases on SQLite and PostgreSQL: one holder at a time, taken over once expired (by the
clock given: the tests move it), released on a clean stop; the keeper runs a role exactly while
its worker holds the lease."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from bot.cluster.leases import LeaseKeeper, LeaseStore, Role
from bot.infra.gateway import Database
from tests.lookups import leases
from tests.tickets.conftest import FakeClock

TTL = dt.timedelta(seconds=8)


def test_one_holder_until_it_expires(engine: Engine, clock: FakeClock) -> None:
    store = LeaseStore(engine, clock)
    assert store.claim("leader", "a", TTL)
    assert not store.claim("leader", "b", TTL)
    assert store.claim("other", "b", TTL)  # another name is another lease
    taken_at = clock.now
    clock.advance(seconds=7)
    assert store.claim("leader", "a", TTL)  # renewed: now valid until 7 + 8
    clock.advance(seconds=7.9)
    assert not store.claim("leader", "b", TTL)
    clock.advance(seconds=0.1)  # expired
    assert store.claim("leader", "b", TTL)
    assert not store.claim("leader", "a", TTL)  # the old holder does not get it back
    held = leases(engine)
    assert held["leader"].owner == "b"
    assert held["leader"].acquired_at == clock.now  # a takeover starts a new tenure
    assert held["other"].acquired_at == taken_at


def test_release_lets_the_next_take_it_at_once(engine: Engine, clock: FakeClock) -> None:
    store = LeaseStore(engine, clock)
    assert store.claim("leader", "a", TTL)
    store.release("leader", "b")  # not b's: nothing happens
    assert not store.claim("leader", "b", TTL)
    store.release("leader", "a")
    assert store.claim("leader", "b", TTL)


class Worker:
    """A worker's keeper with one role that records when it runs."""

    def __init__(self, name: str, engine: Engine, clock: FakeClock, running: set[str]) -> None:
        self.name = name
        self.store = LeaseStore(engine, clock)
        self.db = Database(engine)
        self.keeper = LeaseKeeper(self.store, self.db, clock, owner=name, ttl=8, renew=2)
        self.running = running
        self.fail_start = False
        self.keeper.add(Role("leader", self.start, self.stop))

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("platform unreachable")
        assert not self.running, f"{self.name} starts while {self.running} runs"
        self.running.add(self.name)

    async def stop(self) -> None:
        self.running.discard(self.name)


@pytest.fixture
def running() -> set[str]:
    return set()


async def test_a_dead_holder_is_replaced_after_the_lease(
    engine: Engine, clock: FakeClock, running: set[str]
) -> None:
    a, b = Worker("a", engine, clock, running), Worker("b", engine, clock, running)
    await a.keeper.tick()
    await b.keeper.tick()
    assert running == {"a"} and a.keeper.held() == ["leader"] and b.keeper.held() == []
    for _ in range(5):  # a renews every 2 s; b keeps trying in vain
        clock.advance(seconds=2)
        await a.keeper.tick()
        await b.keeper.tick()
        assert running == {"a"}
    # a is killed (its role dies with it; no more rounds, no release): b takes over once
    # the lease has run out
    running.discard("a")
    clock.advance(seconds=7.5)
    await b.keeper.tick()
    assert running == set()
    clock.advance(seconds=0.5)
    await b.keeper.tick()
    assert running == {"b"}
    # had a only been frozen (a long pause), its next round finds the lease gone and stops
    await a.keeper.tick()
    assert a.keeper.held() == [] and b.keeper.held() == ["leader"] and running == {"b"}
    for worker in (a, b):
        await worker.keeper.stop()
        worker.db.close()


async def test_a_clean_stop_hands_over_at_the_next_round(
    engine: Engine, clock: FakeClock, running: set[str]
) -> None:
    a, b = Worker("a", engine, clock, running), Worker("b", engine, clock, running)
    await a.keeper.tick()
    await a.keeper.stop()
    assert running == set()
    await b.keeper.tick()  # no waiting for the lease to expire
    assert running == {"b"}
    await b.keeper.stop()
    for worker in (a, b):
        worker.db.close()


class Unreachable(LeaseStore):
    """The database is down: every renewal fails."""

    def claim(self, name: str, owner: str, ttl: dt.timedelta) -> bool:
        raise ConnectionError("database unreachable")


async def test_without_the_database_the_role_stops_before_others_may_take_it(
    engine: Engine, clock: FakeClock, running: set[str]
) -> None:
    a = Worker("a", engine, clock, running)
    await a.keeper.tick()
    assert running == {"a"}
    a.keeper._store = Unreachable(engine, clock)
    clock.advance(seconds=2)
    await a.keeper.tick()
    clock.advance(seconds=3.9)
    await a.keeper.tick()
    assert running == {"a"}  # still within its lease, less the margin
    clock.advance(seconds=0.1)  # 6 s = lease 8 s − one renewal interval: others may come at 8
    await a.keeper.tick()
    assert running == set()
    a.db.close()


async def test_a_role_that_fails_to_start_releases_its_lease(
    engine: Engine, clock: FakeClock, running: set[str]
) -> None:
    a, b = Worker("a", engine, clock, running), Worker("b", engine, clock, running)
    a.fail_start = True
    await a.keeper.tick()
    assert a.keeper.held() == []
    await b.keeper.tick()
    assert running == {"b"}
    await b.keeper.stop()
    for worker in (a, b):
        worker.db.close()


def test_renewal_must_come_before_expiry(engine: Engine, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="renewed more often"):
        LeaseKeeper(LeaseStore(engine, clock), Database(engine), clock, ttl=2, renew=2)
