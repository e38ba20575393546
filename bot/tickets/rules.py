"""The ticket store's rules, each run inside the caller's session: finding and row-locking a
ticket, who the actor is and may do what (engineers who take tickets, owners and leads, a
hospital user's own hospital), the values a ticket accepts, and the audit event every change
appends (``bot.tickets.store``)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.infra.actors import Actor
from bot.registry.models import Engineer, EngineerRole
from bot.tickets.categories import CATEGORIES, URGENCIES
from bot.tickets.errors import InvalidValue, NotAllowed, TicketNotFound
from bot.tickets.models import (
    ActorKind,
    AuditEntry,
    Direction,
    EventKind,
    Status,
    Ticket,
    TicketEvent,
    TicketEventDetail,
)


def id_of(ticket: Ticket) -> int:
    assert ticket.id is not None, "ticket not flushed"
    return ticket.id


def check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise InvalidValue(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")


def check_urgency(urgency: str) -> None:
    if urgency not in URGENCIES:
        raise InvalidValue(f"unknown urgency {urgency!r} (known: {', '.join(URGENCIES)})")


def check_direction(direction: str) -> None:
    if direction not in tuple(Direction):
        raise InvalidValue(f"unknown direction {direction!r} (known: {', '.join(Direction)})")


def find(s: Session, number: str) -> Ticket:
    ticket = s.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


def locked(s: Session, number: str, actor: Actor | None) -> Ticket:
    """The ticket, row-locked for the rest of the transaction (PostgreSQL; SQLite holds the
    database write lock already); a hospital user's view stops at their own hospital."""
    stmt = (
        select(Ticket)
        .where(Ticket.number == number)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    ticket = s.exec(stmt).first()
    if ticket is None:
        raise TicketNotFound(number)
    if (
        actor is not None
        and actor.kind == ActorKind.HOSPITAL_USER
        and actor.hospital_id != ticket.hospital_id
    ):
        raise TicketNotFound(number)
    return ticket


def acting(s: Session, by: Actor | str) -> Actor:
    """An engineer id or engineer actor checked against the registry (and named from it)."""
    if isinstance(by, str):
        by = Actor.engineer(by)
    if by.kind == ActorKind.ENGINEER:
        engineer = s.get(Engineer, by.id) if by.id else None
        if engineer is None:
            raise NotAllowed(f"{by.id!r} is not a registered engineer", "not_engineer")
        return Actor(ActorKind.ENGINEER, engineer.id, by.name or engineer.name)
    if by.kind == ActorKind.CHAT_USER:
        raise NotAllowed("a chat account acts on tickets as an engineer or a hospital user")
    if by.kind == ActorKind.HOSPITAL_USER and not by.hospital_id:
        raise NotAllowed("a hospital user acts for a hospital: build it with Actor.hospital_user")
    return by


def roles(s: Session, engineer_id: str | None) -> set[str]:
    if engineer_id is None:
        return set()
    stmt = select(EngineerRole.role).where(EngineerRole.engineer_id == engineer_id)
    return set(s.exec(stmt).all())


def is_lead(s: Session, engineer_id: str | None) -> bool:
    return "lead" in roles(s, engineer_id)


def taker(s: Session, engineer_id: str) -> Engineer:
    """An engineer who may take tickets (role engineer or lead)."""
    engineer = s.get(Engineer, engineer_id)
    if engineer is None:
        raise NotAllowed(f"{engineer_id!r} is not a registered engineer", "not_engineer")
    if not roles(s, engineer_id) & {"engineer", "lead"}:
        raise NotAllowed(f"{engineer.name} ({engineer_id}) does not take tickets", "cannot_take")
    return engineer


def owner_or_lead(s: Session, ticket: Ticket, actor: Actor, what: str) -> None:
    if actor.kind != ActorKind.ENGINEER or not (
        actor.id == ticket.accepted_by or is_lead(s, actor.id)
    ):
        owner = ticket.accepted_by or "nobody yet"
        raise NotAllowed(
            f"only the ticket's engineer ({owner}) or a lead can {what} ticket {ticket.number}",
            "not_owner",
        )


def set_status(s: Session, ticket: Ticket, now: datetime, actor: Actor, status: Status) -> None:
    previous = ticket.status
    ticket.status = status
    event(s, ticket, now, actor, EventKind.STATUS_CHANGED, from_value=previous, to_value=status)


def event(
    s: Session,
    ticket: Ticket,
    now: datetime,
    actor: Actor,
    kind: EventKind | str,
    *,
    from_value: str | None = None,
    to_value: str | None = None,
    text: str | None = None,
) -> AuditEntry:
    """Append one audit event and touch the ticket, in the caller's transaction. Who said
    what (a hospital user's id and any name or text) goes to the purgeable detail row."""
    ticket.updated_at = now
    s.add(ticket)
    personal_id = actor.kind == ActorKind.HOSPITAL_USER
    row = TicketEvent(
        ticket_id=id_of(ticket),
        at=now,
        actor_kind=actor.kind,
        actor_id=None if personal_id else actor.id,
        kind=kind,
        from_value=None if from_value is None else str(from_value),
        to_value=None if to_value is None else str(to_value),
    )
    s.add(row)
    s.flush()
    detail = None
    if actor.name or text is not None or (personal_id and actor.id):
        detail = TicketEventDetail(
            event_id=row.id or 0,
            actor_id=actor.id if personal_id else None,
            actor_name=actor.name,
            text=text,
        )
        s.add(detail)
        s.flush()
    return AuditEntry.of(row, detail)
