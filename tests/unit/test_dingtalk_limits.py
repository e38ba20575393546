"""The DingTalk send limits on virtual time: a call counts from its grant to its answer and is
dated by the answer, so no window the platform sees holds more than the limit."""

from __future__ import annotations

import asyncio

from adapters.dingtalk.limits import SlidingWindow


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


async def test_a_call_in_flight_holds_its_slot_and_is_dated_by_its_answer() -> None:
    clock = VirtualClock()
    window = SlidingWindow(2, 1.0, clock)
    granted: list[float] = []
    answered = asyncio.Event()

    async def call(in_flight: bool) -> None:
        async with window.hold("g"):
            granted.append(clock.now)
            if in_flight:
                await answered.wait()

    a = asyncio.create_task(call(True))
    b = asyncio.create_task(call(True))
    c = asyncio.create_task(call(False))  # both slots in flight: waits, whatever the time
    await asyncio.sleep(0.01)
    assert granted == [0.0, 0.0] and not c.done()
    clock.now = 0.5  # a and b are answered at 0.5 (granted at 0.0)
    answered.set()
    await asyncio.gather(a, b, c)
    # dated by their answers, a and b fill the window until 1.5 (by their grants: until 1.0)
    assert granted[2] >= 1.5


async def test_windows_are_per_key() -> None:
    clock = VirtualClock()
    window = SlidingWindow(1, 60.0, clock)
    async with window.hold("g1"):
        pass
    async with window.hold("g2"):  # another group: no wait
        pass
    assert clock.now == 0.0
    async with window.hold("g1"):  # the same group's second message waits the minute
        pass
    assert clock.now >= 60.0
