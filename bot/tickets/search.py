"""Finding tickets: the filters of the console's ticket list and its full-text search.

Full text is a case-insensitive substring match (``LIKE``) over the number, question,
resolution, reporter and every message of the conversation. Chinese has no word boundaries
for a tokenizer to find, and a support desk's volume (thousands of tickets a year) is well
within what a scan answers quickly; the same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, or_
from sqlmodel import col, select

from bot.registry.sessions import read_session
from bot.tickets.models import OPEN_STATUSES, Ticket, TicketMessage


@dataclass(frozen=True)
class TicketQuery:
    """Every field narrows the result; None/empty means "any". Times are aware UTC bounds
    (``opened_from`` inclusive, ``opened_before`` exclusive)."""

    hospital_id: str | None = None
    status: str | None = None  # a Status value, or "open" for new/accepted/in progress
    urgency: str | None = None
    category: str | None = None
    engineer_id: str | None = None
    opened_from: dt.datetime | None = None
    opened_before: dt.datetime | None = None
    text: str = ""
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches_text(dialect: str, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match over a ticket and its conversation. SQLite's LIKE is
    already case-insensitive (ASCII), PostgreSQL needs ILIKE; the messages are matched with
    one ``IN (SELECT …)`` rather than a correlated EXISTS per ticket (3× faster at 50k)."""
    pattern = _like(text)

    def like(column: Any) -> ColumnElement[bool]:
        if dialect == "postgresql":
            return column.ilike(pattern, escape="\\")  # type: ignore[no-any-return]
        return column.like(pattern, escape="\\")  # type: ignore[no-any-return]

    in_messages = col(Ticket.id).in_(
        select(TicketMessage.ticket_id).where(like(col(TicketMessage.text)))
    )
    return or_(
        like(col(Ticket.number)),
        like(col(Ticket.question)),
        like(func.coalesce(col(Ticket.resolution), "")),
        like(col(Ticket.reporter_name)),
        in_messages,
    )


def find_tickets(engine: Engine, query: TicketQuery) -> TicketPage:
    """One page of matching tickets, newest first, with the total count."""
    conditions = []
    if query.hospital_id:
        conditions.append(col(Ticket.hospital_id) == query.hospital_id)
    if query.status == "open":
        conditions.append(col(Ticket.status).in_(OPEN_STATUSES))
    elif query.status:
        conditions.append(col(Ticket.status) == query.status)
    if query.urgency:
        conditions.append(col(Ticket.urgency) == query.urgency)
    if query.category:
        conditions.append(col(Ticket.category) == query.category)
    if query.engineer_id:
        conditions.append(col(Ticket.accepted_by) == query.engineer_id)
    if query.opened_from:
        conditions.append(col(Ticket.created_at) >= query.opened_from)
    if query.opened_before:
        conditions.append(col(Ticket.created_at) < query.opened_before)
    text = query.text.strip()
    if text:
        conditions.append(_matches_text(engine.dialect.name, text))
    page = max(1, query.page)
    with read_session(engine) as s:
        total = s.exec(select(func.count()).select_from(Ticket).where(*conditions)).one()
        rows = s.exec(
            select(Ticket)
            .where(*conditions)
            .order_by(col(Ticket.id).desc())
            .offset((page - 1) * query.per_page)
            .limit(query.per_page)
        ).all()
    return TicketPage(list(rows), int(total), page, query.per_page)
