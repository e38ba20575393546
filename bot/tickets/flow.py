"""The ticket flow: opening, claiming, relaying and resolving tickets, from any surface.

The conversation pipeline, the chat desk (``bot/desk/commands.py``), the web console
(``bot/web``), the workflows and the SLA watch (``SystemNotes``) all write tickets through it,
so a claim, a resolution or a reply follows the same rules and has the same effects wherever
it is done: the ticket store decides (and audits), the hospital's thread is told, the desk
cards are re-rendered. Callers use this one object; it opens tickets and works them
(claim, resolve, reopen, assign, classify, notes) here, and leaves what is said in a ticket's
chats and kept on it — the hospital's thread, the engineers' replies, the hospital's
follow-ups, relays to the desks — to its ``Relays`` (``bot.tickets.relaying``). Only these
modules and the transactions the flow runs (``bot.tickets.opening``; the console's, whose
tellings go through the inbox: ``bot.tickets.console_actions``) call the store's writing
methods (``tests/unit/test_flow_owns_writes.py``). Errors are the ticket store's
(``TicketError`` and subclasses); each surface turns them into its own sentences
(``bot.tickets.operations.explain``).

Opening a ticket follows one order everywhere, because the contract's audit record must
survive a crash: write the ticket (its articles, thread, outcomes and links in one
transaction, ``bot.tickets.opening``) → tell the hospital → post the card to the engineers'
desk → record that the card was posted. A crash after the first step leaves a ticket without
a card, which the card outbox (``bot.desk.queue``) sends on the next start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from adapters.base import Button, ChatRef, MessageRef, Reply
from bot import texts
from bot.conversation import category_choices
from bot.conversation.exchanges import Exchange, ExchangeStore
from bot.desk.posting import DeskCards
from bot.inbox.scope import replaying
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Engineer, Hospital
from bot.tickets.joins import Joins
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import EventKind, Status, Ticket
from bot.tickets.opening import (
    DirectTicket,
    Opening,
    PhoneCall,
    phone_ticket,
)
from bot.tickets.operations import WEB_PLATFORM
from bot.tickets.relaying import Relays
from bot.tickets.store import Actor, AlreadyClaimed, By, InvalidTransition, TicketStore

if TYPE_CHECKING:
    from bot.broadcasts import Broadcasts
    from bot.sla.watch import SlaWatch
    from bot.tickets.services import BotSettings, DeskNotifier


#: Audit events that change a ticket's state (a reopening is a replay's only when it is the
#: last of these).
_STATE_CHANGES = (
    EventKind.ACCEPTED,
    EventKind.STATUS_CHANGED,
    EventKind.RESOLVED,
    EventKind.CLOSED,
    EventKind.REOPENED,
)


class TicketFlow:
    """Every change of a ticket that someone else must hear about: the store's transition,
    then the hospital's thread, the incident's reporters and the desk cards."""

    def __init__(
        self,
        *,
        db: Database,
        tickets: TicketStore,
        exchanges: ExchangeStore,
        links: LinkStore,
        messenger: Messenger,
        settings: BotSettings,
        desk: DeskNotifier,
        cards: DeskCards,
        title: Callable[[str], str],
        redact: Callable[[str], str],
        sla: SlaWatch | None = None,
        broadcasts: Broadcasts | None = None,
    ) -> None:
        """``desk``: wakes the card outbox and says whether a desk chat has room; ``cards``:
        the tickets' cards in the desk chats; ``title``: an article's title by its id (the
        answer engine's current index); ``redact``: masks personal data in text typed on the
        web; ``sla``: starts a ticket's clocks and says what the hospital is promised (None:
        ``[sla]`` off); ``broadcasts``: links a question about a notice to it (None: tests
        that wire no notices)."""
        self.db = db
        self.tickets = tickets
        self.exchanges = exchanges
        self.links = links
        self.messenger = messenger
        self.settings = settings
        self.desk = desk
        self.cards = cards
        self.title = title
        self.redact = redact
        self.sla = sla
        self.broadcasts = broadcasts
        #: What is said in the ticket's chats and kept on it (``bot.tickets.relaying``).
        self.relays = Relays(
            db=db,
            tickets=tickets,
            links=links,
            messenger=messenger,
            settings=settings,
            desk=desk,
            cards=cards,
        )
        #: Reports joining a ticket someone else opened (``bot.tickets.joins``).
        self.joins = Joins(
            db=db,
            tickets=tickets,
            exchanges=exchanges,
            links=links,
            messenger=messenger,
            cards=cards,
            relays=self.relays,
            sla=sla,
        )

    # -- opening -----------------------------------------------------------------------------

    async def open(
        self, hospital: Hospital, exchange: Exchange, *, urgent: bool, reply_to: str, chat: ChatRef
    ) -> Ticket:
        """Open a ticket for an exchange's thread, tell the hospital, and wake the cards.

        Written in one transaction (``Opening``): a crash leaves either the whole opening or
        none of it. A replay of the event that opened it finishes telling the hospital."""
        if exchange.ticket_number:
            number = exchange.ticket_number
            existing = await self.db.read(lambda: self.tickets.get(number))
            if replaying():  # this event opened it before a crash: finish telling the hospital
                await self._opened(existing, hospital, urgent, reply_to, chat)
            else:
                await self._say_exists(chat, reply_to, existing.number)
            return existing
        thread = await self.db.read(
            lambda: self.exchanges.thread(exchange.platform, exchange.chat_id, exchange.thread_root)
        )
        tried: list[str] = []
        for ex in thread:
            tried.extend(a for a in ex.articles if a not in tried)
        opening = Opening(
            hospital, exchange, thread, chat, urgent, [(a, self.title(a)) for a in tried]
        )
        ticket, opened = await self.db.write(lambda: opening.write(self))
        if not opened:  # another message of the thread opened it meanwhile
            await self._say_exists(chat, reply_to, ticket.number)
            return ticket
        await self._opened(ticket, hospital, urgent, reply_to, chat)
        return ticket

    async def _opened(
        self, ticket: Ticket, hospital: Hospital, urgent: bool, reply_to: str, chat: ChatRef
    ) -> None:
        """After the ticket's transaction: start its clocks, tell the hospital, wake the cards.
        Safe to repeat on a replay (clocks start once, the notice is keyed to the event)."""
        sent = asyncio.Event()  # a P1's paging outcome is told after this notice, never before
        if self.sla is not None:  # clocks start; a P1 pages on-call and lead beside this
            told = await self.sla.ticket_opened(ticket, hospital, sent)
        else:
            told = texts.ticket_opened(ticket.number, urgent)
        correct = category_choices.choices(ticket)  # one tap corrects the bot's guess
        if correct:
            told += texts.category_line(texts.CATEGORY_LABELS.get(ticket.category, ticket.category))
        try:
            notice = await self.messenger.send(
                Reply(
                    chat=chat, text=told, reply_to=reply_to, buttons=(correct,) if correct else ()
                )
            )
        finally:
            sent.set()
        if notice is not None:
            await self.db.write(partial(self.relays.link, notice, ticket.number, Side.HOSPITAL))
        # the card goes out from the outbox, not from here: a saturated desk chat (20 msgs/min
        # on Telegram) must never hold up answers to hospitals
        self.desk.notify()

    async def _say_exists(self, chat: ChatRef, reply_to: str, number: str) -> None:
        await self.messenger.send(
            Reply(chat=chat, text=texts.ticket_exists(number), reply_to=reply_to)
        )

    def register_web_ticket(
        self,
        hospital: Hospital,
        *,
        reporter_id: str,
        reporter_name: str,
        question: str,
        category: str,
        urgency: str,
        now: dt.datetime,
    ) -> Ticket:
        """A ticket registered on the web form (runs on the database's writer). The text is
        redacted here, like chat questions; the card goes to the desks through the outbox."""
        clean = self.redact(question.strip())
        form = DirectTicket(
            WEB_PLATFORM, hospital, reporter_id, reporter_name, clean, now, category, urgency
        )
        ticket = form.write(self.tickets)
        self.desk.notify()
        return ticket

    def open_phone_ticket(self, call: PhoneCall, then: Callable[[Ticket], object]) -> Ticket:
        """A phone call's ticket, opened and accepted with ``then`` (its level) in one
        transaction (runs on the database's writer); the card goes out through the outbox."""
        ticket = phone_ticket(self.db.engine, self.tickets, call, then)
        self.desk.notify()
        return ticket

    # -- engineers ---------------------------------------------------------------------------

    async def claim(self, number: str, engineer: Engineer) -> Ticket:
        """Accept a new ticket (atomic: one winner), update the cards and tell the hospital."""
        try:
            ticket = await self.db.write(lambda: self.tickets.claim(number, engineer.id))
        except AlreadyClaimed as exc:
            if not (replaying() and exc.engineer_id == engineer.id):
                raise
            # a replay of this very claim (a crash came before the hospital was told): finish it
            ticket = await self.db.read(lambda: self.tickets.get(number))
        await self.tell_claimed(ticket, engineer.name)
        return ticket

    async def resolve(self, number: str, engineer: Engineer, resolution: str) -> Ticket:
        """Resolve with the required resolution text and tell the hospital (and everyone who
        joined the incident) how."""
        try:
            ticket = await self.db.write(
                lambda: self.tickets.resolve(number, engineer.id, resolution)
            )
        except InvalidTransition as exc:
            done = await self.db.read(lambda: self.tickets.get(number))
            if not (replaying() and exc.from_status == Status.RESOLVED):
                raise
            if done.resolution != resolution.strip():
                raise
            ticket = done  # a replay of this very /resolve: finish telling the hospital
        await self.tell_resolved(ticket, resolution)
        return ticket

    async def reopen(self, number: str, engineer: Engineer, reason: str) -> Ticket:
        why = reason or "重新打开"
        try:
            ticket = await self.db.write(lambda: self.tickets.reopen(number, engineer.id, why))
        except InvalidTransition:
            replayed = await self._replayed_reopen(number, why)
            if replayed is None:
                raise
            ticket = replayed  # a replay of this very reopen: finish telling the hospital
        await self.tell_reopened(ticket)
        return ticket

    async def _replayed_reopen(self, number: str, reason: str) -> Ticket | None:
        """The ticket, when the event being replayed already reopened it (its last change of
        state is a reopening with this reason: a crash came before anyone was told); else
        None, and the refusal stands."""
        if not replaying():
            return None
        events = await self.db.read(lambda: self.tickets.events(number))
        changes = [e for e in events if e.kind in _STATE_CHANGES]
        if not changes or changes[-1].kind != EventKind.REOPENED:
            return None
        if (changes[-1].text or "") != reason.strip():
            return None
        return await self.db.read(lambda: self.tickets.get(number))

    # What each change makes known, wherever it was made: the chat's command above, or the
    # console's inbox event (``bot.tickets.console_actions.TicketTelling``) after the same
    # change was committed with it.

    async def tell_claimed(self, ticket: Ticket, engineer_name: str) -> None:
        """The cards show who took it; the hospital hears it."""
        await self.cards.refresh(ticket.number)
        await self.tell_hospital(ticket, texts.accepted(engineer_name, ticket.number))

    async def tell_resolved(self, ticket: Ticket, resolution: str) -> None:
        """The hospital and everyone who joined the incident hear how; the cards show it."""
        told = texts.resolved(ticket.number, resolution)
        await self.tell_hospital(ticket, told)
        await self.relays.tell_reporters(ticket, told)
        await self.cards.refresh(ticket.number)

    async def tell_reopened(self, ticket: Ticket) -> None:
        await self.tell_hospital(ticket, texts.reopened(ticket.number))
        await self.cards.refresh(ticket.number)

    async def tell_hospital_reopened(
        self, ticket: Ticket, hospital_name: str, author_name: str, reason: str
    ) -> None:
        """The hospital reopened it: the cards show it, the desks hear why."""
        await self.cards.refresh(ticket.number)
        body = f"重新打开：{reason or '问题仍未解决'}"
        await self.relay_to_desks(ticket, hospital_name, author_name, body)

    async def assign(self, number: str, target: Engineer, by: Engineer) -> Ticket:
        ticket = await self.db.write(lambda: self.tickets.assign(number, target.id, by.id))
        await self.cards.refresh(ticket.number)
        return ticket

    async def classify(
        self, number: str, engineer: Engineer, category: str, urgency: str
    ) -> Ticket:
        """Correct the service category and urgency (the bot only suggests them; the reports
        and the contract's record count the corrected values). Each change is an audit event;
        a new urgency gives the ticket's SLA clocks its targets."""
        before = await self.db.read(lambda: self.tickets.get(number))

        def change() -> Ticket:
            ticket = self.tickets.get(number)
            if category != ticket.category:
                ticket = self.tickets.set_category(number, category, engineer.id)
            if urgency != ticket.urgency:
                ticket = self.tickets.set_urgency(number, urgency, engineer.id)
            return ticket

        ticket = await self.db.write(change)
        if self.sla is not None and ticket.urgency != before.urgency:
            await self.sla.urgency_changed(ticket)
        await self.cards.refresh(ticket.number)
        return ticket

    async def correct_category(self, number: str, category: str, by: By) -> Ticket:
        """One tap on a category button (an engineer, or the reporter on their own ticket):
        the store's audited ``category_changed`` event, then the cards are re-rendered."""
        ticket = await self.db.write(lambda: self.tickets.set_category(number, category, by))
        await self.cards.refresh(ticket.number)
        return ticket

    async def note(self, number: str, engineer: Engineer, text: str) -> None:
        """An internal note: recorded in the audit trail, never shown to the hospital."""
        await self.db.write(lambda: self.tickets.add_note(number, engineer.id, text))

    # -- relaying (``bot.tickets.relaying``) ------------------------------------------------

    async def tell_hospital(
        self, ticket: Ticket, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> MessageRef | None:
        """Say something in the ticket's hospital thread, linked to the ticket."""
        return await self.relays.tell_hospital(ticket, text, buttons)

    async def reply_to_hospital(
        self, number: str, engineer: Engineer, text: str, source: MessageRef | None = None
    ) -> MessageRef | None:
        """An engineer's message to the hospital: kept on the ticket, then relayed."""
        return await self.relays.reply_to_hospital(number, engineer, text, source)

    async def relay_to_desks(
        self, ticket: Ticket, hospital_name: str, author_name: str, body: str
    ) -> None:
        """Show a hospital's message on the ticket's card in every desk with room."""
        await self.relays.relay_to_desks(ticket, hospital_name, author_name, body)

    # -- hospitals ---------------------------------------------------------------------------

    async def hospital_reopen(
        self, ticket: Ticket, hospital: Hospital, author: Actor, author_name: str, reason: str
    ) -> Ticket:
        """The hospital says a resolved ticket is not solved: back to its engineer, who is told."""
        why = reason or "医院反馈问题仍未解决"
        try:
            reopened = await self.db.write(lambda: self.tickets.reopen(ticket.number, author, why))
        except InvalidTransition:
            replayed = await self._replayed_reopen(ticket.number, why)
            if replayed is None:
                raise
            reopened = replayed  # a replay of this very reopen: finish telling the desks
        await self.tell_hospital_reopened(reopened, hospital.name, author_name, reason)
        return reopened

    async def hospital_close(self, ticket: Ticket, author: Actor) -> Ticket:
        """The hospital confirms its resolved ticket is done (the console's 关闭)."""
        return await self.db.write(lambda: self.tickets.close(ticket.number, author))


class SystemNotes:
    """Audit notes the bot's own machinery writes on tickets (the SLA watch's warnings,
    pages and pauses). Built before the flow, which needs the SLA watch to open tickets."""

    def __init__(self, db: Database, tickets: TicketStore, who: str) -> None:
        self._db = db
        self._tickets = tickets
        self._actor = Actor.system(who)

    async def note(self, number: str, text: str) -> None:
        tickets, actor = self._tickets, self._actor
        await self._db.write(lambda: tickets.add_note(number, actor, text))
