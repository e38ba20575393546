"""Wakes the console's live streams when something they show has changed.

Listeners re-read the database when woken (or after their own timeout), so a missed pulse only
delays an update; nothing is carried in the pulse itself.
"""

from __future__ import annotations

import asyncio


class Pulse:
    def __init__(self) -> None:
        self._generation = 0
        self._changed: asyncio.Event | None = None
        self.closed = False

    @property
    def generation(self) -> int:
        return self._generation

    def beat(self) -> None:
        self._generation += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def close(self) -> None:
        """The console is stopping: every listener returns now and ends its stream."""
        self.closed = True
        self.beat()

    async def wait(self, seen: int, timeout: float) -> int:
        """Return the generation once it is past ``seen``, or after ``timeout`` seconds."""
        if self._generation == seen:
            if self._changed is None:
                self._changed = asyncio.Event()
            event = self._changed
            try:
                async with asyncio.timeout(timeout):
                    await event.wait()
            except TimeoutError:
                pass
        return self._generation
