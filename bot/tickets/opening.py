"""How tickets come in, each in one transaction, and where a ticket's conversation is.

A chat question's ticket (``Opening``): the ticket, its thread's outcome and message links,
and the link to a notice the thread replied to are written together: a crash leaves either
all of them or none, so a later 「还是不行」 never opens a second ticket for the same
conversation. A phone call's ticket (``phone_ticket``) is opened, accepted and given its
level together; an outage report joining the hospital's open P1 (``join_incident``) records
its exchange, link, message and reporter together.

These run on the database's writer for ``TicketFlow`` (``bot.tickets.flow``), which tells
the hospital and the desks afterwards; only the flow (with its relays) and this module call
the ticket store's writing methods (``tests/unit/test_flow_owns_writes.py``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from adapters.base import ChatRef, IncomingMessage
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.conversation.said import Said, record
from bot.infra.clock import as_utc
from bot.registry.models import Engineer, Hospital
from bot.registry.sessions import transaction
from bot.tickets import incidents
from bot.tickets.category_guess import guess_category
from bot.tickets.incidents import IncidentReporter
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import Direction, Ticket
from bot.tickets.store import Actor, ThreadEntry, TicketNotFound, TicketStore

if TYPE_CHECKING:
    from bot.tickets.flow import TicketFlow


def thread_root(msg: IncomingMessage, exchanges: ExchangeStore) -> str:
    """The conversation a message belongs to: the platform thread, else the question it
    replies to (directly, or through the bot's reply), else itself (reads the database)."""
    if msg.chat.thread_id:
        return msg.chat.thread_id
    if msg.reply_to_message_id:
        prior = exchanges.for_message(msg.chat.platform, msg.chat.chat_id, msg.reply_to_message_id)
        if prior is not None:
            return prior.thread_root
        return msg.reply_to_message_id
    return msg.message_id


def hospital_thread(ticket: Ticket) -> tuple[ChatRef, str]:
    """Where to speak to the hospital about a ticket: its chat/thread, replying to the question."""
    return ChatRef(
        ticket.source_platform, ticket.source_chat_id, ticket.source_thread_id
    ), ticket.source_message_id


@dataclass(frozen=True)
class Opening:
    """What ``TicketFlow.open`` gathered before writing the ticket in one transaction."""

    hospital: Hospital
    exchange: Exchange
    thread: list[Exchange]
    chat: ChatRef
    urgent: bool
    articles: list[tuple[str, str]]

    def write(self, flow: TicketFlow) -> tuple[Ticket, bool]:
        """Ticket, outcomes, links, notice link and note in one transaction; returns the
        ticket and whether it is new (False: the exchange already had one)."""
        exchange, thread = self.exchange, self.thread or [self.exchange]
        with transaction(flow.db.engine):
            current = flow.exchanges.get(exchange.id or 0)
            if current is not None and current.ticket_number:
                return flow.tickets.get(current.ticket_number), False
            question = " / ".join(ex.question for ex in thread)
            ticket = flow.tickets.open_ticket(
                hospital_id=self.hospital.id,
                reporter_platform=exchange.platform,
                reporter_user_id=exchange.reporter_user_id,
                reporter_name=exchange.reporter_name,
                source_platform=exchange.platform,
                source_chat_id=exchange.chat_id,
                source_message_id=thread[0].question_message_id,
                source_thread_id=self.chat.thread_id,
                question=question,
                # the question's module words: the articles near an escalated question are
                # about something else (bot/tickets/category_guess.py)
                category=guess_category(question),
                urgency="P1" if self.urgent else "P3",
                articles_tried=self.articles,
                thread=[
                    ThreadEntry("hospital", ex.reporter_name, ex.question, ex.created_at)
                    for ex in self.thread
                ],
            )
            for ex in thread:
                flow.exchanges.set_outcome(ex.id or 0, Outcome.ESCALATED, ticket.number)
                for message_id in (ex.question_message_id, ex.reply_message_id):
                    if message_id:
                        flow.links.link(
                            ex.platform, ex.chat_id, message_id, ticket.number, Side.HOSPITAL
                        )
            if flow.broadcasts is not None:  # a question about a notice: link them
                ids = [m for ex in thread for m in (ex.question_message_id, ex.thread_root)]
                linked = flow.broadcasts.link_ticket(
                    ticket.number, exchange.platform, exchange.chat_id, ids
                )
                if linked is not None:
                    flow.tickets.add_note(
                        ticket.number, Actor.bot(), f"关联通知 #{linked.id}：{linked.title}"
                    )
            return ticket, True


#: A phone ticket's reporter and source platform (its channel).
PHONE = "phone"


@dataclass(frozen=True)
class DirectTicket:
    """A ticket registered directly rather than from a chat thread: on the console's form
    (channel ``web``) or for a phone call (``phone``); its texts already redacted."""

    channel: str
    hospital: Hospital
    reporter_id: str
    reporter_name: str
    question: str
    now: dt.datetime
    category: str = "consult"
    urgency: str = "P3"

    def write(self, tickets: TicketStore) -> Ticket:
        ref = "call" if self.channel == PHONE else "form"
        return tickets.open_ticket(
            hospital_id=self.hospital.id,
            reporter_platform=self.channel,
            reporter_user_id=self.reporter_id,
            reporter_name=self.reporter_name,
            source_platform=self.channel,
            source_chat_id=self.hospital.id,
            source_message_id=f"{ref}-{secrets.token_hex(6)}",
            question=self.question,
            category=self.category,
            urgency=self.urgency,
            thread=[ThreadEntry(Direction.HOSPITAL, self.reporter_name, self.question, self.now)],
        )


@dataclass(frozen=True)
class PhoneCall:
    """A call ``engineer`` took, to register as ``ticket`` (channel ``phone``) they accept."""

    engineer: Engineer
    ticket: DirectTicket


def phone_ticket(
    engine: Engine, tickets: TicketStore, call: PhoneCall, then: Callable[[Ticket], object]
) -> Ticket:
    """Open a ticket for a call and accept it for the engineer who took it, and ``then``
    (its escalation level) in the same transaction: a crash leaves all or nothing."""
    with transaction(engine):
        ticket = call.ticket.write(tickets)
        ticket = tickets.claim(ticket.number, call.engineer.id)
        then(ticket)
        return ticket


class OfflinePhoneTickets:
    """Phone tickets registered with no bot running (the ``service call`` CLI): the same
    transaction as ``TicketFlow.open_phone_ticket``; the card goes out when the bot's card
    outbox next looks for tickets without one."""

    def __init__(self, engine: Engine, tickets: TicketStore) -> None:
        self._engine = engine
        self._tickets = tickets

    def open_phone_ticket(self, call: PhoneCall, then: Callable[[Ticket], object]) -> Ticket:
        return phone_ticket(self._engine, self._tickets, call, then)


#: The stores a report joining a ticket writes to, in one transaction.
JoinStores = tuple[TicketStore, ExchangeStore, LinkStore]


@dataclass(frozen=True)
class IncidentReport:
    """A report that may join an open ticket someone else opened: an outage joining the
    hospital's open P1 (``join_incident``), or 「我们这边也是」 joining the ticket it refers
    to (``join_same_problem``)."""

    msg: IncomingMessage
    hospital: Hospital
    #: The report's text, already redacted.
    text: str
    #: The ticket must have been opened since then.
    since: dt.datetime
    now: dt.datetime


def join_incident(
    engine: Engine,
    stores: JoinStores,
    report: IncidentReport,
) -> tuple[Ticket, int] | None:
    """Join the report to the hospital's newest P1 opened since ``report.since`` (None:
    there is none), in one transaction (``_join``); returns the ticket and how many people
    reported it in all."""
    with transaction(engine):
        ticket = incidents.open_incident(engine, report.hospital.id, report.since)
        if ticket is None:
            return None
        return ticket, _join(engine, stores, report, ticket)


def join_same_problem(
    engine: Engine,
    stores: JoinStores,
    report: IncidentReport,
    number: str,
) -> tuple[Ticket, int] | None:
    """Join the report to ticket ``number`` of the report's hospital, in one transaction
    (``_join``). None when the ticket is closed, older than ``report.since``, or the
    sender's own (their repeat is the same-question step's). A replay of a report that
    joined before a crash writes nothing again and returns the same count."""
    tickets, _, links = stores
    msg = report.msg
    with transaction(engine):
        try:
            ticket = tickets.get(number, hospital_id=report.hospital.id)
        except TicketNotFound:
            return None
        linked = links.ticket_for(msg.chat.platform, msg.chat.chat_id, msg.message_id)
        if linked is not None and linked.ticket_number == ticket.number:
            # joined before a crash: a replay finishes telling, whatever the ticket's age now
            return ticket, incidents.count(engine, ticket)
        own = (ticket.reporter_platform, ticket.reporter_user_id) == (
            msg.chat.platform,
            msg.sender.user_id,
        )
        if own or not ticket.is_open or as_utc(ticket.created_at) < as_utc(report.since):
            return None
        return ticket, _join(engine, stores, report, ticket)


def leave_same_problem(
    engine: Engine,
    stores: JoinStores,
    number: str,
    hospital_id: str,
    platform: str,
    user_id: str,
) -> Ticket | None:
    """Take the hospital user ``platform``/``user_id`` (who joined with 「我也是」) off ticket
    ``number``, in one transaction: their reporter row goes, their messages no longer belong
    to the ticket, and the audit log says so (with the name their gated message carried).
    None when they had not joined it."""
    tickets, _, links = stores
    with transaction(engine):
        try:
            ticket = tickets.get(number, hospital_id=hospital_id)
        except TicketNotFound:
            return None
        rows = incidents.leave(engine, ticket, platform, user_id)
        if not rows:
            return None
        for row in rows:
            links.unlink(row.platform, row.chat_id, row.message_id, ticket.number)
        name = rows[0].name or user_id
        tickets.add_note(ticket.number, Actor.bot(), f"{name} 表示不是同一问题，已移出报告人")
        return ticket


def _join(
    engine: Engine,
    stores: JoinStores,
    report: IncidentReport,
    ticket: Ticket,
) -> int:
    """Inside the caller's transaction: the report recorded as an escalated exchange of the
    ticket, its message linked to and kept on the ticket, and the reporter added to it;
    returns how many people reported it in all."""
    tickets, exchanges, links = stores
    msg, hospital = report.msg, report.hospital
    said = Said.of(msg, report.text)
    decision = "urgent" if ticket.urgency == "P1" else "escalate"
    exchange = record(exchanges, hospital, said, msg.message_id, Outcome.PENDING, decision)
    exchanges.set_outcome(exchange.id or 0, Outcome.ESCALATED, ticket.number)
    links.link(msg.chat.platform, msg.chat.chat_id, msg.message_id, ticket.number, Side.HOSPITAL)
    tickets.append_message(
        ticket.number, Direction.HOSPITAL, said.author(hospital), report.text, msg.ref
    )
    return incidents.join(
        engine,
        ticket,
        IncidentReporter(
            ticket_id=ticket.id or 0,
            platform=msg.chat.platform,
            chat_id=msg.chat.chat_id,
            thread_id=msg.chat.thread_id,
            message_id=msg.message_id,
            user_id=msg.sender.user_id,
            name=msg.sender.display_name,
            joined_at=report.now,
        ),
    )
