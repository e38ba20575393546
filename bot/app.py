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

from adapters.base import Adapter, ChatRef, CoreHandlers, Reply
from adapters.web.adapter import WebAdapter
from adapters.wecom.settings import TenantCredentials
from bot.broadcasts import AdapterTransport, Broadcasts, BroadcastStore
from bot.cluster.advisory import serialized
from bot.cluster.claims import Claimant, count_live_workers, forget_dead_workers
from bot.cluster.instance_lock import hold_instance
from bot.cluster.leases import LEADER, LeaseKeeper, LeaseStore, Role, worker_id
from bot.cluster.relay import RelayStore, SendRelay
from bot.cluster.takeover import TakeoverWatch
from bot.cluster.warned_chats import WarnedChats
from bot.cluster.worker import ClusterWorker
from bot.conversation.exchanges import ExchangeStore
from bot.conversation.pipeline import Pipeline
from bot.desk.posting import DeskCards
from bot.desk.queue.outbox import CardOutbox, DeskQueue
from bot.duty import Roster, WorkCalendar
from bot.inbox import Inbox, InboxStore, OutboxStore
from bot.infra.clock import Clock, as_utc, utc_now
from bot.infra.config import Secrets, Settings
from bot.infra.db import make_engine
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.kb.editing import KbReload, LiveKnowledge
from bot.kb.importing import import_kb
from bot.kb.knowledge import answer_engine, build_index, embedder_for
from bot.kb.loop.labels import LabelStore
from bot.kb.loop.weekly import WeeklySummary
from bot.privacy.gate import RedactionGate, clean
from bot.privacy.purge import Eraser
from bot.privacy.retention import RetentionJob
from bot.registry.store import RegistryStore
from bot.routing import Router
from bot.sla.clocks import SlaClocks
from bot.sla.paging import Pager
from bot.sla.steps import SlaSteps
from bot.sla.watch import SlaWatch
from bot.sla.worktime import WorkTime
from bot.texts import answer_delayed
from bot.tickets.flow import TicketFlow
from bot.tickets.links import LinkStore
from bot.tickets.services import BotSettings, DeskPort, PublicUrl, Services
from bot.tickets.store import TicketStore
from bot.web.app import Console, create_console
from bot.web.auth import ConsoleStore
from bot.web.console_telling import console_telling
from bot.web.login_limits import LoginLimiter
from bot.web.passwords import HashingPool
from bot.web.server import ConsoleServer
from bot.webchat.board import DatabaseBoard
from bot.webchat.store import WebChatStore
from bot.wiring import conversation, register_features, weekly_summary
from bot.workflows import ServiceWorkflows
from intents.decide import AnswerEngine
from kb_index.articles import Article
from kb_index.store import KbArticle

log = logging.getLogger(__name__)

#: Seconds between the leader's looks for tickets without a card when workers share the work
#: (a ticket opened on another worker cannot wake this one's card outbox).
CLUSTER_CARD_POLL_SECONDS = 3.0
#: How long stopping lets the inbox's lanes and the outboxes finish what they hold; the rest
#: stays pending and is replayed (events) or sent (cards, notices) at the next start.
STOP_DRAIN_SECONDS = 10.0
#: How long a dead worker stays listed among the leases (``hisbot`` status, the chaos bench).
DEAD_WORKERS_KEPT = dt.timedelta(hours=1)


def bot_settings(settings: Settings) -> BotSettings:
    desks: list[ChatRef] = []
    if settings.telegram.engineers_chat is not None:
        desks.append(ChatRef("telegram", str(settings.telegram.engineers_chat)))
    if settings.slack.engineers_channel:
        desks.append(ChatRef("slack", settings.slack.engineers_channel))
    if settings.wecom.desk_chat_id is not None:
        desks.append(ChatRef("wecom", settings.wecom.desk_chat_id))
    if settings.dingtalk.desk_chat_id:
        desks.append(ChatRef("dingtalk", settings.dingtalk.desk_chat_id))
    return BotSettings(
        escalation=settings.bot.escalation,
        ack_mentions=settings.bot.ack_mentions,
        desk_chats=tuple(desks),
        max_message_chars=settings.decide.max_chars,
        group=settings.bot.group,
        desk=settings.desk,
    )


def article_lookup(db: Engine) -> Callable[[str], Article | None]:
    from sqlmodel import Session

    def lookup(article_id: str) -> Article | None:
        with Session(db) as session:
            row = session.get(KbArticle, article_id)
            return row.to_article() if row else None

    return lookup


