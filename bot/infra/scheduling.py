"""What the bot's small in-loop job schedulers (weekly summary, retention) share."""

from __future__ import annotations

import asyncio

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]


async def stop_scheduler(scheduler: AsyncIOScheduler | None) -> None:
    """Shut a running scheduler down; AsyncIOScheduler finishes on the next loop turn."""
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
