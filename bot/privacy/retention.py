"""The retention job: once a day (APScheduler, in the bot's loop), erase what is older than
``[privacy] retention_days`` and delete the inbox events handled more than ``[privacy]
inbox_keep_days`` ago. The erasure goes through the database gateway (it is SQL, and a
write), recorded as done by ``system``; a run that finds nothing records nothing."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from bot.inbox.store import InboxStore
from bot.infra.clock import Clock, utc_now
from bot.infra.gateway import Database
from bot.infra.scheduling import stop_scheduler
from bot.privacy.purge import SYSTEM, Eraser, Scope
from bot.privacy.settings import PrivacySettings

log = logging.getLogger(__name__)

#: Seconds from start to the first run (the bot's start is busy enough).
FIRST_RUN_DELAY = 60.0


#: Inbox events deleted per transaction (a long backlog never holds the writer for long).
INBOX_PURGE_BATCH = 1000


class RetentionJob:
    def __init__(
        self,
        eraser: Eraser,
        settings: PrivacySettings,
        db: Database,
        clock: Clock = utc_now,
        inbox: InboxStore | None = None,
    ) -> None:
        self._eraser = eraser
        self._db = db
        self._settings = settings
        self._clock = clock
        self._inbox = inbox
        self._scheduler: AsyncIOScheduler | None = None

    async def run_once(self) -> int:
        """Erase what is past the retention period and purge old inbox events; returns how
        many rows were erased (the purged events are logged)."""
        await self.purge_inbox()
        return await self.erase()

    async def purge_inbox(self) -> int:
        """Delete inbox events handled over ``inbox_keep_days`` ago, in batches; returns how
        many."""
        inbox, days = self._inbox, self._settings.inbox_keep_days
        if inbox is None or not days:
            return 0
        before = self._clock() - dt.timedelta(days=days)
        purged = 0
        try:
            while True:
                batch = await self._db.write(partial(inbox.purge, before, INBOX_PURGE_BATCH))
                purged += batch
                if batch < INBOX_PURGE_BATCH:
                    break
        except Exception:  # the next run goes on where this one stopped
            log.exception("inbox purge failed after %d event(s)", purged)
        if purged:
            log.info("retention: deleted %d inbox event(s) handled before %s", purged, before)
        return purged

    async def erase(self) -> int:
        """Erase personal data past ``retention_days``; returns how many rows."""
        if not self._settings.retention_days:
            return 0
        scope = Scope.older_than(self._settings.retention_days, self._clock())
        try:
            if not await self._db.read(lambda: self._eraser.select(scope)):
                return 0
            done = await self._db.write(lambda: self._eraser.erase(scope, SYSTEM))
        except Exception:  # the next run tries again; the bot keeps serving
            log.exception("retention purge failed")
            return 0
        count = done.tickets + done.exchanges + done.receipts
        log.info("retention: erased personal data of %d row(s)", count)
        return count

    def start(self) -> None:
        if not self._settings.retention_days and not (
            self._inbox and self._settings.inbox_keep_days
        ):
            return
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self._scheduler.add_job(
            self.run_once,
            "interval",
            hours=self._settings.retention_interval_hours,
            next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=FIRST_RUN_DELAY),
            id="privacy-retention",
            coalesce=True,
            max_instances=1,
        )
        self._scheduler.start()

    async def stop(self) -> None:
        await stop_scheduler(self._scheduler)
        self._scheduler = None