def article_title(engine: AnswerEngine) -> Callable[[str], str]:
    """An article's title in the engine's current index (a KB reload swaps it), else its id."""

    def title(article_id: str) -> str:
        entry = engine.index.get(article_id)
        return entry.title if entry else article_id

    return title


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
    #: Every arriving event is stored here before the platform is answered, then handled.
    inbox: Inbox
    outbox: OutboxStore
    adapters: list[Adapter] = field(default_factory=list)
    db: Engine | None = None
    #: The playground's chat platform (also in ``adapters``); None when the playground is off.
    web_chat: WebAdapter | None = None
    #: Erases personal data past ``[privacy] retention_days`` once a day.
    retention: RetentionJob | None = None
    #: Posts 「本周新出现的常见问题」 to the desks (``[kbloop] weekly_summary``).
    weekly: WeeklySummary | None = None
    #: The one writer of KB changes to the running engine (console edits, outside changes).
    knowledge: LiveKnowledge | None = None
    #: Picks up ``hisbot kb import``/``kb build`` while running (``[kb] reload_seconds``).
    kb_reload: KbReload | None = None
    #: One of several workers on a server database: runs the work only one of them may do
    #: (the timed jobs, a single-consumer platform connection) while this worker holds its
    #: lease. None on SQLite, where this process is the only one
    #: (``bot.cluster.instance_lock``).
    cluster: ClusterWorker | None = None
    #: With several workers: takes over dead workers' events and reaps their sends.
    takeover: TakeoverWatch | None = None

    def console(self) -> FastAPI:
        """The web console's ASGI app over this app's services."""
        assert self.db is not None
        web = self.settings.web
        console = Console(
            services=self.services,
            store=ConsoleStore(self.db),
            settings=self.settings,
            db=self.db,
            inbox=self.inbox,
            limiter=LoginLimiter(
                self.services.db,
                web.login_max_failures,
                web.login_window_minutes * 60.0,
                max_delay=web.login_max_delay_seconds,
                clock=self.services.clock,
            ),
            hashing=HashingPool(web.password_check_threads, web.password_check_queue),
            chat_api=self.web_chat,
            kb_writer=self.knowledge,
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
            self.services.public_url.bound(url)
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
        """What the adapters call: the inbox (store, then confirm to the platform) and, with
        several workers, the relay to the worker holding a platform's connection."""
        handlers = self.inbox.handlers()
        if self.cluster is not None:
            handlers.send_elsewhere = self.cluster.relay.send
        return handlers

    async def start(self) -> None:
        if self.cluster is not None:  # before anything is stored or sent: the rows it claims
            await self.cluster.join()  # are its own while this lease says it is alive
        # sends a dead worker left under way are unknown, not re-sent; then what it left
        # unhandled is replayed before anything new arrives
        await self.reap_sends()
        await self.inbox.start()
        for adapter in self.adapters:
            await adapter.start(self.handlers())
            log.info("%s adapter started", adapter.platform)
        if self.kb_reload is not None:  # every worker answers from its own index
            self.kb_reload.start()
        # the outboxes run on every worker: their rows are claimed per worker
        self.cards.start()  # also sends the cards of tickets written before a crash
        await self.services.broadcasts.broadcaster.start()  # due notices missed while down
        if self.cluster is None:
            await self.start_leader_work()
            return
        if self.takeover is not None:
            self.takeover.start()
        # receiving first, as in one process: a takeover answers before it catches up on jobs
        leader = Role(LEADER, self.start_leader_work, self.stop_leader_work)
        await self.cluster.start(
            [*self.cluster.receiver_roles(self.adapters), *self.desk_roles(), leader]
        )

    async def reap_sends(self) -> int:
        """Keyed sends a dead worker left under way become ``unknown`` (never re-sent)."""
        unknown = await self.services.db.write(self.outbox.interrupted)
        if unknown:
            log.warning(
                "%d send(s) interrupted by a dead worker: outcome unknown, not re-sent", unknown
            )
        return int(unknown)

    def desk_roles(self) -> list[Role]:
        """One lease per desk chat: its card queue is served by one worker at a time."""

        def role(desk: ChatRef) -> Role:
            async def serve() -> None:
                self.cards.serve(desk)

            async def unserve() -> None:
                self.cards.unserve(desk)

            return Role(f"desk:{desk.platform}:{desk.chat_id}", serve, unserve)

        return [role(desk) for desk in self.services.settings.desk_chats]

    async def start_leader_work(self) -> None:
        """The work one process does for all: the timed jobs (SLA rounds, retention and the
        inbox purge, the weekly summary, APScheduler's notice waves)."""
        await self.services.broadcasts.start_scheduler()
        if self.retention is not None:
            self.retention.start()
        if self.services.sla is not None:
            self.services.sla.start(self.settings.sla.tick_seconds)
        if self.weekly is not None:
            self.weekly.start()

    async def stop_leader_work(self) -> None:
        await self.services.broadcasts.stop_scheduler()
        if self.weekly is not None:
            await self.weekly.stop()
        if self.services.sla is not None:
            await self.services.sla.stop()
        if self.retention is not None:
            await self.retention.stop()

    async def stop(self) -> None:
        if self.takeover is not None:
            await self.takeover.stop()
        await self.inbox.stop(STOP_DRAIN_SECONDS)
        if self.kb_reload is not None:
            await self.kb_reload.stop()
        # the outboxes let the sends they claimed finish, within a bound
        await self.cards.stop(STOP_DRAIN_SECONDS)
        await self.services.broadcasts.broadcaster.stop()
        if self.cluster is None:
            await self.stop_leader_work()
        else:
            # stops the roles held here and releases the leases, this worker's own last:
            # what it still claims passes to the others at their next round
            await self.cluster.stop()
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
    drives the ticket store, the SLA watch and the leases (tests move time without sleeping)."""
    db = db or make_engine(settings.storage_url)
    gateway = Database(db)
    clustered = db.dialect.name != "sqlite"  # SQLite: one process (the instance lock)
    now: Clock = utc_now if clock is None else (lambda: as_utc(clock()))
    # this worker: the owner of its leases and of the rows it claims (``bot.cluster.claims``)
    claimant = Claimant(worker_id(), exclusive=not clustered)
    registry = RegistryStore(db)
    # workers starting at once on one database: one after the other (check-then-insert work,
    # and a shared index folder on one host)
    with serialized(db, "start-up"):
        report = registry.sync_from_config(settings.hospitals, settings.engineers)
        for warning in report.warnings:
            log.warning("registry: %s", warning)
        engine = prepare_knowledge(settings, db)
    outbox = OutboxStore(db, now, claimant)
    messenger = Messenger(gateway, outbox)
    chosen = adapters if adapters is not None else configured_adapters(settings, secrets, clustered)
    web_chat = None
    chat_store = None
    if settings.web.enabled and settings.web.playground:
        # the playground's chats in the database: every worker shows the same board
        chat_store = WebChatStore(db)
        web_chat = WebAdapter(
            DatabaseBoard(gateway, chat_store, now),
            max_polls=settings.web.max_polls_per_session,
            mask=clean,
        )
        chosen = [*chosen, web_chat]
    for adapter in chosen:
        messenger.register(adapter)
    behaviour = bot_settings(settings)
    messenger.prioritise(behaviour.desk_chats)  # desk messages before hospital replies
    tickets = TicketStore(db, clock) if clock else TicketStore(db)
    service_clock = clock or utc_now
    broadcasts = Broadcasts(
        BroadcastStore(db, registry, settings=settings.broadcast, claimant=claimant),
        AdapterTransport(chosen),
        behaviour.desk_chats,
        engine=db,
        db=gateway,
        workers=(lambda: max(1, count_live_workers(db, now()))) if clustered else (lambda: 1),
    )
    sla = None
    if settings.sla.enabled:
        sla = sla_watch(
            settings,
            db,
            registry,
            tickets,
            messenger,
            behaviour,
            service_clock,
            gateway,
            outbox,
            claimant,
        )
    # the card outbox renders cards over the services: it is bound to their port once built
    desk = DeskPort()
    exchanges = ExchangeStore(db, clock=service_clock)
    links = LinkStore(db)
    desk_cards = DeskCards(
        db=gateway,
        registry=registry,
        tickets=tickets,
        links=links,
        messenger=messenger,
        settings=behaviour,
        desk=desk,
        sla=sla,
    )
    ticket_flow = TicketFlow(
        db=gateway,
        tickets=tickets,
        exchanges=exchanges,
        links=links,
        messenger=messenger,
        settings=behaviour,
        desk=desk,
        cards=desk_cards,
        title=article_title(engine),
        redact=clean,
        sla=sla,
        broadcasts=broadcasts,
    )
    services = Services(
        engine=engine,
        db=gateway,
        registry=registry,
        tickets=tickets,
        exchanges=exchanges,
        links=links,
        messenger=messenger,
        article=article_lookup(db),
        redact=clean,
        settings=behaviour,
        warned_chats=WarnedChats(db, utc_now),
        ticket_flow=ticket_flow,
        cards=desk_cards,
        clock=service_clock,
        desk=desk,
        public_url=PublicUrl(settings.web.url),
        broadcasts=broadcasts,
        sla=sla,
        workflows=ServiceWorkflows.over(db, ZoneInfo(settings.reports.timezone)),
        labels=LabelStore(db, clock=utc_now) if settings.kbloop.ask_labels else None,
    )
    # with several workers a ticket opened on another one is carded by the leader's poll
    poll = CLUSTER_CARD_POLL_SECONDS if clustered else 60.0
    # with several workers a desk chat's cards go from the worker holding its lease
    queue = DeskQueue(
        db=gateway,
        tickets=tickets,
        cards=desk_cards,
        messenger=messenger,
        desk_chats=behaviour.desk_chats,
        clock=service_clock,
        settings=settings.desk,
    )
    cards = CardOutbox(queue, poll, by_lease=clustered)
    desk.bind(cards)
    attachments = settings.path(settings.data_dir) / "attachments"
    inbox_store = InboxStore(db, now, claimant)
    retention = RetentionJob(
        Eraser(db, attachments=attachments),
        settings.privacy,
        gateway,
        now,
        inbox_store,
        web_chat=chat_store,
        web_chat_keep_hours=settings.web.chat_keep_hours,
    )
    knowledge = LiveKnowledge(settings, gateway, engine)
    every = settings.kb.reload_seconds
    router = Router()
    parts = conversation(services, router)
    pipeline = parts.pipeline
    register_features(router, services, parts)

    async def tell_delayed(chat: ChatRef) -> None:
        await messenger.send_now(Reply(chat=chat, text=answer_delayed()))

    inbox = Inbox(
        gateway,
        inbox_store,
        CoreHandlers(pipeline.on_message, pipeline.on_button, pipeline.on_chat_event),
        is_desk=services.is_desk,
        incoming=RedactionGate(settings.decide.max_chars, clean).incoming,
        tell_delayed=tell_delayed,
        console=console_telling(services),
    )
    cluster = None
    takeover = None
    if clustered:
        cluster = ClusterWorker(
            LeaseKeeper(LeaseStore(db, now), gateway, now, claimant.owner),
            SendRelay(gateway, RelayStore(db, now)),
        )
        takeover = TakeoverWatch(
            [
                # every durable send, notices included, is in this one outbox
                lambda: gateway.write(outbox.interrupted),
                inbox.take_over,
                lambda: gateway.write(lambda: forget_dead_workers(db, now() - DEAD_WORKERS_KEPT)),
            ]
        )
    return App(
        settings,
        services,
        pipeline,
        cards,
        inbox,
        outbox,
        chosen,
        db=db,
        web_chat=web_chat,
        retention=retention,
        weekly=weekly_summary(services, settings.kbloop, ZoneInfo(settings.reports.timezone)),
        knowledge=knowledge,
        kb_reload=KbReload(knowledge, every) if every > 0 else None,
        cluster=cluster,
        takeover=takeover,
    )


def sla_clocks(
    settings: Settings,
    db: Engine,
    calendar: WorkCalendar | None = None,
    claimant: Claimant | None = None,
) -> SlaClocks:
    calendar = calendar or WorkCalendar()
    worktime = WorkTime(settings.duty, calendar)
    return SlaClocks(db, settings.sla, settings.reports.targets, worktime, claimant)


def sla_watch(
    settings: Settings,
    db: Engine,
    registry: RegistryStore,
    tickets: TicketStore,
    messenger: Messenger,
    behaviour: BotSettings,
    clock: Clock,
    gateway: Database,
    outbox: OutboxStore,
    claimant: Claimant | None = None,
) -> SlaWatch:
    """The 7x24 watch: roster, SLA clocks and paging over the app's stores and messenger,
    reaching the database through the app's one ``gateway``; its steps owned by ``claimant``
    (this worker), its sends keyed in ``outbox``."""
    calendar = WorkCalendar()
    roster = Roster(db, settings.duty, calendar, clock=clock)
    clocks = sla_clocks(settings, db, calendar, claimant)
    pager = Pager(registry, messenger, settings.sla, clock, gateway, outbox)
    return SlaWatch(
        clocks,
        roster,
        pager,
        tickets,
        registry,
        messenger,
        behaviour.desk_chats,
        clock,
        gateway,
        SlaSteps(db, claimant),
    )


def configured_adapters(
    settings: Settings, secrets: Secrets, clustered: bool = False
) -> list[Adapter]:
    """An adapter for every platform whose secrets are set; the others are named in the log.
    ``clustered``: one of several workers, so a single-consumer connection (Telegram's
    polling, the WeCom connections, the DingTalk streams) waits for its lease
    (``receive:<platform>``) instead of starting with the adapter."""
    out: list[Adapter] = []
    if secrets.telegram_token:
        from adapters.telegram.adapter import TelegramAdapter

        out.append(
            TelegramAdapter(
                secrets.telegram_token,
                settings.telegram,
                webhook_secret=secrets.telegram_webhook_secret,
                receive_on_start=not clustered,
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
    wecom = wecom_credentials(settings, secrets)
    if wecom:
        from adapters.wecom.adapter import WeComAdapter

        out.append(WeComAdapter(settings.wecom, wecom, receive_on_start=not clustered))
    elif settings.wecom.tenants:
        log.warning(
            "WeCom is not configured (no [[wecom.tenants]] has its environment variables set)"
        )
    dingtalk = dingtalk_adapter(settings, secrets, clustered)
    if dingtalk is not None:
        out.append(dingtalk)
    if not bot_settings(settings).desk_chats:
        log.warning(
            "no engineers' desk chat is configured ([telegram] engineers_chat, [slack] engineers_channel, [wecom] engineers_group or [dingtalk] engineers_group): tickets are worked in the web console; their chat cards wait until a desk is configured"
        )
    return out


def wecom_credentials(settings: Settings, secrets: Secrets) -> list[TenantCredentials]:
    """The BotID/Secret of every ``[[wecom.tenants]]`` whose environment variables are set;
    a tenant with only one of them, or none, is named in the log and left out."""
    env = secrets.environment
    out: list[TenantCredentials] = []
    for tenant in settings.wecom.tenants:
        bot_id, secret = env.get(tenant.bot_id_env), env.get(tenant.secret_env)
        if bot_id and secret:
            out.append(TenantCredentials(tenant.name, bot_id, secret))
        else:
            missing = [
                n for n, v in ((tenant.bot_id_env, bot_id), (tenant.secret_env, secret)) if not v
            ]
            log.warning(
                "WeCom tenant %s is not configured: set %s", tenant.name, " and ".join(missing)
            )
    return out


def dingtalk_adapter(
    settings: Settings, secrets: Secrets, clustered: bool = False
) -> Adapter | None:
    """The DingTalk adapter over every tenant whose credential variables are set; a tenant
    without them is named in the log (the others run). ``clustered``: its streams wait for
    the ``receive:dingtalk`` lease."""
    tenants = settings.dingtalk.tenants
    credentials = {}
    for tenant in tenants:
        found = tenant.credentials(secrets.environment)
        if found is None:
            log.warning(
                "DingTalk tenant %s is not run: set %s and %s",
                tenant.name,
                tenant.client_id_env,
                tenant.client_secret_env,
            )
        else:
            credentials[tenant.name] = found
    desk = settings.dingtalk.desk_tenant
    if desk and desk not in credentials:
        log.warning(
            "the DingTalk desk group's tenant %s is not run: its ticket cards wait until it is",
            desk,
        )
    if not credentials:
        if not tenants:
            log.warning("DingTalk is not configured (add [[dingtalk.tenants]] to config.toml)")
        return None
    from adapters.dingtalk.adapter import DingTalkAdapter

    return DingTalkAdapter(settings.dingtalk, credentials, receive_on_start=not clustered)


async def run(settings: Settings, secrets: Secrets, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set). On SQLite, refuses to start
    (``AlreadyRunning``) while another process serves the same database."""
    instance = await asyncio.to_thread(hold_instance, settings.storage_url, utc_now)
    try:
        await _run(settings, secrets, stop)
    finally:
        if instance is not None:
            instance.release()


async def _run(settings: Settings, secrets: Secrets, stop: asyncio.Event | None) -> None:
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
