"""What the conversation pipeline and the engineers' desk share: services and the ticket flow.

Opening a ticket follows one order everywhere, because the contract's audit record must
survive a crash: write the ticket (and its articles and thread) → tell the hospital → post the
card to the engineers' desk → record that the card was posted. A crash after the first step
leaves a ticket without a card, which the card outbox (``bot.desk.queue``) sends on the next
start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from adapters.base import ChatRef, IncomingMessage, MessageRef, Reply
from bot import texts
from bot.broadcasts import Broadcasts
from bot.cluster.warned_chats import WarnedChats
from bot.conversation import category_choices
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.conversation.settings import GroupSettings
from bot.desk.cards import card_reply
from bot.desk.queue.digest import digest_reply
from bot.desk.queue.settings import DeskSettings
from bot.desk.queue.store import DigestStore
from bot.inbox.scope import replaying
from bot.infra.clock import Clock, utc_now
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.kb.loop.labels import LabelStore
from bot.registry.models import Hospital
from bot.registry.sessions import transaction
from bot.registry.store import RegistryStore
from bot.tickets.category_guess import guess_category
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import Ticket
from bot.tickets.store import Actor, ThreadEntry, TicketStore
from bot.workflows import ServiceWorkflows
from intents.decide import AnswerEngine
from kb_index.articles import Article

if TYPE_CHECKING:
    from bot.sla.watch import SlaWatch

log = logging.getLogger(__name__)


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
    #: Base URL of the KB pages for article links.
    web_base_url: str = "http://127.0.0.1:8080"
    #: The longest message text the bot reads (``[decide] max_chars``); the rest is cut at the
    #: edge, before redaction, the decision and storage.
    max_message_chars: int = 2000
    #: The time windows of group behaviour (``[bot.group]``).
    group: GroupSettings = field(default_factory=GroupSettings)
    #: How the card outbox paces the desk and when it sends digests (``[desk]``).
    desk: DeskSettings = field(default_factory=DeskSettings)


@dataclass
class Services:
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
    clock: Clock = utc_now
    #: Wakes the card outbox (``bot.desk.queue.outbox.CardOutbox.notify``); wired by the composition root.
    notify_cards: Callable[[], None] = field(default=lambda: None)
    #: Whether a desk chat's rate leaves room for a non-urgent message now, an urgent one
    #: still passing after it (the card outbox's pace); wired by the composition root.
    desk_has_room: Callable[[ChatRef], bool] = field(default=lambda _: True)
    #: Re-render a ticket's card in a desk later, when its rate has room (the card outbox);
    #: wired by the composition root.
    refresh_later: Callable[[str, ChatRef], None] = field(default=lambda _n, _d: None)
    #: Patch notices, upgrade windows and announcements (None: not wired, e.g. in tools).
    broadcasts: Broadcasts | None = None
    #: 7x24 operations: SLA clocks, paging and duty routing (None: not wired).
    sla: SlaWatch | None = None
    #: Remote consent, on-site visits, upgrades (``bot.workflows``; None: not wired).
    workflows: ServiceWorkflows | None = None
    #: Which article answers a resolved question (the KB loop's labels); None: not asked.
    labels: LabelStore | None = None

    def is_desk(self, chat: ChatRef) -> bool:
        return any(
            d.platform == chat.platform and d.chat_id == chat.chat_id
            for d in self.settings.desk_chats
        )

    def article_url(self, article_id: str) -> str:
        return f"{self.settings.web_base_url.rstrip('/')}/kb/{article_id}"


def thread_root(msg: IncomingMessage, services: Services) -> str:
    """The conversation a message belongs to: the platform thread, else the question it
    replies to (directly, or through the bot's reply), else itself."""
    if msg.chat.thread_id:
        return msg.chat.thread_id
    if msg.reply_to_message_id:
        prior = services.exchanges.for_message(
            msg.chat.platform, msg.chat.chat_id, msg.reply_to_message_id
        )
        if prior is not None:
            return prior.thread_root
        return msg.reply_to_message_id
    return msg.message_id


async def post_card(services: Services, ticket: Ticket, desk: ChatRef) -> bool:
    """Post the ticket's card to one desk chat and record it (the outbox's second half).

    The send is keyed ``card:<ticket>:<desk>`` in the outbox: a card posted but not recorded
    (a crash or the database went away right after the send) is recorded from the outbox's
    row on the next pass instead of being posted again; one whose send timed out is
    ``unknown`` and not re-posted. What goes when is ``bot.desk.queue``'s."""
    reply = await services.db.read(lambda: card_reply(services, ticket, desk))
    key = f"card:{ticket.number}:{desk.platform}:{desk.chat_id}"
    sent = await services.messenger.send(reply, key=key, retry_later=True)
    if sent is None:
        return False

    def record() -> None:
        services.tickets.mark_card_posted(
            ticket.number, sent.platform, sent.chat_id, sent.message_id
        )
        services.links.link(sent.platform, sent.chat_id, sent.message_id, ticket.number, Side.DESK)

    await services.db.write(record)
    return True


def card_in(services: Services, number: str, desk: ChatRef) -> MessageRef | None:
    """The ticket's card in one desk chat, if it was posted there (reads the database)."""
    for card in services.tickets.cards_for(number):
        if card.platform == desk.platform and card.chat_id == desk.chat_id:
            return MessageRef(card.platform, card.chat_id, card.message_id)
    return None


async def refresh_cards(
    services: Services, number: str, desks: tuple[ChatRef, ...] | None = None
) -> None:
    """Re-render the ticket's card in every desk (status, engineer, buttons), or the digest
    that listed it there. An edit spends the desk chat's rate like a message: a desk without
    room for an urgent message after it gets the edit later, from the card outbox."""
    chats = services.settings.desk_chats if desks is None else desks
    later = [d for d in chats if not services.desk_has_room(d)]
    for desk in later:
        services.refresh_later(number, desk)
    held = {(d.platform, d.chat_id) for d in later}
    only = None if desks is None else {(d.platform, d.chat_id) for d in desks}

    def here(desk: ChatRef) -> bool:
        key = (desk.platform, desk.chat_id)
        return key not in held and (only is None or key in only)

    def cards() -> list[tuple[MessageRef, Reply]]:
        ticket = services.tickets.get(number)
        out = []
        for desk in filter(here, chats):
            card = card_in(services, number, desk)
            if card is not None:
                out.append((card, card_reply(services, ticket, desk)))
        digests = DigestStore(services.db.engine)
        for digest in digests.listing(ticket.id or 0):
            desk = ChatRef(digest.platform, digest.chat_id)
            if not here(desk):
                continue
            listed = digests.tickets_of(digest.id or 0)
            buttons = services.settings.desk.digest_buttons
            reply = digest_reply(services, listed, desk, buttons, urgent=digest.urgent)
            out.append((MessageRef(desk.platform, desk.chat_id, digest.message_id or ""), reply))
        return out

    for card, reply in await services.db.read(cards):
        await services.messenger.edit(card, reply)


async def open_ticket_for(
    services: Services,
    hospital: Hospital,
    exchange: Exchange,
    *,
    urgent: bool,
    reply_to: str,
    chat: ChatRef,
) -> Ticket:
    """Open a ticket for an exchange's thread, tell the hospital, and card it to the desk.

    The ticket, its thread's outcome and message links, and the link to a notice the thread
    replied to are written in one transaction: a crash leaves either all of them or none, so
    a later 「还是不行」 never opens a second ticket for the same conversation."""
    if exchange.ticket_number:
        existing = await services.db.read(
            lambda: services.tickets.get(exchange.ticket_number or "")
        )
        if replaying():  # this event opened it before a crash: finish telling the hospital
            await _ticket_opened(services, existing, hospital, urgent, reply_to, chat)
        else:
            await _say_ticket_exists(services, chat, reply_to, existing.number)
        return existing
    thread = await services.db.read(
        lambda: services.exchanges.thread(exchange.platform, exchange.chat_id, exchange.thread_root)
    )
    tried: list[str] = []
    for ex in thread:
        tried.extend(a for a in ex.articles if a not in tried)
    articles = [(a, _title(services, a)) for a in tried]
    opening = _Opening(hospital, exchange, thread, chat, urgent, articles)
    ticket, opened = await services.db.write(lambda: opening.write(services))
    if not opened:  # another message of the thread opened it meanwhile
        await _say_ticket_exists(services, chat, reply_to, ticket.number)
        return ticket
    await _ticket_opened(services, ticket, hospital, urgent, reply_to, chat)
    return ticket


async def _ticket_opened(
    services: Services,
    ticket: Ticket,
    hospital: Hospital,
    urgent: bool,
    reply_to: str,
    chat: ChatRef,
) -> None:
    """After the ticket's transaction: start its clocks, tell the hospital, wake the cards.
    Safe to repeat on a replay (clocks start once, the notice is keyed to the event)."""
    sent = asyncio.Event()  # a P1's paging outcome is told after this notice, never before
    if services.sla is not None:  # clocks start; a P1 pages on-call and lead beside this
        told = await services.sla.ticket_opened(ticket, hospital, sent)
    else:
        told = texts.ticket_opened(ticket.number, urgent)
    correct = category_choices.choices(ticket)  # one tap corrects the bot's guess
    if correct:
        told += texts.category_line(texts.CATEGORY_LABELS.get(ticket.category, ticket.category))
    try:
        notice = await services.messenger.send(
            Reply(chat=chat, text=told, reply_to=reply_to, buttons=(correct,) if correct else ())
        )
    finally:
        sent.set()
    if notice is not None:
        await services.db.write(
            lambda: services.links.link(
                notice.platform, notice.chat_id, notice.message_id, ticket.number, Side.HOSPITAL
            )
        )
    # the card goes out from the outbox, not from here: a saturated desk chat (20 msgs/min on
    # Telegram) must never hold up answers to hospitals
    services.notify_cards()


async def _say_ticket_exists(services: Services, chat: ChatRef, reply_to: str, number: str) -> None:
    await services.messenger.send(
        Reply(chat=chat, text=texts.ticket_exists(number), reply_to=reply_to)
    )


@dataclass(frozen=True)
class _Opening:
    """What ``open_ticket_for`` gathered before writing the ticket in one transaction."""

    hospital: Hospital
    exchange: Exchange
    thread: list[Exchange]
    chat: ChatRef
    urgent: bool
    articles: list[tuple[str, str]]

    def write(self, services: Services) -> tuple[Ticket, bool]:
        """Ticket, outcomes, links, notice link and note in one transaction; returns the
        ticket and whether it is new (False: the exchange already had one)."""
        exchange, thread = self.exchange, self.thread or [self.exchange]
        with transaction(services.db.engine):
            current = services.exchanges.get(exchange.id or 0)
            if current is not None and current.ticket_number:
                return services.tickets.get(current.ticket_number), False
            ticket = services.tickets.open_ticket(
                hospital_id=self.hospital.id,
                reporter_platform=exchange.platform,
                reporter_user_id=exchange.reporter_user_id,
                reporter_name=exchange.reporter_name,
                source_platform=exchange.platform,
                source_chat_id=exchange.chat_id,
                source_message_id=thread[0].question_message_id,
                source_thread_id=self.chat.thread_id,
                question=" / ".join(ex.question for ex in thread),
                # the question's module words: the articles near an escalated question are
                # about something else (bot/tickets/category_guess.py)
                category=guess_category(" / ".join(ex.question for ex in thread)),
                urgency="P1" if self.urgent else "P3",
                articles_tried=self.articles,
                thread=[
                    ThreadEntry("hospital", ex.reporter_name, ex.question, ex.created_at)
                    for ex in self.thread
                ],
            )
            for ex in thread:
                services.exchanges.set_outcome(ex.id or 0, Outcome.ESCALATED, ticket.number)
                for message_id in (ex.question_message_id, ex.reply_message_id):
                    if message_id:
                        services.links.link(
                            ex.platform, ex.chat_id, message_id, ticket.number, Side.HOSPITAL
                        )
            if services.broadcasts is not None:  # a question about a notice: link them
                ids = [m for ex in thread for m in (ex.question_message_id, ex.thread_root)]
                linked = services.broadcasts.link_ticket(
                    ticket.number, exchange.platform, exchange.chat_id, ids
                )
                if linked is not None:
                    services.tickets.add_note(
                        ticket.number, Actor.bot(), f"关联通知 #{linked.id}：{linked.title}"
                    )
            return ticket, True


def _title(services: Services, article_id: str) -> str:
    entry = services.engine.index.get(article_id)
    return entry.title if entry else article_id


def hospital_thread(ticket: Ticket) -> tuple[ChatRef, str]:
    """Where to speak to the hospital about a ticket: its chat/thread, replying to the question."""
    return ChatRef(
        ticket.source_platform, ticket.source_chat_id, ticket.source_thread_id
    ), ticket.source_message_id
