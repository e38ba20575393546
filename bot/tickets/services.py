"""The composition root's collaborators, and the bot's settings in chats.

``Services`` is wired once by the composition root (``bot.app.build_app``) with every
collaborator passed to its constructor and is frozen: nothing is patched in later. It is the
root's bag: every feature gets only what it uses, by name (``bot.wiring``); only the console
(``bot.web``) still takes it whole. The card outbox is woken by the ticket flow through a port
(``DeskPort``) that the composition root binds once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from adapters.base import ChatRef
from bot.broadcasts import Broadcasts
from bot.cluster.warned_chats import WarnedChats
from bot.conversation.exchanges import ExchangeStore
from bot.conversation.settings import GroupSettings
from bot.desk.queue.settings import DeskSettings
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.kb.loop.labels import LabelStore
from bot.registry.store import RegistryStore
from bot.tickets.links import LinkStore
from bot.tickets.store import TicketStore
from bot.workflows import ServiceWorkflows
from intents.decide import AnswerEngine
from kb_index.articles import Article

if TYPE_CHECKING:
    from bot.desk.posting import DeskCards
    from bot.sla.watch import SlaWatch
    from bot.tickets.flow import TicketFlow


@dataclass(frozen=True)
class BotSettings:
    """Behaviour of the bot in chats (``[bot]`` in config.toml, plus where the desk is)."""

    #: "ticket": an unanswerable question opens a ticket at once; "offer": the bot first offers
    #: a one-tap "转工程师" button (the question is recorded either way, never dropped).
    escalation: Literal["ticket", "offer"] = "ticket"
    #: Reply briefly to chit-chat that @-mentions the bot (otherwise stay quiet).
    ack_mentions: bool = True
    #: Engineers' desk chats; every new ticket's card goes to each.
    desk_chats: tuple[ChatRef, ...] = ()
    #: The longest message text the bot reads (``[decide] max_chars``); the rest is cut at the
    #: edge, before redaction, the decision and storage.
    max_message_chars: int = 2000
    #: The time windows of group behaviour (``[bot.group]``).
    group: GroupSettings = field(default_factory=GroupSettings)
    #: How the card outbox paces the desk and when it sends digests (``[desk]``).
    desk: DeskSettings = field(default_factory=DeskSettings)


class DeskNotifier(Protocol):
    """What the ticket flow asks of the card outbox (``bot.desk.queue.outbox.CardOutbox``)."""

    def notify(self) -> None:
        """A ticket may need its card: wake the outbox (callable from any thread)."""

    def has_room(self, desk: ChatRef) -> bool:
        """Whether the desk chat's rate leaves room for a non-urgent message now, an urgent
        one still passing after it."""

    def refresh_later(self, number: str, desk: ChatRef) -> None:
        """Re-render the ticket's card in ``desk`` when its rate has room."""


class DeskPort:
    """The card outbox as the services hold it: built before them and bound once to the
    outbox, which is built over the services (it renders cards from their stores). Unbound
    (tools, tests without an outbox) there is nothing to wake and every desk has room."""

    def __init__(self) -> None:
        self._outbox: DeskNotifier | None = None

    def bind(self, outbox: DeskNotifier) -> None:
        if self._outbox is not None:
            raise RuntimeError("the desk port is already bound to a card outbox")
        self._outbox = outbox

    def notify(self) -> None:
        if self._outbox is not None:
            self._outbox.notify()

    def has_room(self, desk: ChatRef) -> bool:
        return self._outbox is None or self._outbox.has_room(desk)

    def refresh_later(self, number: str, desk: ChatRef) -> None:
        if self._outbox is not None:
            self._outbox.refresh_later(number, desk)


class PublicUrl:
    """The console's base URL in the bot's article links: ``[web] base_url``, or without it
    the address the console bound (known only once it serves: port 0 picks one)."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def bound(self, url: str) -> None:
        """The console now serves at ``url`` (``App.serve_console``)."""
        self._url = url


@dataclass(frozen=True, eq=False)
class Services:
    """Every collaborator the composition root (``bot.app.build_app``) wires, once and never
    changed; handed whole only to the console (``tests/unit/test_architecture.py``)."""

    engine: AnswerEngine
    #: Every database call of async code goes through it (``await db.read/write(fn)``).
    db: Database
    registry: RegistryStore
    tickets: TicketStore
    exchanges: ExchangeStore
    links: LinkStore
    messenger: Messenger
    article: Callable[[str], Article | None]
    redact: Callable[[str], str]
    settings: BotSettings
    #: Chats told once that they are not registered (their ids only; shared by all workers).
    warned_chats: WarnedChats
    #: Opening, claiming, relaying and resolving tickets (``bot.tickets.flow``).
    ticket_flow: TicketFlow
    #: The tickets' cards in the desk chats: posted by the card outbox, re-rendered on changes.
    cards: DeskCards
    clock: Clock
    #: The card outbox: woken when a ticket needs its card, asked whether a desk has room.
    desk: DeskNotifier
    #: Where the article links point (the console's public address).
    public_url: PublicUrl
    #: Patch notices, upgrade windows and announcements.
    broadcasts: Broadcasts
    #: Remote consent, on-site visits, upgrades (``bot.workflows``).
    workflows: ServiceWorkflows
    #: 7x24 operations: SLA clocks, paging and duty routing (None: ``[sla] enabled = false``).
    sla: SlaWatch | None
    #: Which article answers a resolved question (the KB loop's labels; None:
    #: ``[kbloop] ask_labels = false``).
    labels: LabelStore | None

    def is_desk(self, chat: ChatRef) -> bool:
        return any(
            d.platform == chat.platform and d.chat_id == chat.chat_id
            for d in self.settings.desk_chats
        )

    def article_url(self, article_id: str) -> str:
        return f"{self.public_url.url.rstrip('/')}/kb/{article_id}"
