"""Labels from daily work: which article answers a resolved ticket's question.

The labelled questions are the deployment's own query set: ``history`` turns them into the
``LabelledQuery`` rows that ``intents.evaluate`` measures and calibrates on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import col, select

from bot.infra.clock import Clock, as_utc, utc_now
from bot.kb.loop.models import QuestionLabel, Verdict
from bot.privacy.models import ERASED
from bot.registry.sessions import read_session, write_session
from bot.tickets.models import Status, Ticket
from bot.tickets.numbering import normalise_number, parse_number
from bot.tickets.store import TicketNotFound

#: The form field the KB editor carries when it was opened from a common problem.
PROBLEM_TICKETS_FIELD = "problem_tickets"
#: Tickets adopted by one save at most (a problem page lists far fewer).
MAX_ADOPTED = 500


def problem_tickets(form: Mapping[str, object]) -> tuple[str, ...]:
    """The ticket numbers a KB editor form names as its problem's (space-separated); anything
    that is not a ticket number is dropped."""
    value = form.get(PROBLEM_TICKETS_FIELD)
    return ticket_numbers(value)[0] if isinstance(value, str) else ()


def ticket_numbers(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ticket numbers in whitespace-separated ``text`` (canonical, no repeats, at most
    ``MAX_ADOPTED``), and the words that are not ticket numbers."""
    words = text.split()
    numbers = [w for w in words if parse_number(w) is not None][:MAX_ADOPTED]
    rejected = tuple(w for w in words if parse_number(w) is None)
    return tuple(dict.fromkeys(normalise_number(n) for n in numbers)), rejected


class LabelRefused(ValueError):
    """A label that cannot be recorded (the ticket is not resolved, no article named)."""


@dataclass(frozen=True)
class LabelledTicket:
    """A resolved ticket's question with the engineer's verdict on it."""

    number: str
    hospital_id: str
    category: str
    question: str
    resolution: str
    verdict: Verdict
    article_id: str | None
    created_at: dt.datetime


class LabelStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def record(
        self, number: str, verdict: Verdict, article_id: str | None, engineer_id: str
    ) -> QuestionLabel:
        """Record (or replace) the verdict on a resolved or closed ticket's question."""
        if verdict is Verdict.ARTICLE and not article_id:
            raise LabelRefused("an 'article' label names the article")
        with write_session(self._engine) as s:
            ticket = s.exec(select(Ticket).where(Ticket.number == normalise_number(number))).first()
            if ticket is None or ticket.id is None:
                raise TicketNotFound(number)
            if ticket.status not in (Status.RESOLVED, Status.CLOSED):
                raise LabelRefused(f"ticket {ticket.number} is not resolved")
            row = s.get(QuestionLabel, ticket.id) or QuestionLabel(
                ticket_id=ticket.id, verdict=verdict, labelled_by=engineer_id
            )
            row.verdict = verdict
            row.article_id = article_id if verdict is Verdict.ARTICLE else None
            row.labelled_by = engineer_id
            row.labelled_at = as_utc(self._clock())
            s.add(row)
        return row

    def adopt(self, numbers: Sequence[str], article_id: str, engineer_id: str | None) -> int:
        """An article was published for these tickets' problem: their "new article" labels
        (and missing ones) now name it, so the history expects the bot to answer with it.
        "无需文章" and other articles' labels are kept. Returns how many changed.

        ``engineer_id`` None (an import from files has no signed-in engineer): each label is
        recorded in the name of who labelled it, or of the engineer who took the ticket."""
        changed = 0
        for number in numbers:
            label = self.get(number)
            if label is None or label.verdict == Verdict.NEW:
                who = engineer_id or (label.labelled_by if label else self._accepted_by(number))
                if not who:
                    continue
                try:
                    self.record(number, Verdict.ARTICLE, article_id, who)
                except (LabelRefused, TicketNotFound):  # reopened meanwhile, or purged
                    continue
                changed += 1
        return changed

    def _accepted_by(self, number: str) -> str | None:
        with read_session(self._engine) as s:
            stmt = select(Ticket.accepted_by).where(Ticket.number == normalise_number(number))
            return s.exec(stmt).first()

    def get(self, number: str) -> QuestionLabel | None:
        with read_session(self._engine) as s:
            stmt = (
                select(QuestionLabel)
                .join(Ticket, col(Ticket.id) == col(QuestionLabel.ticket_id))
                .where(Ticket.number == normalise_number(number))
            )
            return s.exec(stmt).first()

    def labelled(self, since: dt.datetime | None = None) -> list[LabelledTicket]:
        """Every labelled ticket whose question was not erased, oldest first."""
        with read_session(self._engine) as s:
            stmt = (
                select(Ticket, QuestionLabel)
                .join(QuestionLabel, col(QuestionLabel.ticket_id) == col(Ticket.id))
                .order_by(col(Ticket.id))
            )
            if since is not None:
                stmt = stmt.where(col(Ticket.created_at) >= as_utc(since))
            rows = s.exec(stmt).all()
        return [
            LabelledTicket(
                number=t.number,
                hospital_id=t.hospital_id,
                category=t.category,
                question=t.question,
                resolution=t.resolution or "",
                verdict=Verdict(label.verdict),
                article_id=label.article_id,
                created_at=t.created_at,
            )
            for t, label in rows
            if t.question.strip() and t.question != ERASED
        ]
