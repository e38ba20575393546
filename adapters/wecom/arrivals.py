"""Inbound callbacks of the WeCom edge on their way to the core's inbox, in arrival order.

The inbox orders each chat's events and drops a re-delivered ``msgid``; what is left here is
transport. WeCom's long connection has no acknowledgement a bot could withhold (unlike
DingTalk's frames or Telegram's offsets), so a callback the inbox could not store (database
down) is not given back to WeCom: it waits here, in order, and is stored again with backoff
until the inbox takes it (the chat is told once that its answer is delayed). Memory stays
bounded: past ``limit`` waiting callbacks of one tenant the newest are dropped, logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from adapters.base import InboxUnavailable

V = TypeVar("V")

#: Waits between two attempts to store a callback while the inbox is unavailable.
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


class Recent(OrderedDict[str, V]):
    """A bounded mapping that forgets its oldest entries."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def remember(self, key: str, value: V) -> None:
        self.pop(key, None)
        self[key] = value
        while len(self) > self._size:
            self.popitem(last=False)


Store = Callable[[], Awaitable[None]]


class Arrivals:
    """One tenant's callbacks, stored one at a time in the order they came."""

    def __init__(
        self,
        tenant: str,
        log: logging.Logger,
        limit: int = 10_000,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.tenant = tenant
        self._log = log
        self._queue: asyncio.Queue[tuple[str, Store]] = asyncio.Queue(limit)
        self._delays = tuple(retry_delays)
        self._task: asyncio.Task[None] | None = None

    def put(self, msgid: str, store: Store) -> None:
        """Queue ``store`` (the call handing one callback to the core) behind the others."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"wecom-arrivals-{self.tenant}")
        try:
            self._queue.put_nowait((msgid, store))
        except asyncio.QueueFull:
            self._log.error(
                "wecom tenant %s: %d callbacks wait for the inbox; %s dropped",
                self.tenant,
                self._queue.maxsize,
                msgid,
            )

    async def _run(self) -> None:
        while True:
            msgid, store = await self._queue.get()
            try:
                await self._store(msgid, store)
            finally:
                self._queue.task_done()

    async def _store(self, msgid: str, store: Store) -> None:
        """The one place the core's exceptions end: logged by type and place, never with
        their message (it may quote a patient's message)."""
        attempt = 0
        while True:
            try:
                await store()
                return
            except InboxUnavailable:
                delay = self._delays[min(attempt, len(self._delays) - 1)]
                attempt += 1
                self._log.warning(
                    "wecom tenant %s: callback %s not stored yet; again in %.1f s",
                    self.tenant,
                    msgid,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception as exc:
                where = "".join(traceback.format_tb(exc.__traceback__)[-3:]).rstrip()
                self._log.error(
                    "wecom callback %s of tenant %s failed: %s (message withheld)\n%s",
                    msgid,
                    self.tenant,
                    type(exc).__name__,
                    where,
                )
                return

    async def drain(self, timeout: float) -> None:
        """Store what waits for up to ``timeout`` seconds, then stop; what is still waiting
        is lost (logged with its count)."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        lost = self._queue.qsize()
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        if lost:
            self._log.error(
                "wecom tenant %s: stopped with %d callback(s) not stored", self.tenant, lost
            )
