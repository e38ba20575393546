"""Composition root: settings → database → KB and engine → registry → core → adapters.

``build_app`` builds every collaborator through the builders of ``bot.wiring`` (one per
concern, each with explicit inputs and outputs); ``App`` starts and stops them. ``hisbot run``
starts everything that is configured and says what is not (a missing token disables that
platform, nothing else). One asyncio loop runs all adapters; CPU-bound decisions run in a
worker thread so the loop keeps acknowledging platform calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import Engine

from adapters.base import Adapter, CoreHandlers
from adapters.web.adapter import WebAdapter
from bot.cluster.claims import Claimant
from bot.cluster.instance_lock import hold_instance
from bot.cluster.leases import LEADER, Role, worker_id
from bot.cluster.takeover import TakeoverWatch
from bot.cluster.worker import ClusterWorker
from bot.conversation.pipeline import Pipeline
from bot.desk.queue.outbox import CardOutbox
from bot.inbox import Inbox, InboxStore, OutboxStore
from bot.infra.clock import Clock, as_utc, utc_now
from bot.infra.config import Secrets, Settings
from bot.infra.db import make_engine
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.kb.editing import KbReload, LiveKnowledge
from bot.kb.loop.weekly import WeeklySummary
from bot.privacy.retention import RetentionJob
from bot.routing import Router
from bot.tickets.services import Services
from bot.tickets.store import TicketStore
from bot.web.server import ConsoleServer
from bot.wiring.cluster import cluster, desk_roles
from bot.wiring.console import console_app
from bot.wiring.conversation import conversation, inbox, register_features, weekly_summary
from bot.wiring.knowledge import live_knowledge, start_up
from bot.wiring.operations import broadcasts, grant_expiry, retention_job, sla_watch
from bot.wiring.platforms import bot_settings, configured_adapters, playground
from bot.wiring.tickets import ticket_core
from bot.workflows.expiry import GrantExpiry

log = logging.getLogger(__name__)

#: How long stopping lets the inbox's lanes and the outboxes finish what they hold; the rest
#: stays pending and is replayed (events) or sent (cards, notices) at the next start.
STOP_DRAIN_SECONDS = 10.0


@dataclass
class App:
    """What ``build_app`` built, and the order it starts and stops in."""

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
    #: Tells the hospital and the desks once when a remote grant has run out.
    grant_expiry: GrantExpiry | None = None
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
        return console_app(
            self.settings, self.services, self.db, self.inbox, self.web_chat, self.knowledge
        )

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
            [
                *self.cluster.receiver_roles(self.adapters),
                *desk_roles(self.cards, self.services.settings.desk_chats),
                leader,
            ]
        )

    async def reap_sends(self) -> int:
        """Keyed sends a dead worker left under way become ``unknown`` (never re-sent)."""
        unknown = await self.services.db.write(self.outbox.interrupted)
        if unknown:
            log.warning(
                "%d send(s) interrupted by a dead worker: outcome unknown, not re-sent", unknown
            )
        return int(unknown)

    async def start_leader_work(self) -> None:
        """The work one process does for all: the timed jobs (SLA rounds, retention and the
        inbox purge, the weekly summary, remote grants' expiry, APScheduler's notice waves)."""
        await self.services.broadcasts.start_scheduler()
        if self.retention is not None:
            self.retention.start()
        if self.services.sla is not None:
            self.services.sla.start(self.settings.sla.tick_seconds)
        if self.weekly is not None:
            self.weekly.start()
        if self.grant_expiry is not None:
            self.grant_expiry.start()

    async def stop_leader_work(self) -> None:
        await self.services.broadcasts.stop_scheduler()
        if self.grant_expiry is not None:
            await self.grant_expiry.stop()
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
    service_clock = clock or utc_now
    # this worker: the owner of its leases and of the rows it claims (``bot.cluster.claims``)
    claimant = Claimant(worker_id(), exclusive=not clustered)
    registry, engine = start_up(settings, db)
    outbox = OutboxStore(db, now, claimant)
    messenger = Messenger(gateway, outbox)
    chosen = adapters if adapters is not None else configured_adapters(settings, secrets, clustered)
    board = playground(settings, gateway, db, now)
    if board is not None:
        chosen = [*chosen, board.adapter]
    for adapter in chosen:
        messenger.register(adapter)
    behaviour = bot_settings(settings)
    messenger.prioritise(behaviour.desk_chats)  # desk messages before hospital replies
    # the hospitals' wall clock: a ticket's number takes its year, as its register reads it
    local_zone = ZoneInfo(settings.reports.timezone)
    tickets = TicketStore(db, service_clock, year_zone=local_zone)
    notices = broadcasts(
        settings, db, gateway, registry, chosen, behaviour.desk_chats, claimant, now, clustered
    )
    sla = None
    if settings.sla.enabled:
        sla = sla_watch(
            settings,
            db,
            registry,
            tickets,
            messenger,
            behaviour.desk_chats,
            service_clock,
            gateway,
            outbox,
            claimant,
        )
    core = ticket_core(
        settings,
        db=db,
        gateway=gateway,
        registry=registry,
        engine=engine,
        tickets=tickets,
        messenger=messenger,
        behaviour=behaviour,
        broadcasts=notices,
        sla=sla,
        clock=service_clock,
        clustered=clustered,
    )
    services = core.services
    router = Router()
    parts = conversation(services, router)
    register_features(router, services, parts)
    inbox_store = InboxStore(db, now, claimant)
    events = inbox(services, parts.pipeline, inbox_store)
    knowledge, kb_reload = live_knowledge(settings, gateway, engine)
    workers = cluster(db, gateway, now, claimant.owner, outbox, events) if clustered else None
    return App(
        settings,
        services,
        parts.pipeline,
        core.cards,
        events,
        outbox,
        chosen,
        db=db,
        web_chat=board.adapter if board is not None else None,
        retention=retention_job(
            settings, db, gateway, now, inbox_store, board.store if board is not None else None
        ),
        weekly=weekly_summary(services, settings.kbloop, local_zone),
        grant_expiry=grant_expiry(services, local_zone),
        knowledge=knowledge,
        kb_reload=kb_reload,
        cluster=workers.worker if workers is not None else None,
        takeover=workers.takeover if workers is not None else None,
    )


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
