"""Opening a ticket in one transaction, and where a ticket's conversation is.

The ticket, its thread's outcome and message links, and the link to a notice the thread
replied to are written together: a crash leaves either all of them or none, so a later
「还是不行」 never opens a second ticket for the same conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.base import ChatRef, IncomingMessage
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.registry.models import Hospital
from bot.registry.sessions import transaction
from bot.tickets.category_guess import guess_category
from bot.tickets.links import Side
from bot.tickets.models import Ticket
from bot.tickets.store import Actor, ThreadEntry

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
