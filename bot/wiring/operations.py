"""The composition root's operations: the 7x24 watch (roster, SLA clocks, paging), the
notices' broadcaster, the retention job and the remote grants' expiry, each over the app's
stores, messenger and one database gateway."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from adapters.base import Adapter, ChatRef
from bot.broadcasts import AdapterTransport, Broadcasts, BroadcastStore
from bot.cluster.claims import Claimant, count_live_workers
from bot.duty import Roster, WorkCalendar
from bot.inbox import InboxStore, OutboxStore
from bot.infra.clock import Clock
from bot.infra.config import Settings
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.privacy.purge import Eraser
from bot.privacy.retention import RetentionJob
from bot.privacy.sends import FinishedSends
from bot.registry.store import RegistryStore
from bot.sla.clocks import SlaClocks
from bot.sla.paging import Pager
from bot.sla.steps import SlaSteps
from bot.sla.watch import SlaWatch
from bot.sla.worktime import WorkTime
from bot.tickets.services import Services
from bot.tickets.store import TicketStore
from bot.webchat.store import WebChatStore
from bot.workflows.expiry import GrantExpiry


def sla_clocks(
    settings: Settings,
    db: Engine,
    calendar: WorkCalendar | None = None,
    claimant: Claimant | None = None,
) -> SlaClocks:
    """The SLA clocks and targets (also ``hisbot sla target``'s)."""
    calendar = calendar or WorkCalendar()
    worktime = WorkTime(settings.duty, calendar)
    return SlaClocks(db, settings.sla, settings.reports.targets, worktime, claimant)


def sla_watch(
    settings: Settings,
    db: Engine,
    registry: RegistryStore,
    tickets: TicketStore,
    messenger: Messenger,
    desk_chats: tuple[ChatRef, ...],
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
        desk_chats,
        clock,
        gateway,
        SlaSteps(db, claimant),
    )


def broadcasts(
    settings: Settings,
    db: Engine,
    gateway: Database,
    registry: RegistryStore,
    adapters: Sequence[Adapter],
    desk_chats: tuple[ChatRef, ...],
    claimant: Claimant,
    now: Clock,
    clustered: bool,
) -> Broadcasts:
    """Patch notices, upgrade windows and announcements, sent through ``adapters``;
    ``clustered``: one of several workers, each taking its share of a platform's rate."""
    workers: Callable[[], int] = (
        (lambda: max(1, count_live_workers(db, now()))) if clustered else (lambda: 1)
    )
    return Broadcasts(
        BroadcastStore(db, registry, settings=settings.broadcast, claimant=claimant),
        AdapterTransport(adapters),
        desk_chats,
        engine=db,
        db=gateway,
        workers=workers,
    )


def retention_job(
    settings: Settings,
    db: Engine,
    gateway: Database,
    now: Clock,
    inbox: InboxStore,
    web_chat: WebChatStore | None,
) -> RetentionJob:
    """Erases personal data past ``[privacy] retention_days`` once a day: tickets' texts and
    attachments, handled inbox events, finished sends and SLA steps, and the playground's old
    chat entries."""
    attachments: Path = settings.path(settings.data_dir) / "attachments"
    return RetentionJob(
        Eraser(db, attachments=attachments),
        settings.privacy,
        gateway,
        now,
        inbox,
        web_chat=web_chat,
        web_chat_keep_hours=settings.web.chat_keep_hours,
        sends=FinishedSends(db),
        steps=SlaSteps(db),
    )


def grant_expiry(services: Services, zone: ZoneInfo) -> GrantExpiry:
    """Tells each hospital thread and every desk once that a remote grant has run out; the end
    time shown in ``zone``."""
    s = services
    return GrantExpiry(
        db=s.db, messenger=s.messenger, desk_chats=s.settings.desk_chats, clock=s.clock, zone=zone
    )
