"""Composition root: settings → database → KB and engine → registry → core → adapters.

``hisbot run`` starts everything that is configured and says what is not (a missing token
disables that platform, nothing else). One asyncio loop runs all adapters; CPU-bound decisions
run in a worker thread so the loop keeps acknowledging platform calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import Engine

from adapters.base import Adapter, ChatRef, CoreHandlers
from adapters.web.adapter import WebAdapter
from bot.broadcasts import AdapterTransport, Broadcasts, BroadcastStore
from bot.config import Secrets, Settings
from bot.core import BotSettings, CardOutbox, Clock, Services
from bot.db import make_engine
from bot.duty import Roster, WorkCalendar
from bot.exchanges import ExchangeStore
from bot.gateway import Database
from bot.kb_import import import_kb
from bot.kbloop.labels import LabelStore
from bot.kbloop.weekly import WeeklySummary
from bot.knowledge import answer_engine, build_index, embedder_for
from bot.links import LinkStore
from bot.messenger import Messenger
from bot.pipeline import Pipeline
from bot.privacy.gate import clean
from bot.privacy.purge import Eraser
from bot.privacy.retention import RetentionJob
from bot.registry.store import RegistryStore
from bot.sla.clocks import SlaClocks
from bot.sla.paging import Pager
from bot.sla.watch import SlaWatch
from bot.sla.worktime import WorkTime
from bot.tickets.store import TicketStore
from bot.web.abuse import LoginLimiter
from bot.web.app import Console, create_console
from bot.web.auth import ConsoleStore
from bot.web.passwords import HashingPool
from bot.web.server import ConsoleServer
from bot.workflows import ServiceWorkflows
from intents.decide import AnswerEngine
from kb_index.articles import Article
from kb_index.store import KbArticle

log = logging.getLogger(__name__)


def bot_settings(settings: Settings) -> BotSettings:
    desks: list[ChatRef] = []
    if settings.telegram.engineers_chat is not None:
        desks.append(ChatRef("telegram", str(settings.telegram.engineers_chat)))
    if settings.slack.engineers_channel:
        desks.append(ChatRef("slack", settings.slack.engineers_channel))
    return BotSettings(
        escalation=settings.bot.escalation,
        ack_mentions=settings.bot.ack_mentions,
        desk_chats=tuple(desks),
        web_base_url=settings.web.url,
        max_message_chars=settings.decide.max_chars,
        group=settings.bot.group,
    )


def article_lookup(db: Engine) -> Callable[[str], Article | None]:
    from sqlmodel import Session

    def lookup(article_id: str) -> Article | None:
        with Session(db) as session:
            row = session.get(KbArticle, article_id)
            return row.to_article() if row else None

    return lookup


def prepare_knowledge(settings: Settings, db: Engine) -> AnswerEngine:
    """Import the KB folder when present and (re)build the index incrementally."""
    folder = settings.path(settings.kb.dir)
    if folder.is_dir():
        result = import_kb(db, folder)
        report = result.report
        for article_id in result.cleaned:
            log.warning(
                "KB import: %s: personal data masked or control characters removed", article_id
            )
        for err in report.errors:
            log.warning("KB import: %s", err)
        for warning in result.labels.warnings:
            log.warning("KB import: %s", warning)
        for a in result.labels.adopted:
            log.info("KB import: %s now answers %d tickets' questions", a.article_id, a.changed)
        log.info(
            "KB %s: %d added, %d updated, %d unchanged (%d edited on the web kept)",
            folder,
            len(report.added),
            len(report.updated),
            len(report.unchanged),
            len(report.kept),
        )
    else:
        log.warning(
            "KB folder %s not found: answering from the articles already in the database", folder
        )
    embedder = embedder_for(settings)
    index, embedded, _ = build_index(settings, db, embedder)
    log.info("search index: %d articles (%d embedded)", len(index), embedded)
    return answer_engine(settings, index, embedder)


@dataclass
class App:
    settings: Settings
    services: Services
    pipeline: Pipeline
    cards: CardOutbox
    adapters: list[Adapter] = field(default_factory=list)
    db: Engine | None = None
    #: The playground's chat platform (also in ``adapters``); None when the playground is off.
    web_chat: WebAdapter | None = None
    #: Erases personal data past ``[privacy] retention_days`` once a day.
    retention: RetentionJob | None = None
    #: Posts 「本周新出现的常见问题」 to the desks (``[kbloop] weekly_summary``).
    weekly: WeeklySummary | None = None

    def console(self) -> FastAPI:
        """The web console's ASGI app over this app's services."""
        assert self.db is not None
        web = self.settings.web
        console = Console(
            services=self.services,
            store=ConsoleStore(self.db),
            settings=self.settings,
            db=self.db,
            limiter=LoginLimiter(
                web.login_max_failures,
                web.login_window_minutes * 60.0,
                max_delay=web.login_max_delay_seconds,
            ),
            hashing=HashingPool(web.password_check_threads, web.password_check_queue),
            chat_api=self.web_chat,
        )
        return create_console(console)

    async def serve_console(
        self, listen: str | None = None, port: int | None = None
    ) -> tuple[ConsoleServer, str]:
        """Serve the console (``[web]`` address unless given); returns the server and its
        public URL. Without a ``[web] base_url`` the bot's article links follow the bound
        address, so with port 0 (any free port) they still lead to this console."""
        web = self.settings.web
        web = dataclasses.replace(
            web, listen=listen or web.listen, port=web.port if port is None else port
        )
        server = ConsoleServer(self.console(), web.listen, web.port)
        bound = await server.start()
        url = web.url
        if not web.base_url:
            url = dataclasses.replace(web, port=bound).url
            self.services.settings = dataclasses.replace(self.services.settings, web_base_url=url)
        return server, url

    async def stop_console(self, server: ConsoleServer) -> None:
        """Stop serving: the playground's long polls are released first, so the server's
        graceful shutdown does not wait on them (they are open for up to 25 s)."""
        if self.web_chat is not None:
            await self.web_chat.stop()  # idempotent: stop() stops it again
        if self.services.sla is not None:
            self.services.sla.pulse.close()  # ends the console's live streams
        await server.stop()

    def handlers(self) -> CoreHandlers:
        return CoreHandlers(
            self.pipeline.on_message, self.pipeline.on_button, self.pipeline.on_chat_event
        )

    async def start(self) -> None:
        for adapter in self.adapters:
            await adapter.start(self.handlers())
            log.info("%s adapter started", adapter.platform)
        self.cards.start()  # also sends the cards of tickets written before a crash
        if self.services.broadcasts is not None:
            await self.services.broadcasts.start()  # due notices missed while down go out now
        if self.retention is not None:
            self.retention.start()
        if self.services.sla is not None:
            self.services.sla.start(self.settings.sla.tick_seconds)
        if self.weekly is not None:
            self.weekly.start()

    async def stop(self) -> None:
        if self.weekly is not None:
            await self.weekly.stop()
        if self.services.sla is not None:
            await self.services.sla.stop()
        if self.retention is not None:
            await self.retention.stop()
        if self.services.broadcasts is not None:
            await self.services.broadcasts.stop()
        await self.cards.stop()
        for adapter in reversed(self.adapters):
            try:
                await adapter.stop()
            except Exception:  # stopping must go on for the others
                log.exception("stopping the %s adapter failed", adapter.platform)
        await asyncio.to_thread(self.services.db.close)  # finishes the writes queued


def build_app(
    settings: Settings,
    secrets: Secrets,
    db: Engine | None = None,
    adapters: list[Adapter] | None = None,
    clock: Clock | None = None,
) -> App:
    """Wire the app. ``adapters`` overrides the configured ones (tests, benchmarks); ``clock``
    drives the ticket store and the SLA watch (tests move time without sleeping)."""
    db = db or make_engine(settings.storage_url)
    gateway = Database(db)
    registry = RegistryStore(db)
    report = registry.sync_from_config(settings.hospitals, settings.engineers)
    for warning in report.warnings:
        log.warning("registry: %s", warning)
    engine = prepare_knowledge(settings, db)
    messenger = Messenger()
    services = Services(
        engine=engine,
        db=gateway,
        registry=registry,
        tickets=TicketStore(db, clock) if clock else TicketStore(db),
        exchanges=ExchangeStore(db, clock=_aware(clock) if clock else _utc_now),
        links=LinkStore(db),
        messenger=messenger,
        article=article_lookup(db),
        redact=clean,
        settings=bot_settings(settings),
        labels=LabelStore(db, clock=_utc_now) if settings.kbloop.ask_labels else None,
    )
    if clock is not None:
        services.clock = clock
    chosen = adapters if adapters is not None else configured_adapters(settings, secrets)
    web_chat = None
    if settings.web.enabled and settings.web.playground:
        web_chat = WebAdapter(max_polls=settings.web.max_polls_per_session, mask=clean)
        chosen = [*chosen, web_chat]
    for adapter in chosen:
        messenger.register(adapter)
    cards = CardOutbox(services)
    services.notify_cards = cards.notify
    services.broadcasts = Broadcasts(
        BroadcastStore(db, registry, settings=settings.broadcast),
        AdapterTransport(chosen),
        services.settings.desk_chats,
        engine=db,
        db=gateway,
    )
    if settings.sla.enabled:
        services.sla = sla_watch(settings, db, services)
    services.workflows = ServiceWorkflows.over(db, ZoneInfo(settings.reports.timezone))
    retention = RetentionJob(Eraser(db), settings.privacy, gateway)
    return App(
        settings,
        services,
        Pipeline(services),
        cards,
        chosen,
        db=db,
        web_chat=web_chat,
        retention=retention,
        weekly=WeeklySummary(services, db, settings.kbloop, ZoneInfo(settings.reports.timezone)),
    )


def sla_clocks(settings: Settings, db: Engine, calendar: WorkCalendar | None = None) -> SlaClocks:
    calendar = calendar or WorkCalendar()
    return SlaClocks(db, settings.sla, settings.reports.targets, WorkTime(settings.duty, calendar))


def sla_watch(settings: Settings, db: Engine, services: Services) -> SlaWatch:
    """The 7x24 watch: roster, SLA clocks and paging over the app's stores and messenger."""
    calendar = WorkCalendar()
    clock = services.clock
    roster = Roster(db, settings.duty, calendar, clock=clock)
    clocks = sla_clocks(settings, db, calendar)
    pager = Pager(services.registry, services.messenger, settings.sla, clock)
    return SlaWatch(
        clocks,
        roster,
        pager,
        services.tickets,
        services.registry,
        services.messenger,
        services.settings.desk_chats,
        clock,
    )


