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
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from adapters.base import MessageRef
from bot.infra.actors import Actor as Actor  # re-exported: the one Actor lives in bot.infra.actors
from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.models import Engineer, Hospital
from bot.registry.sessions import write_session
from bot.tickets import rules

# re-exported: callers catch the store's errors where they call it
from bot.tickets.errors import AlreadyClaimed as AlreadyClaimed
from bot.tickets.errors import InvalidTransition as InvalidTransition
from bot.tickets.errors import InvalidValue as InvalidValue
from bot.tickets.errors import NotAllowed as NotAllowed
from bot.tickets.errors import ResolutionRequired as ResolutionRequired
from bot.tickets.errors import TicketError as TicketError
from bot.tickets.errors import TicketNotFound as TicketNotFound
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
    TicketMessage,
)
from bot.tickets.numbering import allocate_number, normalise_number
from bot.tickets.reading import TicketReader

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


class TicketStore(TicketReader):
    """The reads (``TicketReader``) and every write, each one audited transaction.

    ``year_zone`` is the hospitals' wall clock: a ticket opened at 01:00 on New Year's Day in
    Beijing is numbered in the new year, as the contract's register reads it (``[reports]
    timezone`` in the app), not in the UTC year that is still the old one.
    """

    def __init__(self, engine: Engine, clock: Clock = utc_now, *, year_zone: tzinfo = UTC) -> None:
        super().__init__(engine, clock)
        self._year_zone = year_zone

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
        rules.check_category(category)
        rules.check_urgency(urgency)
        entries = [e if isinstance(e, ThreadEntry) else ThreadEntry(*e) for e in thread]
        for e in entries:
            rules.check_direction(e.direction)
        now = self._now()
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise NotAllowed(f"no hospital {hospital_id} is registered")
            ticket = Ticket(
                number=allocate_number(s, now.astimezone(self._year_zone).year),
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
            tid = rules.id_of(ticket)
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
            rules.event(s, ticket, now, reporter, EventKind.OPENED, to_value=Status.NEW)
        return ticket

    # -- taking a ticket -------------------------------------------------------------------------

    def claim(self, number: str, engineer_id: str) -> Ticket:
        """The engineer accepts a new ticket. Atomic: of concurrent claims exactly one wins;
        the others get ``AlreadyClaimed`` naming the winner."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            engineer = rules.taker(s, engineer_id)
            ticket = rules.find(s, number)
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
            rules.event(
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
            actor = rules.acting(s, by)
            ticket = rules.locked(s, number, actor)
            target = rules.taker(s, engineer_id)
            if actor.kind != ActorKind.ENGINEER or not (
                rules.is_lead(s, actor.id) or actor.id == ticket.accepted_by
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
            rules.event(
                s, ticket, now, actor, EventKind.ASSIGNED, from_value=previous, to_value=target.id
            )
            if ticket.status == Status.NEW:
                ticket.accepted_at = now
                rules.set_status(s, ticket, now, actor, Status.ACCEPTED)
        return ticket

    # -- working it ------------------------------------------------------------------------------

    def start(self, number: str, by: By) -> Ticket:
        """accepted → in_progress, by the ticket's engineer or a lead."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = rules.acting(s, by)
            ticket = rules.locked(s, number, actor)
            rules.owner_or_lead(s, ticket, actor, "start")
            if ticket.status != Status.ACCEPTED:
                raise InvalidTransition(ticket.status, Status.IN_PROGRESS, number)
            rules.set_status(s, ticket, now, actor, Status.IN_PROGRESS)
        return ticket

    def resolve(self, number: str, engineer_id: str, resolution: str) -> Ticket:
        """accepted/in_progress → resolved, saying how; sets the completion time."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = rules.acting(s, engineer_id)
            ticket = rules.locked(s, number, actor)
            if not resolution.strip():
                raise ResolutionRequired(number)
            rules.owner_or_lead(s, ticket, actor, "resolve")
            if ticket.status not in (Status.ACCEPTED, Status.IN_PROGRESS):
                raise InvalidTransition(ticket.status, Status.RESOLVED, number)
            previous = ticket.status
            ticket.status = Status.RESOLVED
            ticket.resolution = resolution.strip()
            ticket.completed_at = now
            rules.event(
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
            actor = rules.acting(s, by)
            ticket = rules.locked(s, number, actor)
            if ticket.status != Status.RESOLVED:
                raise InvalidTransition(ticket.status, Status.CLOSED, number)
            ticket.status = Status.CLOSED
            ticket.closed_at = now
            rules.event(
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
            actor = rules.acting(s, by)
            ticket = rules.locked(s, number, actor)
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
            rules.event(
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
                rules.event(
                    s, ticket, now, actor, EventKind.ASSIGNED, from_value=ticket.accepted_by
                )
                ticket.accepted_by = None
                ticket.accepted_at = None
        return ticket

    def add_note(self, number: str, by: By, text: str) -> AuditEntry:
        """An internal note: in the audit log, never in the conversation with the hospital."""
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = rules.acting(s, by)
            ticket = rules.locked(s, number, actor)
            if actor.kind == ActorKind.HOSPITAL_USER:
                raise NotAllowed(
                    "notes are internal: hospital users cannot add them", "not_engineer"
                )
            if not text.strip():
                raise NotAllowed("a note needs text", "text_required")
            return rules.event(s, ticket, now, actor, EventKind.NOTE, text=text)

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
        rules.check_direction(direction)
        now = self._now()
        with write_session(self._engine) as s:
            actor = rules.acting(s, author)
            ticket = rules.locked(s, number, actor)
            expected = {
                Direction.HOSPITAL: (ActorKind.HOSPITAL_USER,),
                Direction.ENGINEER: (ActorKind.ENGINEER,),
                Direction.BOT: (ActorKind.BOT, ActorKind.SYSTEM),
            }[Direction(direction)]
            if actor.kind not in expected:
                raise NotAllowed(f"a {actor.kind} cannot write a {direction!r} message")
            message = TicketMessage(
                ticket_id=rules.id_of(ticket),
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
            rules.event(s, ticket, now, actor, kind, text=text)
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
        rules.check_category(category)
        return self._set_field(number, by, "category", category, EventKind.CATEGORY_CHANGED)

    def set_urgency(self, number: str, urgency: str, by: By) -> Ticket:
        """Change the urgency P1..P4 (engineers, the bot, the system)."""
        rules.check_urgency(urgency)
        return self._set_field(number, by, "urgency", urgency, EventKind.URGENCY_CHANGED)

    def _set_field(self, number: str, by: By, name: str, value: str, kind: EventKind) -> Ticket:
        number = normalise_number(number)
        now = self._now()
        with write_session(self._engine) as s:
            actor = rules.acting(s, by)
            ticket = rules.locked(s, number, actor)
            if actor.kind == ActorKind.HOSPITAL_USER and not (
                name == "category"
                and ticket.is_open
                and actor.id == f"{ticket.reporter_platform}:{ticket.reporter_user_id}"
            ):  # the reporter may correct the category of their own open ticket, nothing else
                raise NotAllowed(f"hospital users cannot change a ticket's {name}")
            previous = getattr(ticket, name)
            if previous != value:
                setattr(ticket, name, value)
                rules.event(s, ticket, now, actor, kind, from_value=previous, to_value=value)
        return ticket

    # -- the engineers' card (outbox) ----------------------------------------------------------

    def mark_card_posted(
        self, number: str, platform: str, chat_id: str | int, message_id: str | int
    ) -> TicketCard:
        """Record where the card was posted (idempotent for the same message)."""
        number = normalise_number(number)
        chat, message = str(chat_id), str(message_id)
        now = self._now()
        with write_session(self._engine) as s:
            ticket = rules.locked(s, number, None)
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
                ticket_id=rules.id_of(ticket),
                platform=platform,
                chat_id=chat,
                message_id=message,
                posted_at=now,
            )
            s.add(card)
            rules.event(
                s,
                ticket,
                now,
                Actor.bot(),
                EventKind.CARD_POSTED,
                to_value=f"{platform}:{chat}:{message}",
            )
            s.flush()
        return card


# -- for other workflows on a ticket (bot.workflows) ------------------------------------------


def audit_in(
    s: Session, number: str, by: By, kind: str, now: datetime, *, to_value: str = "", text: str = ""
) -> Ticket:
    """Append a workflow's audit event to ticket ``number`` inside the caller's transaction
    (the workflow row and its event commit together); returns the row-locked ticket. A hospital
    user's view stops at their own hospital, as everywhere in the store."""
    actor = rules.acting(s, by)
    ticket = rules.locked(s, normalise_number(number), actor)
    rules.event(s, ticket, now, actor, kind, to_value=to_value or None, text=text or None)
    return ticket
