"""Each message passed to the core once, and a conversation's messages in order.

DingTalk re-delivers a frame it did not see acknowledged (same ``msgId``, new frame id), and a
tenant's frames are handled concurrently; these two small structures keep both promises of
the adapter: once per message, in order per conversation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from .limits import Clock


class Seen:
    """Message ids passed to the core recently (bounded, expiring): DingTalk re-delivers a
    frame it did not see acknowledged, and a second copy must not be answered again."""

    def __init__(self, ttl: float, size: int, clock: Clock) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._done: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._running: dict[str, asyncio.Future[None]] = {}

    def done(self, key: str) -> bool:
        stamp = self._done.get(key)
        return stamp is not None and self._clock.monotonic() - stamp < self._ttl

    def running(self, key: str) -> asyncio.Future[None] | None:
        return self._running.get(key)

    def begin(self, key: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        return future

    def end(self, key: str, ok: bool) -> None:
        future = self._running.pop(key)
        if ok:
            self._done[key] = self._clock.monotonic()
            self._done.move_to_end(key)
            while len(self._done) > self._size:
                self._done.popitem(last=False)
            future.set_result(None)
        else:
            future.set_exception(RuntimeError("the first delivery failed"))
            future.exception()  # retrieved: a failure nobody awaits is not an error


class Lanes:
    """One lock per conversation, kept while anyone holds or waits for it (its messages are
    handled in order; a new lock for a lane still in use would let two run at once)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, lane: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(lane, (asyncio.Lock(), 0))
        self._locks[lane] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[lane]
            if users == 1:
                del self._locks[lane]
            else:
                self._locks[lane] = (lock, users - 1)
