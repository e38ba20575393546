"""「同问」「我们这边也是」: someone else has the problem just reported — one ticket, every
reporter on it, and enough of them make it an outage (``TicketFlow.joins``, ``bot.tickets.joins``).

What the message refers to: the ticket of the chat's previous message from someone else (its
question, or an earlier 「我也是」 that joined it), opened within ``same_problem_minutes``; a
message that @-mentions the bot (DingTalk and WeCom robots see nothing else of a group) takes
the chat's newest open ticket of someone else in that window; a reply to the ticket's messages
is the ticket-thread hook's and joins at any age. Otherwise the message is decided as usual
(talk between people: left alone).

Only the explicit 「我也是」 joins. Matching two people's own descriptions of a problem was
measured over our KB query sets and rejected (``scripts/same_problem_signals.py``): pairs of
questions about one article share too few words (overlap ≥ 0.5 for 0.3 % of them, with one
merge in four wrong) and their embeddings are about as close as those of questions about
neighbouring articles (precision 0.56 at cosine 0.94).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from adapters.base import IncomingMessage
from bot.infra.clock import as_utc
from bot.tickets.links import LinkStore
from bot.tickets.models import OPEN_STATUSES, Ticket

#: A chat (or one thread of it): (platform, chat, thread).
ChatKey = tuple[str, str, str]


@dataclass(frozen=True)
class Heard:
    """A person's message in a hospital chat, as the group saw it."""

    message_id: str
    user_id: str
    at: dt.datetime


def chat_key(msg: IncomingMessage) -> ChatKey:
    return (msg.chat.platform, msg.chat.chat_id, msg.chat.thread_id or "")


class LastSpeakers:
    """The last two messages of each chat, in memory (one small queue per registered chat;
    a restart forgets them, and a 「我也是」 right after it is decided as usual)."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._chats: dict[ChatKey, deque[Heard]] = {}

    def heard(self, msg: IncomingMessage) -> None:
        recent = self._chats.setdefault(chat_key(msg), deque(maxlen=2))
        if recent and recent[-1].message_id == msg.message_id:
            recent.pop()  # an edit is the same message
        recent.append(Heard(msg.message_id, msg.sender.user_id, self._clock()))

    def before(self, msg: IncomingMessage) -> Heard | None:
        """The chat's latest message other than ``msg``."""
        for heard in reversed(self._chats.get(chat_key(msg), ())):
            if heard.message_id != msg.message_id:
                return heard
        return None


def referred_ticket(
    session: Session,
    links: LinkStore,
    msg: IncomingMessage,
    before: Heard | None,
    since: dt.datetime,
) -> str | None:
    """The number of the ticket a 「我也是」 refers to, if any (a read: call it through the
    database gateway). The ticket may still turn out closed or the sender's own:
    ``join_same_problem`` decides in its transaction."""
    platform, chat_id = msg.chat.platform, msg.chat.chat_id
    own = links.ticket_for(platform, chat_id, msg.message_id)
    if own is not None:  # a replay of a 「我也是」 that joined before a crash (memory is gone)
        return own.ticket_number
    if before is not None and before.user_id != msg.sender.user_id and before.at >= since:
        link = links.ticket_for(platform, chat_id, before.message_id)
        if link is not None:
            return link.ticket_number
    if not msg.mentions_bot:
        return None
    newest = session.exec(
        select(Ticket)
        .where(
            Ticket.source_platform == platform,
            Ticket.source_chat_id == chat_id,
            col(Ticket.status).in_(OPEN_STATUSES),
            col(Ticket.created_at) >= as_utc(since),
            Ticket.reporter_user_id != msg.sender.user_id,
        )
        .order_by(col(Ticket.id).desc())
    ).first()
    return None if newest is None else newest.number
