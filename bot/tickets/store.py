"""The ticket registry: open, claim, work and close tickets, with an audit event for every change.

Life of a ticket::

    new ──claim/assign──▶ accepted ──start──▶ in_progress ──resolve──▶ resolved ──close──▶ closed
                              └──────────────resolve───────────────────▶┘
    resolved/closed ──reopen──▶ in_progress (its engineer keeps it)  or  new (``unassign=True``)

Rules the store enforces (``NotAllowed`` otherwise):

* only engineers with the role ``engineer`` or ``lead`` take tickets (claim, or be assigned);
* ``start`` and ``resolve`` are for the ticket's engineer or a lead; ``assign`` for a lead or
  the ticket's engineer handing it over;
* resolving needs a resolution text (``ResolutionRequired``); reopening needs a reason;
* notes are internal: engineers, the bot and the system write them, hospital users cannot, and
  they are events only, never part of the conversation relayed to the hospital;
* a hospital user acts only on their own hospital's tickets (another hospital's ticket is "not
  found", never "not yours").

Every call is one transaction: the ticket row and its events change together or not at all.
The clock is injected; the store never reads the wall clock.

Crash safety: a ticket is committed *before* anything is posted to a chat platform. The
engineers' card is an outbox: ``tickets_without_card_in(desk)`` lists open tickets whose card
in that desk chat was never recorded with ``mark_card_posted``; on restart the bot posts those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, exists, update
from sqlmodel import Session, col, select

from adapters.base import MessageRef
from bot.infra.actors import Actor as Actor  # re-exported: the one Actor lives in bot.infra.actors
from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.models import Engineer, EngineerRole, Hospital
from bot.registry.sessions import read_session, write_session
from bot.tickets.categories import CATEGORIES, URGENCIES
from bot.tickets.models import (
    OPEN_STATUSES,
    ActorKind,
    AuditEntry,
    Direction,
    EventKind,
    Status,
    Ticket,
    TicketArticle,
    TicketCard,
    TicketEvent,
    TicketEventDetail,
    TicketMessage,
)
from bot.tickets.numbering import allocate_number, normalise_number

_Row = TypeVar("_Row", TicketMessage, TicketArticle, TicketCard)

# -- errors ----------------------------------------------------------------------------------------


class TicketError(Exception):
    """Base of the ticket store's errors; ``str()`` is a sentence an engineer can read."""


class TicketNotFound(TicketError, LookupError):
    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(f"no ticket {number}")


class AlreadyClaimed(TicketError):
    def __init__(self, number: str, engineer_id: str, engineer_name: str) -> None:
        self.number = number
        self.engineer_id = engineer_id
        self.engineer_name = engineer_name
        super().__init__(
            f"ticket {number} was already accepted by {engineer_name or engineer_id} ({engineer_id})"
        )


class NotAllowed(TicketError):
    """``code`` names the rule for surfaces that explain it in their own words
    (``bot.tickets.operations.explain``); ``why`` is the English sentence for logs and the CLI."""

    def __init__(self, why: str, code: str = "") -> None:
        self.why = why
        self.code = code
        super().__init__(why)


class InvalidTransition(TicketError):
    def __init__(self, from_status: str, to_status: str, number: str = "") -> None:
        self.from_status = from_status
        self.to_status = to_status
        self.number = number
        what = f"ticket {number}" if number else "a ticket"
        super().__init__(f"{what} cannot go from {from_status} to {to_status}")


class ResolutionRequired(TicketError):
    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(f"ticket {number}: say how it was resolved (the resolution is required)")


class InvalidValue(TicketError, ValueError):
    """A category, urgency or direction that does not exist."""


# -- values the callers pass ------------------------------------------------------------------------


#: An actor, or an engineer id (the common case).
By = Actor | str


@dataclass(frozen=True)
class ThreadEntry:
    """A message of the conversation before the ticket existed (question, bot answers, ...)."""

    direction: str
    author: str
    text: str
    at: datetime


# -- the store ---------------------------------------------------------------------------------------


class TicketStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # -- opening -------------------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        hospital_id: str,
        reporter_platform: str,
        reporter_user_id: str | int,
        reporter_name: str,
        source_platform: str,
        source_chat_id: str | int,
        source_message_id: str | int,
        source_thread_id: str | int | None = None,
        question: str,
        category: str,
        urgency: str = "P3",
        articles_tried: Sequence[tuple[str, str]] = (),
        thread: Sequence[ThreadEntry | tuple[str, str, str, datetime]] = (),
    ) -> Ticket:
        """Register a ticket (status ``new``) with its articles and conversation so far.

        ``question`` and the thread's texts must already be redacted. Commit happens before the
        caller posts anything anywhere; the card goes out through the outbox.
        """
        _check_category(category)
        _check_urgency(urgency)
        entries = [e if isinstance(e, ThreadEntry) else ThreadEntry(*e) for e in thread]
        for e in entries:
            _check_direction(e.direction)
        now = self._now()
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise NotAllowed(f"no hospital {hospital_id} is registered")
            ticket = Ticket(
                number=allocate_number(s, now.year),
                hospital_id=hospital_id,
                reporter_platform=reporter_platform,
                reporter_user_id=str(reporter_user_id),
                reporter_name=reporter_name,
                source_platform=source_platform,
                source_chat_id=str(source_chat_id),
                source_thread_id=None if source_thread_id is None else str(source_thread_id),
                source_message_id=str(source_message_id),
                question=question,
                category=category,
                urgency=urgency,
                status=Status.NEW,
                created_at=now,
                updated_at=now,
            )
            s.add(ticket)
            s.flush()
            tid = _id(ticket)
            for position, (article_id, title) in enumerate(articles_tried):
                s.add(
                    TicketArticle(
                        ticket_id=tid, article_id=article_id, title=title, position=position
                    )
                )
            for e in entries:
                s.add(
                    TicketMessage(
                        ticket_id=tid,
                        at=as_utc(e.at),
                        direction=e.direction,
                        author=e.author,
                        text=e.text,
                    )
                )
            reporter = Actor.hospital_user(
                hospital_id, reporter_platform, reporter_user_id, reporter_name
            )
            _event(s, ticket, now, reporter, EventKind.OPENED, to_value=Status.NEW)
        return ticket

    # -- taking a ticket -------------------------------------------------------------------------

    def claim(self, number: str, engineer_id: str) -> Ticket:
        """The engineer accepts a new ticket. Atomic: of concurrent claims exactly one wins;
        the others get ``AlreadyClaimed`` naming the winner."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            engineer = _taker(s, engineer_id)
            ticket = _find(s, number)
            result = s.execute(
                update(Ticket)
                .where(
                    col(Ticket.id) == ticket.id,
                    col(Ticket.status) == Status.NEW,
                    col(Ticket.accepted_by).is_(None),
                )
                .values(
                    status=Status.ACCEPTED,
                    accepted_by=engineer.id,
                    accepted_at=now,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            s.refresh(ticket)
            if result.rowcount != 1:  # type: ignore[attr-defined]
                if ticket.accepted_by is not None:
                    owner = s.get(Engineer, ticket.accepted_by)
                    raise AlreadyClaimed(
                        number, ticket.accepted_by, owner.name if owner else ticket.accepted_by
                    )
                raise InvalidTransition(ticket.status, Status.ACCEPTED, number)
            actor = Actor.engineer(engineer.id, engineer.name)
            _event(
                s,
                ticket,
                now,
                actor,
                EventKind.ACCEPTED,
                from_value=Status.NEW,
                to_value=Status.ACCEPTED,
            )
        return ticket

    def assign(self, number: str, engineer_id: str, by: By) -> Ticket:
        """Give the ticket to an engineer: a lead assigns any open ticket; the ticket's engineer
        may hand theirs over. A new ticket becomes accepted (acceptance time = now); an
        accepted one keeps its first acceptance time."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, by)
            ticket = _locked(s, number, actor)
            target = _taker(s, engineer_id)
            if actor.kind != ActorKind.ENGINEER or not (
                _is_lead(s, actor.id) or actor.id == ticket.accepted_by
            ):
                raise NotAllowed(
                    f"only a lead or the ticket's engineer can assign ticket {number}", "not_owner"
                )
            if ticket.status not in OPEN_STATUSES:
                raise InvalidTransition(ticket.status, "assigned", number)
            if ticket.accepted_by == target.id:
                return ticket
            previous = ticket.accepted_by
            ticket.accepted_by = target.id
            _event(
                s, ticket, now, actor, EventKind.ASSIGNED, from_value=previous, to_value=target.id
            )
            if ticket.status == Status.NEW:
                ticket.accepted_at = now
                _set_status(s, ticket, now, actor, Status.ACCEPTED)
        return ticket

    # -- working it ------------------------------------------------------------------------------

    def start(self, number: str, by: By) -> Ticket:
        """accepted → in_progress, by the ticket's engineer or a lead."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, by)
            ticket = _locked(s, number, actor)
            _owner_or_lead(s, ticket, actor, "start")
            if ticket.status != Status.ACCEPTED:
                raise InvalidTransition(ticket.status, Status.IN_PROGRESS, number)
            _set_status(s, ticket, now, actor, Status.IN_PROGRESS)
        return ticket

    def resolve(self, number: str, engineer_id: str, resolution: str) -> Ticket:
        """accepted/in_progress → resolved, saying how; sets the completion time."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, engineer_id)
            ticket = _locked(s, number, actor)
            if not resolution.strip():
                raise ResolutionRequired(number)
            _owner_or_lead(s, ticket, actor, "resolve")
            if ticket.status not in (Status.ACCEPTED, Status.IN_PROGRESS):
                raise InvalidTransition(ticket.status, Status.RESOLVED, number)
            previous = ticket.status
            ticket.status = Status.RESOLVED
            ticket.resolution = resolution.strip()
            ticket.completed_at = now
            _event(
                s,
                ticket,
                now,
                actor,
                EventKind.RESOLVED,
                from_value=previous,
                to_value=Status.RESOLVED,
                text=ticket.resolution,
            )
        return ticket

    def close(self, number: str, by: By) -> Ticket:
        """resolved → closed: the hospital confirmed, an engineer closed it, or the system did
        after the waiting period."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, by)
            ticket = _locked(s, number, actor)
            if ticket.status != Status.RESOLVED:
                raise InvalidTransition(ticket.status, Status.CLOSED, number)
            ticket.status = Status.CLOSED
            ticket.closed_at = now
            _event(
                s,
                ticket,
                now,
                actor,
                EventKind.CLOSED,
                from_value=Status.RESOLVED,
                to_value=Status.CLOSED,
            )
        return ticket

    def reopen(self, number: str, by: By, reason: str, *, unassign: bool = False) -> Ticket:
        """resolved/closed → in_progress (its engineer keeps it), or → new and back in the
        queue with ``unassign=True``. The previous resolution stays in the audit log only."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, by)
            ticket = _locked(s, number, actor)
            if not reason.strip():
                raise NotAllowed(
                    f"ticket {number}: say why it is reopened (a reason is required)",
                    "reason_required",
                )
            if ticket.status not in (Status.RESOLVED, Status.CLOSED):
                raise InvalidTransition(ticket.status, "reopened", number)
            previous = ticket.status
            target = Status.NEW if unassign or ticket.accepted_by is None else Status.IN_PROGRESS
            ticket.status = target
            ticket.resolution = None
            ticket.completed_at = None
            ticket.closed_at = None
            _event(
                s,
                ticket,
                now,
                actor,
                EventKind.REOPENED,
                from_value=previous,
                to_value=target,
                text=reason.strip(),
            )
            if target == Status.NEW and ticket.accepted_by is not None:
                _event(s, ticket, now, actor, EventKind.ASSIGNED, from_value=ticket.accepted_by)
                ticket.accepted_by = None
                ticket.accepted_at = None
        return ticket

    def add_note(self, number: str, by: By, text: str) -> AuditEntry:
        """An internal note: in the audit log, never in the conversation with the hospital."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, by)
            ticket = _locked(s, number, actor)
            if actor.kind == ActorKind.HOSPITAL_USER:
                raise NotAllowed(
                    "notes are internal: hospital users cannot add them", "not_engineer"
                )
            if not text.strip():
                raise NotAllowed("a note needs text", "text_required")
            return _event(s, ticket, now, actor, EventKind.NOTE, text=text)

    def append_message(
        self,
        number: str,
        direction: str,
        author: By,
        text: str,
        ref: MessageRef | None = None,
    ) -> TicketMessage:
        """Add a relayed message to the ticket's conversation (``text`` already redacted),
        with its relay event: ``relayed_to_engineers`` for a hospital message,
        ``relayed_to_hospital`` for an engineer's or the bot's. ``ref`` is the message in the
        hospital's chat (see ``TicketMessage``)."""
        number = normalise_number(number)
        _check_direction(direction)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, author)
            ticket = _locked(s, number, actor)
            expected = {
                Direction.HOSPITAL: (ActorKind.HOSPITAL_USER,),
                Direction.ENGINEER: (ActorKind.ENGINEER,),
                Direction.BOT: (ActorKind.BOT, ActorKind.SYSTEM),
            }[Direction(direction)]
            if actor.kind not in expected:
                raise NotAllowed(f"a {actor.kind} cannot write a {direction!r} message")
            message = TicketMessage(
                ticket_id=_id(ticket),
                at=now,
                direction=direction,
                author=actor.name,
                author_id=actor.id,
                text=text,
                ref_platform=ref.platform if ref else None,
                ref_chat_id=str(ref.chat_id) if ref else None,
                ref_message_id=str(ref.message_id) if ref else None,
            )
            s.add(message)
            kind = (
                EventKind.RELAYED_TO_ENGINEERS
                if direction == Direction.HOSPITAL
                else EventKind.RELAYED_TO_HOSPITAL
            )
            _event(s, ticket, now, actor, kind, text=text)
            s.flush()
        return message

    def set_message_ref(self, message_id: int, ref: MessageRef) -> None:
        """Where a relayed message stands in the hospital's chat, once it was sent (it is
        recorded before it is sent)."""
        with write_session(self._engine) as s:
            message = s.get(TicketMessage, message_id)
            if message is not None:
                message.ref_platform, message.ref_chat_id = ref.platform, str(ref.chat_id)
                message.ref_message_id = str(ref.message_id)
                s.add(message)

    def set_category(self, number: str, category: str, by: By) -> Ticket:
        """Correct the service category (engineers, the bot, the system; the reporter of an
        open ticket, from the category buttons)."""
        _check_category(category)
        return self._set_field(number, by, "category", category, EventKind.CATEGORY_CHANGED)

    def set_urgency(self, number: str, urgency: str, by: By) -> Ticket:
        """Change the urgency P1..P4 (engineers, the bot, the system)."""
        _check_urgency(urgency)
        return self._set_field(number, by, "urgency", urgency, EventKind.URGENCY_CHANGED)

    def _set_field(self, number: str, by: By, name: str, value: str, kind: EventKind) -> Ticket:
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = _actor(s, by)
            ticket = _locked(s, number, actor)
            if actor.kind == ActorKind.HOSPITAL_USER and not (
                name == "category"
                and ticket.is_open
                and actor.id == f"{ticket.reporter_platform}:{ticket.reporter_user_id}"
            ):  # the reporter may correct the category of their own open ticket, nothing else
                raise NotAllowed(f"hospital users cannot change a ticket's {name}")
            previous = getattr(ticket, name)
            if previous != value:
                setattr(ticket, name, value)
                _event(s, ticket, now, actor, kind, from_value=previous, to_value=value)
        return ticket

    # -- reading --------------------------------------------------------------------------------

    def get(self, number: str, hospital_id: str | None = None) -> Ticket:
        """The ticket; with ``hospital_id``, another hospital's ticket is ``TicketNotFound``
        exactly like a number that does not exist."""
        number = normalise_number(number)
        with read_session(self._engine) as s:
            ticket = _find(s, number)
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
            ticket = _find(s, normalise_number(number))
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
            ticket = _find(s, normalise_number(number))
            stmt = (
                select(TicketEvent, TicketEventDetail)
                .join(
                    TicketEventDetail,
                    col(TicketEventDetail.event_id) == col(TicketEvent.id),
                    isouter=True,
                )
                .where(TicketEvent.ticket_id == _id(ticket))
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

    # -- the engineers' card (outbox) and reply lookups -------------------------------------------

    def mark_card_posted(
        self, number: str, platform: str, chat_id: str | int, message_id: str | int
    ) -> TicketCard:
        """Record where the card was posted (idempotent for the same message)."""
        number = normalise_number(number)
        chat, message = str(chat_id), str(message_id)
        now = self._now()
        with write_session(self._engine) as s:
            ticket = _locked(s, number, None)
            card = s.exec(
                select(TicketCard).where(
                    TicketCard.platform == platform,
                    TicketCard.chat_id == chat,
                    TicketCard.message_id == message,
                )
            ).first()
            if card is not None:
                if card.ticket_id != ticket.id:
                    raise NotAllowed(
                        f"{platform} message {chat}/{message} is the card of another ticket"
                    )
                return card
            card = TicketCard(
                ticket_id=_id(ticket),
                platform=platform,
                chat_id=chat,
                message_id=message,
                posted_at=now,
            )
            s.add(card)
            _event(
                s,
                ticket,
                now,
                Actor.bot(),
                EventKind.CARD_POSTED,
                to_value=f"{platform}:{chat}:{message}",
            )
            s.flush()
        return card

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


# -- helpers (all run inside the caller's session) ----------------------------------------------------


# -- for other workflows on a ticket (bot.workflows) ------------------------------------------


def audit_in(
    s: Session, number: str, by: By, kind: str, now: datetime, *, to_value: str = "", text: str = ""
) -> Ticket:
    """Append a workflow's audit event to ticket ``number`` inside the caller's transaction
    (the workflow row and its event commit together); returns the row-locked ticket. A hospital
    user's view stops at their own hospital, as everywhere in the store."""
    actor = _actor(s, by)
    ticket = _locked(s, normalise_number(number), actor)
    _event(s, ticket, now, actor, kind, to_value=to_value or None, text=text or None)
    return ticket


def _id(ticket: Ticket) -> int:
    assert ticket.id is not None, "ticket not flushed"
    return ticket.id


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise InvalidValue(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")


def _check_urgency(urgency: str) -> None:
    if urgency not in URGENCIES:
        raise InvalidValue(f"unknown urgency {urgency!r} (known: {', '.join(URGENCIES)})")


def _check_direction(direction: str) -> None:
    if direction not in tuple(Direction):
        raise InvalidValue(f"unknown direction {direction!r} (known: {', '.join(Direction)})")


def _find(s: Session, number: str) -> Ticket:
    ticket = s.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


def _locked(s: Session, number: str, actor: Actor | None) -> Ticket:
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


def _actor(s: Session, by: By) -> Actor:
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


def _roles(s: Session, engineer_id: str | None) -> set[str]:
    if engineer_id is None:
        return set()
    stmt = select(EngineerRole.role).where(EngineerRole.engineer_id == engineer_id)
    return set(s.exec(stmt).all())


def _is_lead(s: Session, engineer_id: str | None) -> bool:
    return "lead" in _roles(s, engineer_id)


def _taker(s: Session, engineer_id: str) -> Engineer:
    """An engineer who may take tickets (role engineer or lead)."""
    engineer = s.get(Engineer, engineer_id)
    if engineer is None:
        raise NotAllowed(f"{engineer_id!r} is not a registered engineer", "not_engineer")
    if not _roles(s, engineer_id) & {"engineer", "lead"}:
        raise NotAllowed(f"{engineer.name} ({engineer_id}) does not take tickets", "cannot_take")
    return engineer


def _owner_or_lead(s: Session, ticket: Ticket, actor: Actor, what: str) -> None:
    if actor.kind != ActorKind.ENGINEER or not (
        actor.id == ticket.accepted_by or _is_lead(s, actor.id)
    ):
        owner = ticket.accepted_by or "nobody yet"
        raise NotAllowed(
            f"only the ticket's engineer ({owner}) or a lead can {what} ticket {ticket.number}",
            "not_owner",
        )


def _set_status(s: Session, ticket: Ticket, now: datetime, actor: Actor, status: Status) -> None:
    previous = ticket.status
    ticket.status = status
    _event(s, ticket, now, actor, EventKind.STATUS_CHANGED, from_value=previous, to_value=status)


def _event(
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
        ticket_id=_id(ticket),
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
