"""Ticket numbers: "2026-000123", the year and a per-year sequence, zero-padded to six digits.

Numbers are handed out from one ``ticket_counter`` row per year, inside the transaction that
inserts the ticket, so a rolled-back ticket gives its number back and no two tickets ever share
one:

* PostgreSQL: the year's row is created if missing (``INSERT ... ON CONFLICT DO NOTHING``),
  then read with ``SELECT ... FOR UPDATE``: a concurrent transaction waits on the row lock until
  this one commits, then reads the incremented value.
* SQLite: the store's write transactions start with ``BEGIN IMMEDIATE`` (see
  ``bot.registry.sessions``), so the whole read-increment-insert runs under the database's
  write lock.

Sequences start at 1 each year; the year is the store's clock read in its ``year_zone`` (the
hospitals' wall clock, ``[reports] timezone``), so New Year's night in Beijing opens the new year.
"""

from __future__ import annotations

import re

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot.tickets.models import TicketCounter

_NUMBER_RE = re.compile(r"^#?\s*(\d{4})-(\d{1,9})$")


def format_number(year: int, sequence: int) -> str:
    """``format_number(2026, 123) == "2026-000123"`` (more digits past 999999)."""
    return f"{year:04d}-{sequence:06d}"


def parse_number(text: str) -> tuple[int, int] | None:
    """``(year, sequence)`` of "2026-000123", "2026-123" or "#2026-123"; None if not a number."""
    m = _NUMBER_RE.match(text.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2))


def normalise_number(text: str) -> str:
    """The canonical form of a number as a user may type it; unparseable text is returned as
    given (it will simply not be found)."""
    parsed = parse_number(text)
    return text.strip() if parsed is None else format_number(*parsed)


def allocate_number(session: Session, year: int) -> str:
    """The next number of ``year``, taken inside ``session``'s (write) transaction."""
    dialect = session.get_bind().dialect.name
    values = {"year": year, "last": 0}
    if dialect == "postgresql":
        session.execute(pg_insert(TicketCounter).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(TicketCounter).values(values).on_conflict_do_nothing())
    elif session.get(TicketCounter, year) is None:
        try:
            with session.begin_nested():
                session.execute(insert(TicketCounter).values(values))
        except IntegrityError:
            pass  # created by a concurrent transaction
    last = session.execute(
        select(col(TicketCounter.last)).where(col(TicketCounter.year) == year).with_for_update()
    ).scalar_one()
    sequence = last + 1
    session.execute(
        update(TicketCounter).where(col(TicketCounter.year) == year).values(last=sequence)
    )
    return format_number(year, sequence)
