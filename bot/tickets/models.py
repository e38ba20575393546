"""Ticket tables: the ticket, what was tried, the conversation, the audit log, the cards.

* ``ticket``: one row per escalated question, its current state (who accepted it and when,
  when it was resolved and how). Reads of "the state now" come from here.
* ``ticket_event``: the append-only audit log; every change to a ticket writes one or more
  events in the same transaction. Rows are never updated or deleted — the database enforces it
  with triggers on both SQLite and PostgreSQL — and corrections are new events. An event holds
  no personal data: who (an engineer's id, or only "a hospital user"), when, what changed.
* ``ticket_event_detail``: what an event said and who said it — a note, a relayed message, a
  resolution, a hospital user's name and id. Purgeable (``bot.privacy.purge``): an erasure
  deletes these rows and appends an ``erased`` event, so the trail keeps its integrity and
  records that personal data was erased, by whom and when — never the data.
* ``ticket_article``: the KB articles the bot offered before escalating, in order.
* ``ticket_message``: the conversation carried with the ticket (hospital ↔ engineers), text
  already redacted by the caller.
* ``ticket_card``: where the engineers' card for a ticket was posted (the outbox marker:
  a ticket without a card row still needs one).
* ``ticket_counter``: one row per year, the last sequence number handed out.

Timestamps are aware UTC (stored as UTC by ``bot.infra.clock.UtcDateTime``). Text columns hold redacted text only; redaction is the caller's job
(``bot.redact``), done before anything reaches a store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import DDL, CheckConstraint, Index, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from bot.infra.actors import ActorKind as ActorKind  # re-exported: defined with Actor
from bot.infra.clock import utc_field


class Status(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: Statuses of a ticket someone still has to work on.
OPEN_STATUSES: tuple[Status, ...] = (Status.NEW, Status.ACCEPTED, Status.IN_PROGRESS)

#: P1 = a hospital department cannot work; P4 = a question that can wait.
URGENCIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
#: Urgencies whose desk cards go at once, never paced nor put into a digest (``bot.desk.queue``).
URGENT: frozenset[str] = frozenset({"P1", "P2"})


class Direction(StrEnum):
    HOSPITAL = "hospital"  # written by a hospital user
    ENGINEER = "engineer"  # written by an engineer, relayed to the hospital
    BOT = "bot"  # written by the bot (an answer, a notice)


class EventKind(StrEnum):
    OPENED = "opened"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    CATEGORY_CHANGED = "category_changed"
    URGENCY_CHANGED = "urgency_changed"
    NOTE = "note"
    RELAYED_TO_HOSPITAL = "relayed_to_hospital"
    RELAYED_TO_ENGINEERS = "relayed_to_engineers"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    CARD_POSTED = "card_posted"
    ERASED = "erased"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        CheckConstraint(_in("status", tuple(Status)), name="ck_ticket_status"),
        CheckConstraint(_in("urgency", URGENCIES), name="ck_ticket_urgency"),
        Index("ix_ticket_source", "source_platform", "source_chat_id"),
        Index("ix_ticket_hospital_status", "hospital_id", "status"),
        Index("ix_ticket_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: "2026-000123": the year the ticket was opened (UTC) and its sequence in that year.
    number: str = Field(unique=True, max_length=16)
    hospital_id: str = Field(foreign_key="hospital.id", max_length=32)
    reporter_platform: str = Field(max_length=16)
    reporter_user_id: str = Field(max_length=64)
    reporter_name: str = ""
    #: Where the question was asked: platform, chat, the question's message, its thread if any.
    source_platform: str = Field(max_length=16)
    source_chat_id: str = Field(max_length=64)
    source_thread_id: str | None = Field(default=None, max_length=64)
    source_message_id: str = Field(max_length=64)
    #: One of ``kb_index.articles.CATEGORIES`` (checked by the store).
    category: str = Field(max_length=32)
    urgency: str = Field(default="P3", max_length=2)
    status: str = Field(default=Status.NEW, index=True, max_length=16)
    #: The engineer who accepted the ticket (claimed it, or was assigned it).
    accepted_by: str | None = Field(
        default=None, foreign_key="engineer.id", index=True, max_length=32
    )
    accepted_at: dt.datetime | None = utc_field(default=None, nullable=True)
    #: When it was resolved (the contract's completion time).
    completed_at: dt.datetime | None = utc_field(default=None, nullable=True)
    closed_at: dt.datetime | None = utc_field(default=None, nullable=True)
    #: How it was resolved; required to resolve.
    resolution: str | None = None
    #: The question as the hospital asked it (redacted).
    question: str
    created_at: dt.datetime = utc_field()
    updated_at: dt.datetime = utc_field()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class TicketArticle(SQLModel, table=True):
    """A KB article the bot offered before the ticket was opened."""

    __tablename__ = "ticket_article"
    __table_args__ = (UniqueConstraint("ticket_id", "position", name="uq_ticket_article_pos"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    article_id: str = Field(max_length=64)
    title: str
    position: int


class TicketMessage(SQLModel, table=True):
    """One message of the ticket's conversation.

    ``ref_*`` is the message as it stands in the *hospital's* chat: the hospital user's own
    message, or the bot's relayed copy of an engineer's reply (a reply to either finds its
    ticket through the message links, ``bot.tickets.links``).
    """

    __tablename__ = "ticket_message"
    __table_args__ = (
        CheckConstraint(_in("direction", tuple(Direction)), name="ck_ticket_message_direction"),
        Index("ix_ticket_message_ref", "ref_platform", "ref_chat_id", "ref_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: dt.datetime = utc_field()
    direction: str = Field(max_length=16)
    author: str = ""
    #: Engineer id, "platform:user id" of a hospital user, or None for the bot.
    author_id: str | None = Field(default=None, max_length=80)
    text: str
    ref_platform: str | None = Field(default=None, max_length=16)
    ref_chat_id: str | None = Field(default=None, max_length=64)
    ref_message_id: str | None = Field(default=None, max_length=64)


class TicketEvent(SQLModel, table=True):
    """One entry of the audit log. Append-only (enforced by triggers, see below)."""

    __tablename__ = "ticket_event"
    __table_args__ = (
        CheckConstraint(
            _in("actor_kind", tuple(k for k in ActorKind if k is not ActorKind.CHAT_USER)),
            name="ck_ticket_event_actor_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: dt.datetime = utc_field()
    actor_kind: str = Field(max_length=16)
    #: Engineer id, or None for a hospital user (see the detail), the bot and the system.
    actor_id: str | None = Field(default=None, max_length=80)
    kind: str = Field(max_length=32)
    from_value: str | None = None
    to_value: str | None = None


class TicketEventDetail(SQLModel, table=True):
    """The personal part of one audit event: deleted by an erasure, the event stays."""

    __tablename__ = "ticket_event_detail"

    event_id: int = Field(
        foreign_key="ticket_event.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    #: "platform:user id" of a hospital user (engineers' ids stay on the event).
    actor_id: str | None = Field(default=None, max_length=80)
    actor_name: str = ""
    text: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """An audit event as it reads: the event with its detail, if not erased."""

    id: int
    ticket_id: int
    at: dt.datetime
    actor_kind: str
    actor_id: str | None
    actor_name: str
    kind: str
    from_value: str | None
    to_value: str | None
    text: str | None

    @classmethod
    def of(cls, event: TicketEvent, detail: TicketEventDetail | None) -> AuditEntry:
        return cls(
            id=event.id or 0,
            ticket_id=event.ticket_id,
            at=event.at,
            actor_kind=event.actor_kind,
            actor_id=event.actor_id or (detail.actor_id if detail else None),
            actor_name=detail.actor_name if detail else "",
            kind=event.kind,
            from_value=event.from_value,
            to_value=event.to_value,
            text=detail.text if detail else None,
        )


class TicketCard(SQLModel, table=True):
    """The engineers' card for a ticket, as posted: a reply to it finds the ticket."""

    __tablename__ = "ticket_card"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "message_id", name="uq_ticket_card_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    posted_at: dt.datetime = utc_field()


class TicketCounter(SQLModel, table=True):
    """The last ticket sequence number handed out in a year (see ``bot.tickets.numbering``)."""

    __tablename__ = "ticket_counter"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


# -- the audit log is append-only, in the database itself ---------------------------------------
def append_only_ddl(table: str) -> dict[str, tuple[str, ...]]:
    """(dialect, statements) making ``table`` refuse UPDATE and DELETE."""
    return {
        "sqlite": (
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ),
        "postgresql": (
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ),
    }


def make_append_only(table: str) -> None:
    """Attach the triggers to ``create_all`` of ``table`` (migrations write them out)."""
    for dialect, statements in append_only_ddl(table).items():
        for sql in statements:
            event.listen(
                SQLModel.metadata.tables[table],
                "after_create",
                DDL(sql).execute_if(dialect=dialect),  # type: ignore[no-untyped-call]
            )


#: (dialect, statements) creating the triggers; the initial migration runs the same statements.
APPEND_ONLY_DDL = append_only_ddl(TicketEvent.__tablename__)
make_append_only(TicketEvent.__tablename__)
