"""What the bot's small in-loop job schedulers (weekly summary, retention) share."""

from __future__ import annotations

import asyncio
import contextlib

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]


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
