"""The composition root's ticket core: the ticket flow, the desk cards and their outbox, and
the frozen ``Services`` every feature's collaborators are picked from (``bot.wiring``).

The card outbox renders cards over the services' stores and the flow wakes it, so the flow
holds a ``DeskPort`` built first and bound to the outbox once, here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.broadcasts import Broadcasts
from bot.cluster.warned_chats import WarnedChats
from bot.conversation.exchanges import ExchangeStore
from bot.desk.posting import DeskCards
from bot.desk.queue.outbox import CardOutbox, DeskQueue
from bot.infra.clock import Clock
from bot.infra.config import Settings
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.kb.loop.labels import LabelStore
from bot.privacy.gate import clean
from bot.registry.store import RegistryStore
from bot.sla.watch import SlaWatch
from bot.tickets.flow import TicketFlow
from bot.tickets.links import LinkStore
from bot.tickets.services import BotSettings, DeskPort, PublicUrl, Services
from bot.tickets.store import TicketStore
from bot.wiring.knowledge import article_lookup, article_title
from bot.workflows import ServiceWorkflows
from intents.decide import AnswerEngine

#: Seconds between the leader's looks for tickets without a card when workers share the work
#: (a ticket opened on another worker cannot wake this one's card outbox).
CLUSTER_CARD_POLL_SECONDS = 3.0
#: The same look on one process, where every ticket wakes the outbox itself.
CARD_POLL_SECONDS = 60.0


@dataclass(frozen=True)
class TicketCore:
    """The services and the card outbox bound to them."""

    services: Services
    cards: CardOutbox


def ticket_core(
    settings: Settings,
    *,
    db: Engine,
    gateway: Database,
    registry: RegistryStore,
    engine: AnswerEngine,
    tickets: TicketStore,
    messenger: Messenger,
    behaviour: BotSettings,
    broadcasts: Broadcasts,
    sla: SlaWatch | None,
    clock: Clock,
    clustered: bool,
) -> TicketCore:
    """Wire the ticket flow, the desk cards, the services and the card outbox. ``clock``
    drives the exchanges, the card queue and the services' timers; ``clustered``: one of
    several workers, so a desk chat's cards go from the worker holding its lease and a
    ticket opened elsewhere is found by a short poll."""
    desk = DeskPort()
    exchanges = ExchangeStore(db, clock=clock)
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
    flow = TicketFlow(
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
        warned_chats=WarnedChats(db, clock),
        ticket_flow=flow,
        cards=desk_cards,
        clock=clock,
        desk=desk,
        public_url=PublicUrl(settings.web.url),
        broadcasts=broadcasts,
        sla=sla,
        workflows=ServiceWorkflows.over(db, ZoneInfo(settings.reports.timezone), clock),
        labels=LabelStore(db, clock=clock) if settings.kbloop.ask_labels else None,
    )
    queue = DeskQueue(
        db=gateway,
        tickets=tickets,
        cards=desk_cards,
        messenger=messenger,
        desk_chats=behaviour.desk_chats,
        clock=clock,
        settings=settings.desk,
    )
    poll = CLUSTER_CARD_POLL_SECONDS if clustered else CARD_POLL_SECONDS
    cards = CardOutbox(queue, poll, by_lease=clustered)
    desk.bind(cards)
    return TicketCore(services, cards)