def configured_adapters(settings: Settings, secrets: Secrets) -> list[Adapter]:
    """An adapter for every platform whose secrets are set; the others are named in the log."""
    out: list[Adapter] = []
    if secrets.telegram_token:
        from adapters.telegram.adapter import TelegramAdapter

        out.append(
            TelegramAdapter(
                secrets.telegram_token,
                settings.telegram,
                webhook_secret=secrets.telegram_webhook_secret,
            )
        )
    else:
        log.warning("Telegram is not configured (set HISBOT_TELEGRAM_TOKEN to enable it)")
    if secrets.slack_bot_token:
        from adapters.slack.adapter import SlackAdapter

        out.append(
            SlackAdapter(
                secrets.slack_bot_token,
                settings.slack,
                signing_secret=secrets.slack_signing_secret,
                app_token=secrets.slack_app_token,
            )
        )
    else:
        log.warning(
            "Slack is not configured (set HISBOT_SLACK_BOT_TOKEN and HISBOT_SLACK_APP_TOKEN or HISBOT_SLACK_SIGNING_SECRET)"
        )
    if settings.telegram.engineers_chat is None and not settings.slack.engineers_channel:
        log.warning(
            "no engineers' desk chat is configured ([telegram] engineers_chat or [slack] engineers_channel): tickets are worked in the web console; their chat cards wait until a desk is configured"
        )
    return out


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(clock: Clock) -> Clock:
    """``clock`` as aware UTC (the exchange table's timestamps are; a test clock is naive)."""

    def now() -> dt.datetime:
        value = clock()
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value

    return now


async def run(settings: Settings, secrets: Secrets, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set)."""
    # wiring reads and migrates the database and builds the index: off the loop
    app = await asyncio.to_thread(build_app, settings, secrets)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    await app.start()
    server: ConsoleServer | None = None
    try:
        if settings.web.enabled:
            server, url = await app.serve_console()
            print(f"web console: {url}/", flush=True)
        running = [a.platform for a in app.adapters] or ["no chat platform"]
        print(
            f"hisbot running: {', '.join(running)}; KB {len(app.services.engine.index)} articles. Ctrl-C to stop.",
            flush=True,
        )
        await stop.wait()
    finally:
        if server is not None:
            await app.stop_console(server)
        await app.stop()
