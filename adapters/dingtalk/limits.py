"""Client-side send limits, so DingTalk never has to refuse (and mute) the robot.

Two limits hold at once: an app's OpenAPI calls per second in one tenant (a token bucket) and
a robot's messages per minute in one group (a sliding window). Time comes from a ``Clock`` so
tests and benchmarks can run the limits on virtual time.
"""

from __future__ import annotations

import asyncio
import collections
import time
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


class TokenBucket:
    """At most ``rate`` grants per second on average, bursts of up to ``rate`` (at least 1)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._stamp = clock.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = self._clock.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._clock.sleep((1 - self._tokens) / self._rate)


class SlidingWindow:
    """At most ``limit`` grants in any ``window`` seconds, per key (a group)."""

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sent: dict[str, collections.deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def take(self, key: str) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            sent = self._sent.setdefault(key, collections.deque())
            while True:
                now = self._clock.monotonic()
                while sent and sent[0] <= now - self._window:
                    sent.popleft()
                if len(sent) < self._limit:
                    sent.append(now)
                    return
                await self._clock.sleep(sent[0] + self._window - now)

    def forget_idle(self) -> None:
        """Drop the windows of groups with nothing sent lately (memory stays bounded)."""
        now = self._clock.monotonic()
        for key in [k for k, d in self._sent.items() if not d or d[-1] <= now - self._window]:
            if not self._locks[key].locked():
                del self._sent[key]
                del self._locks[key]
