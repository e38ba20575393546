"""The weekly post to the engineers' desk: 「本周新出现的常见问题」 of the last seven days.

APScheduler fires it in the bot's loop (``[kbloop] weekly_summary``, local time); the
analysis (SQL, embedding every question of the week) runs in a worker thread. Each desk's
post is keyed in the outbox by the ISO week and the chat (``weekly:2026-W10:telegram:-100…``):
a leader that takes over, or a restart within the misfire grace, posts a week's summary to a
desk at most once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from adapters.base import ChatRef, Reply
from bot.inbox.scope import SendDeferred
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.infra.scheduling import stop_scheduler
from bot.kb.loop.problems import analyse, load_items
from bot.kb.loop.settings import KbLoopSettings
from bot.kb.loop.summary import summary
from bot.registry.store import RegistryStore
from intents.decide import AnswerEngine
from kb_index.articles import Article

log = logging.getLogger(__name__)


class WeeklySummary:
    def __init__(
        self,
        *,
        db: Database,
        engine: AnswerEngine,
        registry: RegistryStore,
        article: Callable[[str], Article | None],
        messenger: Messenger,
        desk_chats: Sequence[ChatRef],
        clock: Clock,
        settings: KbLoopSettings,
        zone: ZoneInfo,
    ) -> None:
        """``engine`` embeds the week's questions to group them; ``zone`` is where the
        schedule and the week's number are read (``[reports] timezone``)."""
        self._db = db
        self._engine = engine
        self._registry = registry
        self._article = article
        self._messenger = messenger
        self._desk_chats = tuple(desk_chats)
        self._clock = clock
        self._settings = settings
        self._zone = zone
        self._scheduler: AsyncIOScheduler | None = None

    def text(self) -> str:
        """The summary of the seven days before now (blocking: SQL and embeddings)."""
        since = self._clock() - dt.timedelta(days=7)
        problems = analyse(load_items(self._db.engine, since), self._engine, self._settings)

        def hospital_name(hospital_id: str) -> str:
            h = self._registry.get_hospital(hospital_id)
            return h.name if h else hospital_id

        return summary(problems, self._article, hospital_name)

    def week(self) -> str:
        """This week (local time, ISO numbering): the posts' key."""
        year, week, _ = self._clock().astimezone(self._zone).isocalendar()
        return f"{year}-W{week:02d}"

    async def post(self) -> int:
        """Post the summary to every desk that has not had this week's; returns how many
        desks have it (posted now or before)."""
        try:
            text = await self._db.read(self.text)
        except Exception:  # next week tries again; the bot keeps serving
            log.exception("weekly problem summary failed")
            return 0
        sent, week = 0, self.week()
        for desk in self._desk_chats:
            key = f"weekly:{week}:{desk.platform}:{desk.chat_id}"
            try:
                message = await self._messenger.send(Reply(chat=desk, text=text), key=key)
            except SendDeferred:  # not delivered (a long 429, an outage): the next fire tries
                log.warning("weekly summary to %s:%s deferred", desk.platform, desk.chat_id)
                continue
            sent += message is not None
        return sent

    def start(self) -> None:
        schedule = self._settings.summary_schedule
        if schedule is None or not self._desk_chats:
            return
        day, hour, minute = schedule
        self._scheduler = AsyncIOScheduler(timezone=self._zone)
        self._scheduler.add_job(
            self.post,
            "cron",
            day_of_week=day,
            hour=hour,
            minute=minute,
            id="kbloop-weekly-summary",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        self._scheduler.start()

    async def stop(self) -> None:
        await stop_scheduler(self._scheduler)
        self._scheduler = None
