"""Every worker, every few seconds: finish what dead workers left (``bot.cluster.claims``).

The steps are the tables' own: the inbox takes over a dead worker's unhandled events, the
outboxes mark its sends in flight ``unknown``. A worker runs them only after it has reached
the database without a failure for a whole lease period: after an outage every worker's
lease has expired, and the others must first have had the time to renew theirs — otherwise a
worker coming back would take over events a live worker is still handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.cluster.leases import LEASE_SECONDS

log = logging.getLogger(__name__)

#: Seconds between two rounds: with the 6 s leases a killed worker's events are handled
#: again within about 6 + 2 s.
TAKEOVER_SECONDS = 2.0


class TakeoverWatch:
    def __init__(
        self,
        steps: Sequence[Callable[[], Awaitable[object]]],
        every: float = TAKEOVER_SECONDS,
        settle: float = LEASE_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``clock``: monotonic seconds (the loop's time by default)."""
        self._steps = tuple(steps)
        self._every = every
        self._settle = settle
        self._clock = clock
        self._failed_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def round(self) -> bool:
        """One round; False when it was skipped (a database failure less than a lease period
        ago) or failed."""
        if self._failed_at is not None and self._now() - self._failed_at < self._settle:
            return False
        try:
            for step in self._steps:
                await step()
        except Exception as exc:  # the database is away: wait until it has been back a while
            self._failed_at = self._now()
            log.warning("takeover round failed (%s); next after a lease period", exc)
            return False
        self._failed_at = None
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="takeover-watch")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.round()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
