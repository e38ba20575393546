"""Client-side send limits, so DingTalk never has to refuse (and mute) the robot.

Two limits hold at once, both as sliding windows (the way the platform counts, so a burst
never crosses a limit at a window's edge): an app's OpenAPI calls per second in one tenant and
a robot's messages per minute in one group. Time comes from a ``Clock`` so
tests and benchmarks can run the limits on virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float:
        """Seconds since the epoch (sessionWebhook expiry is given in epoch milliseconds)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


#: Windows kept before idle ones are dropped (a broadcast touches thousands of groups).
_FORGET_ABOVE = 4096


class _Slot:
    __slots__ = ("stamp",)

    def __init__(self) -> None:
        self.stamp = math.inf  # in flight: counts until it is answered


class SlidingWindow:
    """At most ``limit`` calls in any ``window`` seconds, per key (a group, a tenant).

    A call holds its slot from the grant until its answer, and is then dated by the answer:
    the platform counts a call when it arrives, somewhere between the two, so dating it by the
    later one keeps every window the platform sees within the limit, however long the call
    was on the way.
    """

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._slots: dict[str, list[_Slot]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: set when a call of the key is answered (a waiter whose slots are all in flight)
        self._answered: dict[str, asyncio.Event] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        slot = await self._take(key)
        try:
            yield
        finally:
            slot.stamp = self._clock.monotonic()
            answered = self._answered.pop(key, None)
            if answered is not None:
                answered.set()
            if len(self._slots) > _FORGET_ABOVE:
                self.forget_idle()

    async def _take(self, key: str) -> _Slot:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # FIFO: waiters are served in arrival order
            while True:
                now = self._clock.monotonic()
                slots = [s for s in self._slots.get(key, ()) if s.stamp > now - self._window]
                self._slots[key] = slots
                if len(slots) < self._limit:
                    slot = _Slot()
                    slots.append(slot)
                    return slot
                oldest = min(s.stamp for s in slots)
                if math.isinf(oldest):  # all in flight: wait for one to be answered
                    await self._answered.setdefault(key, asyncio.Event()).wait()
                else:
                    # at least 1 ms: a wait that rounds to nothing would spin on a coarse clock
                    await self._clock.sleep(max(0.001, oldest + self._window - now))

    def forget_idle(self) -> None:
        """Drop the windows of keys with nothing sent lately (memory stays bounded)."""
        now = self._clock.monotonic()
        for key, slots in list(self._slots.items()):
            if all(s.stamp <= now - self._window for s in slots) and not self._locks[key].locked():
                del self._slots[key]
                del self._locks[key]
