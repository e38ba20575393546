"""Reading tickets: the ticket store's queries (``bot.tickets.store.TicketStore`` adds the
writes). A hospital user's view stops at their own hospital, as in every write."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, exists
from sqlmodel import col, select

from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.sessions import read_session
from bot.tickets import rules
from bot.tickets.errors import InvalidValue, TicketNotFound
from bot.tickets.models import (
    OPEN_STATUSES,
    AuditEntry,
    Status,
    Ticket,
    TicketArticle,
    TicketCard,
    TicketEvent,
    TicketEventDetail,
    TicketMessage,
)
from bot.tickets.numbering import normalise_number

_Row = TypeVar("_Row", TicketMessage, TicketArticle, TicketCard)


class TicketReader:
    """The tickets, their audit log, conversation, articles and desk cards, as stored."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def get(self, number: str, hospital_id: str | None = None) -> Ticket:
        """The ticket; with ``hospital_id``, another hospital's ticket is ``TicketNotFound``
        exactly like a number that does not exist."""
        number = normalise_number(number)
        with read_session(self._engine) as s:
            ticket = rules.find(s, number)
            if hospital_id is not None and ticket.hospital_id != hospital_id:
                raise TicketNotFound(number)
            return ticket

    def list_for_hospital(
        self, hospital_id: str, status: str | None = None, limit: int = 20
    ) -> list[Ticket]:
        """The hospital's tickets, newest first."""
        if status is not None and status not in tuple(Status):
            raise InvalidValue(f"unknown status {status!r} (known: {', '.join(Status)})")
        with read_session(self._engine) as s:
            stmt = select(Ticket).where(Ticket.hospital_id == hospital_id)
            if status is not None:
                stmt = stmt.where(Ticket.status == status)
            stmt = stmt.order_by(col(Ticket.id).desc()).limit(limit)
            return list(s.exec(stmt).all())

    def _ticket_rows(
        self, number: str, model: type[_Row], ticket_id: Any, *order: Any
    ) -> list[_Row]:
        """One ticket's rows of a child table (events, messages, articles, cards), in order."""
        with read_session(self._engine) as s:
            ticket = rules.find(s, normalise_number(number))
            return list(s.exec(select(model).where(ticket_id == ticket.id).order_by(*order)).all())

    def open_tickets(self) -> list[Ticket]:
        """Tickets still to be worked on (new, accepted, in progress), oldest first."""
        with read_session(self._engine) as s:
            stmt = (
                select(Ticket).where(col(Ticket.status).in_(OPEN_STATUSES)).order_by(col(Ticket.id))
            )
            return list(s.exec(stmt).all())

    def events(self, number: str) -> list[AuditEntry]:
        """The audit log of a ticket, in the order it was written, with what each event said
        (unless it was erased)."""
        with read_session(self._engine) as s:
            ticket = rules.find(s, normalise_number(number))
            stmt = (
                select(TicketEvent, TicketEventDetail)
                .join(
                    TicketEventDetail,
                    col(TicketEventDetail.event_id) == col(TicketEvent.id),
                    isouter=True,
                )
                .where(TicketEvent.ticket_id == rules.id_of(ticket))
                .order_by(col(TicketEvent.id))
            )
            return [AuditEntry.of(e, d) for e, d in s.exec(stmt).all()]

    def messages(self, number: str) -> list[TicketMessage]:
        """The conversation carried with the ticket (no internal notes), in order."""
        return self._ticket_rows(
            number,
            TicketMessage,
            TicketMessage.ticket_id,
            col(TicketMessage.at),
            col(TicketMessage.id),
        )

    def articles(self, number: str) -> list[TicketArticle]:
        """The KB articles tried before the ticket was opened, in the order they were offered."""
        return self._ticket_rows(
            number, TicketArticle, TicketArticle.ticket_id, col(TicketArticle.position)
        )

    def cards_for(self, number: str) -> list[TicketCard]:
        """Every card posted for the ticket (one per desk chat), oldest first."""
        return self._ticket_rows(number, TicketCard, TicketCard.ticket_id, col(TicketCard.id))

    def tickets_without_card_in(self, platform: str, chat_id: str | int) -> list[Ticket]:
        """Open tickets with no card in this desk chat yet, most urgent (P1) first, then oldest
        first (each desk is its own outbox: a desk that was down still gets every card)."""
        with read_session(self._engine) as s:
            has_card = exists().where(
                col(TicketCard.ticket_id) == col(Ticket.id),
                col(TicketCard.platform) == platform,
                col(TicketCard.chat_id) == str(chat_id),
            )
            stmt = (
                select(Ticket)
                .where(col(Ticket.status).in_(OPEN_STATUSES), ~has_card)
                .order_by(col(Ticket.urgency), col(Ticket.id))
            )
            return list(s.exec(stmt).all())
