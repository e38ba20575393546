"""One problem, one ticket: the people who reported it join the first report's ticket.

When several people of one hospital report the same outage within minutes, the engineers get
one P1 with every reporter on it (``incident_reporter``, one row each), the desk card lists
them and is re-rendered rather than reposted, and everyone is told when it is resolved. The
same holds for 「我们这边也是」 under any open ticket (``bot.conversation.same_problem``).
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from sqlalchemy import Engine, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from bot.infra.clock import as_utc, utc_field
from bot.registry.sessions import read_session, write_session
from bot.tickets.models import OPEN_STATUSES, Ticket


class IncidentReporter(SQLModel, table=True):
    """A person who reported a problem (an outage, or 「我也是」) an open ticket already
    covered."""

    __tablename__ = "incident_reporter"
    __table_args__ = (
        UniqueConstraint("ticket_id", "platform", "chat_id", "message_id", name="uq_incident_msg"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    thread_id: str | None = Field(default=None, max_length=64)
    #: Their report (the resolution is sent as a reply to it).
    message_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    name: str = ""
    joined_at: dt.datetime = utc_field()


def open_incident(engine: Engine, hospital_id: str, since: dt.datetime) -> Ticket | None:
    """The hospital's newest open P1 opened since ``since`` (naive UTC), if any."""
    with read_session(engine) as s:
        stmt = (
            select(Ticket)
            .where(
                Ticket.hospital_id == hospital_id,
                Ticket.urgency == "P1",
                col(Ticket.status).in_(OPEN_STATUSES),
                col(Ticket.created_at) >= as_utc(since),
            )
            .order_by(col(Ticket.id).desc())
        )
        return s.exec(stmt).first()


def join(engine: Engine, ticket: Ticket, reporter: IncidentReporter) -> int:
    """Add a reporter to the incident (once per person); returns how many people have
    reported it in all (the ticket's own reporter included)."""
    with write_session(engine) as s:
        users = _joined_users(s, ticket)
        if reporter.user_id not in users and not (
            reporter.platform == ticket.reporter_platform
            and reporter.user_id == ticket.reporter_user_id
        ):  # a second report of the same person is on the ticket's conversation already
            reporter.ticket_id = ticket.id or 0
            reporter.joined_at = as_utc(reporter.joined_at)
            s.add(reporter)
            s.flush()
            users.add(reporter.user_id)
        return len(users) + 1


def leave(engine: Engine, ticket: Ticket, platform: str, user_id: str) -> list[IncidentReporter]:
    """Take a person off the ticket's reporters (they said it is not their problem); returns
    the rows removed (their messages, to unlink)."""
    with write_session(engine) as s:
        rows = list(
            s.exec(
                select(IncidentReporter).where(
                    IncidentReporter.ticket_id == ticket.id,
                    IncidentReporter.platform == platform,
                    IncidentReporter.user_id == user_id,
                )
            ).all()
        )
        for row in rows:
            s.delete(row)
        return rows


def count(engine: Engine, ticket: Ticket) -> int:
    """How many people have reported the ticket's problem (its own reporter included)."""
    with read_session(engine) as s:
        return len(_joined_users(s, ticket)) + 1


def _joined_users(s: Session, ticket: Ticket) -> set[str]:
    return set(
        s.exec(
            select(IncidentReporter.user_id).where(IncidentReporter.ticket_id == ticket.id)
        ).all()
    )


def reporters(engine: Engine, ticket_id: int) -> list[IncidentReporter]:
    """Who joined the incident, in the order they reported."""
    with read_session(engine) as s:
        stmt = (
            select(IncidentReporter)
            .where(IncidentReporter.ticket_id == ticket_id)
            .order_by(col(IncidentReporter.id))
        )
        return list(s.exec(stmt).all())


def by_chat(rows: list[IncidentReporter]) -> list[list[IncidentReporter]]:
    """Reporters grouped per chat (and thread): one message tells each group."""
    key = lambda r: (r.platform, r.chat_id, r.thread_id or "")  # noqa: E731
    return [list(g) for _, g in groupby(sorted(rows, key=key), key=key)]


def reporters_line(engine: Engine, ticket: Ticket) -> str:
    """The card's line naming everyone else who reported the problem ("" if nobody joined)."""
    rows = reporters(engine, ticket.id or 0)
    if not rows:
        return ""
    names = "、".join(dict.fromkeys(r.name or r.user_id for r in rows))
    what = "故障" if ticket.urgency == "P1" else "问题"
    return f"\n同一{what}另有 {len(rows)} 人报告：{names}"
