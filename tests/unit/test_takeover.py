"""The takeover round (``bot.cluster.takeover``): after a database failure a worker waits a
whole lease period before taking anything over, so that live workers renew their leases first
(their claims expired during the outage); the clock is moved, nothing waits."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from bot.cluster.takeover import TakeoverWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_no_takeover_until_the_database_has_been_back_a_lease_period() -> None:
    clock, calls, down = Clock(), [], [True]

    async def step() -> None:
        calls.append(clock.now)
        if down[0]:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    watch = TakeoverWatch([step, step], every=2.0, settle=6.0, clock=clock)
    assert not await watch.round()  # the database is away
    assert calls == [100.0]  # the round stopped at the first failing step
    down[0] = False
    clock.now = 105.9
    assert not await watch.round()  # back, but others may not have renewed their leases yet
    assert calls == [100.0]
    clock.now = 106.0
    assert await watch.round()
    assert calls == [100.0, 106.0, 106.0]
    clock.now = 108.0
    assert await watch.round()  # and every round after
    assert len(calls) == 5
