"""What the bot's small in-loop job schedulers (weekly summary, retention, grant expiry) share."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]


def add_interval_job(
    scheduler: AsyncIOScheduler,
    job: Callable[[], Awaitable[object]],
    *,
    every: dt.timedelta,
    first: dt.datetime,
    job_id: str,
) -> None:
    """Run ``job`` every ``every`` from ``first``: missed runs are one run (``coalesce``) and a
    run never overlaps the previous one, which a slow database would otherwise pile up."""
    scheduler.add_job(
        job,
        "interval",
        seconds=every.total_seconds(),
        next_run_time=first,
        id=job_id,
        coalesce=True,
        max_instances=1,
    )


async def stop_scheduler(scheduler: AsyncIOScheduler | None) -> None:
    """Shut a running scheduler down; AsyncIOScheduler finishes on the next loop turn."""
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


async def drain(task: asyncio.Task[None] | None, seconds: float) -> None:
    """Let a worker loop told to stop finish what it is sending (up to ``seconds``), then
    cancel it: a stop never leaves a message sent but not recorded unless it hangs."""
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
