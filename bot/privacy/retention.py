"""The retention job: once a day (APScheduler, in the bot's loop), erase what is older than
``[privacy] retention_days``, delete the inbox events handled more than ``[privacy]
inbox_keep_days`` ago, and the finished sends and SLA steps nothing will read again older than
``[privacy] sends_keep_days`` (sends of unknown outcome: ``unknown_sends_keep_days``); every
hour, delete the playground's web chat entries older than ``[web] chat_keep_hours``. All of it
goes through the database gateway (it is SQL, and a write), in batches; the erasure is
recorded as done by ``system``; a run that finds nothing records nothing."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from bot.inbox.store import InboxStore
from bot.infra.clock import Clock, utc_now
from bot.infra.gateway import Database
from bot.infra.scheduling import add_interval_job, stop_scheduler
from bot.privacy.purge import SYSTEM, Eraser, Scope
from bot.privacy.sends import FinishedSends
from bot.privacy.settings import PrivacySettings
from bot.sla.steps import SlaSteps
from bot.webchat.store import WebChatStore

log = logging.getLogger(__name__)

#: Seconds from start to the first run (the bot's start is busy enough).
FIRST_RUN_DELAY = 60.0


#: Rows deleted per transaction, whichever the table (a long backlog never holds the writer
#: for long).
INBOX_PURGE_BATCH = 1000
#: Minutes between two purges of old web chat entries.
WEB_CHAT_PURGE_MINUTES = 60.0


class RetentionJob:
    def __init__(
        self,
        eraser: Eraser,
        settings: PrivacySettings,
        db: Database,
        clock: Clock = utc_now,
        inbox: InboxStore | None = None,
        web_chat: WebChatStore | None = None,
        web_chat_keep_hours: float = 168.0,
        sends: FinishedSends | None = None,
        steps: SlaSteps | None = None,
    ) -> None:
        """``web_chat``: the playground's board, whose entries go after
        ``web_chat_keep_hours`` (None: the playground is off); ``sends``, ``steps``: the
        outbox's and the SLA steps' finished rows (None: kept)."""
        self._eraser = eraser
        self._sends = sends
        self._steps = steps
        self._web_chat = web_chat
        self._web_chat_keep = dt.timedelta(hours=web_chat_keep_hours)
        self._db = db
        self._settings = settings
        self._clock = clock
        self._inbox = inbox
        self._scheduler: AsyncIOScheduler | None = None

    async def run_once(self) -> int:
        """Erase what is past the retention period and purge old inbox events, sends and SLA
        steps; returns how many rows were erased (the purged rows are logged)."""
        await self.purge_inbox()
        await self.purge_sends()
        await self.purge_web_chat()
        return await self.erase()

    async def purge_inbox(self) -> int:
        """Delete inbox events handled over ``inbox_keep_days`` ago, in batches; returns how
        many."""
        inbox, days = self._inbox, self._settings.inbox_keep_days
        if inbox is None or not days:
            return 0
        before = self._clock() - dt.timedelta(days=days)
        return await self._purge(inbox.purge, before, "inbox event(s) handled")

    async def purge_sends(self) -> int:
        """Delete the sends and SLA steps whose cause is finished (nothing reads them again),
        made over ``sends_keep_days`` ago (unknown sends: ``unknown_sends_keep_days``), in
        batches; returns how many."""
        s, now, purged = self._settings, self._clock(), 0
        finished = now - dt.timedelta(days=s.sends_keep_days)
        if self._sends is not None and s.sends_keep_days:
            purged += await self._purge(self._sends.purge, finished, "finished sends made")
        if self._sends is not None and s.unknown_sends_keep_days:
            unknown = now - dt.timedelta(days=s.unknown_sends_keep_days)
            purged += await self._purge(self._sends.purge_unknown, unknown, "unknown sends made")
        if self._steps is not None and s.sends_keep_days:
            purged += await self._purge(self._steps.purge, finished, "SLA steps finished")
        return purged

    async def purge_web_chat(self) -> int:
        """Delete web chat entries sent over ``web_chat_keep_hours`` ago; returns how many."""
        if self._web_chat is None:
            return 0
        before = self._clock() - self._web_chat_keep
        return await self._purge(self._web_chat.purge, before, "web chat entries sent")

    async def _purge(
        self, purge: Callable[[dt.datetime, int], int], before: dt.datetime, what: str
    ) -> int:
        """``purge(before, batch)`` until a batch comes back short."""
        purged = 0
        try:
            while True:
                batch = await self._db.write(partial(purge, before, INBOX_PURGE_BATCH))
                purged += batch
                if batch < INBOX_PURGE_BATCH:
                    break
        except Exception:  # the next run goes on where this one stopped
            log.exception("purge of %s before %s failed after %d", what, before, purged)
        if purged:
            log.info("retention: deleted %d %s before %s", purged, what, before)
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
        first = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=FIRST_RUN_DELAY)
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)
        if self._daily():
            every = dt.timedelta(hours=self._settings.retention_interval_hours)
            add_interval_job(
                self._scheduler, self.run_once, every=every, first=first, job_id="privacy-retention"
            )
        if self._web_chat is not None:
            every = dt.timedelta(minutes=WEB_CHAT_PURGE_MINUTES)
            add_interval_job(
                self._scheduler,
                self.purge_web_chat,
                every=every,
                first=first,
                job_id="web-chat-purge",
            )
        self._scheduler.start()

    def _daily(self) -> bool:
        """The daily run has something to do."""
        s = self._settings
        sends = self._sends is not None and (s.sends_keep_days or s.unknown_sends_keep_days)
        steps = self._steps is not None and s.sends_keep_days
        return bool(s.retention_days or (self._inbox and s.inbox_keep_days) or sends or steps)

    async def stop(self) -> None:
        await stop_scheduler(self._scheduler)
        self._scheduler = None
