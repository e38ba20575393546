"""Waking the long polls of one worker when their chat changes, on whichever worker it did.

An append made by this worker wakes its chat's polls at once (``saw``). An append made by
another worker is found by one watch task that runs only while polls wait: every
``interval`` it asks the board for the newest ``seq`` of every chat waited on — one query
for all of this worker's waiting polls, not one per poll — and wakes the chats that moved.
It works the same on SQLite and PostgreSQL (no ``LISTEN``/``NOTIFY``).

Waiters sleep on their chat's current event, which is set and replaced on every wake:
nothing is registered per waiter but a count, so a cancelled wait leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator

from adapters.chat_board import BoardUnavailable

log = logging.getLogger("hisbot.adapters.web")

Newest = Callable[[Collection[str]], Awaitable[dict[str, int]]]


class Wakeups:
    """``newest`` is the board's look-up of the chats' highest ``seq``; ``interval`` the
    seconds between two looks while polls wait."""

    def __init__(self, newest: Newest, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the watch interval must be positive")
        self._newest = newest
        self.interval = interval
        self._events: dict[str, asyncio.Event] = {}
        self._waiting: Counter[str] = Counter()
        #: The highest ``seq`` this worker knows of per chat waited on.
        self._known: dict[str, int] = {}
        self._watch: asyncio.Task[None] | None = None
        self._failing = False

    def saw(self, chat_id: str, seq: int) -> None:
        """The chat holds ``seq`` now: wake its polls if that is news."""
        if seq <= self._known.get(chat_id, 0):
            return
        self._known[chat_id] = seq
        event = self._events.pop(chat_id, None)
        if event is not None:
            event.set()  # later waiters sleep on a fresh event

    @property
    def watching(self) -> bool:
        """Whether the watch task runs (it does only while polls wait)."""
        return self._watch is not None and not self._watch.done()

    def wake_all(self) -> None:
        for event in self._events.values():
            event.set()
        self._events.clear()

    @contextlib.contextmanager
    def waiting(self, chat_id: str, seen: int) -> Iterator[asyncio.Event]:
        """The event a poll that has seen the chat up to ``seen`` sleeps on; already set when
        this worker knows of something newer."""
        self._waiting[chat_id] += 1
        try:
            woken = self._events.setdefault(chat_id, asyncio.Event())
            if self._known.get(chat_id, 0) > seen:
                # news since the poll read: look again at once. Only once: what was known may
                # be gone (an erasure deleted the chat's newest entries), and the watch tells
                # anything newer than ``seen`` again
                woken = asyncio.Event()
                woken.set()
            self._known[chat_id] = seen
            if self._watch is None or self._watch.done():
                self._watch = asyncio.create_task(self._run(), name="web-chat-watch")
            yield woken
        finally:
            self._waiting[chat_id] -= 1
            if not self._waiting[chat_id]:
                del self._waiting[chat_id]
                self._known.pop(chat_id, None)  # re-learnt from the next poll's cursor

    async def _run(self) -> None:
        """Look for other workers' appends while anyone waits; ends with the last waiter."""
        loop = asyncio.get_running_loop()
        while self._waiting:
            # on a fixed grid of the loop's clock, not from when the first poll came: a
            # message appended elsewhere waits half an interval on average, however the
            # polls come and go
            await asyncio.sleep(self.interval - loop.time() % self.interval)
            chats = list(self._waiting)
            if not chats:
                return
            try:
                newest = await self._newest(chats)
            except BoardUnavailable as exc:
                if not self._failing:  # once per outage, not every interval
                    log.warning("web chat: cannot look for other workers' messages: %s", exc)
                self._failing = True
                continue
            self._failing = False
            for chat_id, seq in newest.items():
                self.saw(chat_id, seq)

    async def stop(self) -> None:
        """Release every waiting poll and end the watch."""
        self.wake_all()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
