"""Inbound work of the WeCom edge: once per msgid, one chat's callbacks in arrival order.

WeCom re-delivers callbacks it believes were lost. A msgid is *in flight* while the core works
on it (a re-delivery then is dropped) and *done* once the core returned — only then: a handler
that failed leaves it unmarked, so WeCom's next delivery is handled again.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

V = TypeVar("V")


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


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    #: The chat was told about this flood already.
    told: bool = False


class CallbackLanes:
    """Per-chat ordered, bounded, once-only execution of the core's handlers."""

    def __init__(
        self,
        max_pending: int,
        dedupe_size: int,
        dedupe_ttl: float,
        on_overflow: Callable[[str], Awaitable[None]],
        log: logging.Logger,
    ) -> None:
        self._max_pending = max_pending
        self._ttl = dedupe_ttl
        self._done: Recent[float] = Recent(dedupe_size)  # msgid → when it was handled
        self._in_flight: set[str] = set()
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_overflow = on_overflow
        self._log = log

    def seen(self, msgid: str) -> bool:
        """Handled within ``dedupe_ttl``, or being handled now."""
        if msgid in self._in_flight:
            return True
        handled = self._done.get(msgid)
        return handled is not None and asyncio.get_running_loop().time() - handled < self._ttl

    def queue(self, chat: str, msgid: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` after the chat's earlier callbacks; a chat with ``max_pending`` waiting
        is flooded: the callback is dropped and the chat told once (until its queue drains)."""
        lane = self._lanes.setdefault(chat, _Lane())
        if lane.users >= self._max_pending:
            self._log.warning("wecom chat %s: too many pending callbacks, %s dropped", chat, msgid)
            if not lane.told:
                lane.told = True
                self._spawn(chat, lane, self._on_overflow(chat))
            return
        self._in_flight.add(msgid)
        self._spawn(chat, lane, self._run(chat, lane, msgid, work))

    def _spawn(self, chat: str, lane: _Lane, work: Awaitable[None]) -> None:
        lane.users += 1

        async def released() -> None:
            try:
                await work
            finally:
                lane.users -= 1
                if lane.users == 0 and self._lanes.get(chat) is lane:
                    del self._lanes[chat]

        task = asyncio.create_task(released(), name=f"wecom {chat}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, chat: str, lane: _Lane, msgid: str, work: Callable[[], Awaitable[None]]
    ) -> None:
        """The one place the core's exceptions end: logged by type and place, never with their
        message (it may quote a patient's message)."""
        try:
            async with lane.lock:
                await work()
            self._done.remember(msgid, asyncio.get_running_loop().time())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            where = "".join(traceback.format_tb(exc.__traceback__)[-3:]).rstrip()
            self._log.error(
                "wecom callback %s in chat %s failed: %s (message withheld)\n%s",
                msgid,
                chat,
                type(exc).__name__,
                where,
            )
        finally:
            self._in_flight.discard(msgid)

    async def drain(self, timeout: float) -> None:
        """Let in-flight handlers finish for ``timeout`` seconds, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
