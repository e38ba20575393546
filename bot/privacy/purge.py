"""Erasing personal data: by ticket, hospital, phone or ID number, or age (retention).

What an erasure does, in one transaction per request:

* a ticket keeps what the service contract counts — its number, hospital, category, urgency,
  status, engineer and times — while its question and resolution become ``[已删除]``, its
  reporter's name and id are emptied, its conversation is deleted, and so is the detail of
  every audit event (who of the hospital said what); one ``erased`` event is appended;
* the bot's exchanges (the questions it answered) keep their decision and outcome for the
  reports, their question and reporter are erased the same way;
* notice receipts lose the name and id of the person who pressed 已知悉;
* the playground's web chat entries are deleted: a hospital's chat, those naming the subject,
  those that old, and a ticket's — the question and the bot's messages linked to it (the
  ticket notice, relayed replies) with the replies to them;
* one ``erasure`` row records by whom, when, which scope and how many rows — never the data.

The selection is computed first (``select``), so a command can show what would go.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, or_, update
from sqlmodel import Session, col, select

from bot.broadcasts.models import Receipt
from bot.conversation.exchanges import Exchange
from bot.infra.clock import Clock, as_utc, utc_now
from bot.privacy.models import ERASED, Erasure
from bot.redact.fold import fold
from bot.tickets.attachments import TicketAttachment
from bot.tickets.incidents import IncidentReporter
from bot.tickets.links import MessageLink
from bot.tickets.models import (
    OPEN_STATUSES,
    ActorKind,
    EventKind,
    Ticket,
    TicketEvent,
    TicketEventDetail,
    TicketMessage,
)
from bot.tickets.operations import WEB_PLATFORM
from bot.webchat.models import WebChatEntry
from kb_index.store import WEB_SOURCE, KbArticle, KbArticleVersion

#: The actor of the retention job.
SYSTEM = "system"


class PurgeRefused(ValueError):
    """A purge that cannot be done as asked; ``str()`` says why."""


@dataclass(frozen=True)
class Scope:
    """What to erase. Build with the class methods."""

    kind: str  # "ticket", "hospital", "subject", "retention"
    target: str = ""  # recorded in the erasure log (never the subject's number)
    value: str = field(default="", repr=False)  # the subject's number
    cutoff: dt.datetime | None = None

    @classmethod
    def ticket(cls, number: str) -> Scope:
        return cls("ticket", target=number.strip())

    @classmethod
    def hospital(cls, hospital_id: str) -> Scope:
        return cls("hospital", target=hospital_id.strip())

    @classmethod
    def subject(cls, number: str) -> Scope:
        """A phone or ID number, however written; at least 7 digits."""
        value = "".join(c for c in fold(number) if c.isdigit() or c in "Xx").upper()
        if sum(c.isdigit() for c in value) < 7:
            raise PurgeRefused("a phone or ID number has at least 7 digits")
        return cls("subject", value=value)

    @classmethod
    def older_than(cls, days: int, now: dt.datetime) -> Scope:
        if days < 1:
            raise PurgeRefused("the retention period is at least one day")
        return cls("retention", target=f"{days}d", cutoff=as_utc(now) - dt.timedelta(days=days))


@dataclass(frozen=True)
class Selection:
    tickets: tuple[int, ...] = ()
    exchanges: tuple[int, ...] = ()
    receipts: tuple[int, ...] = ()
    web_chat: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tickets or self.exchanges or self.receipts or self.web_chat)


class Eraser:
    def __init__(
        self, engine: Engine, clock: Clock = utc_now, attachments: Path | None = None
    ) -> None:
        """``attachments``: the folder of tickets' uploaded files, deleted with their tickets'
        personal data (None: only their rows go)."""
        self._engine = engine
        self._clock = clock
        self._attachments = attachments

    # -- what a scope covers ------------------------------------------------------------------

    def select(self, scope: Scope) -> Selection:
        with Session(self._engine) as s:
            if scope.kind == "ticket":
                ticket = s.exec(select(Ticket).where(Ticket.number == scope.target)).first()
                if ticket is None:
                    raise PurgeRefused(f"no ticket {scope.target}")
                exchanges = _ids(s, Exchange.ticket_number == scope.target)
                return Selection(
                    (ticket.id or 0,), exchanges, web_chat=_web_chat_of(s, scope.target)
                )
            if scope.kind == "hospital":
                return Selection(
                    _ids(s, Ticket.hospital_id == scope.target, Ticket),
                    _ids(s, Exchange.hospital_id == scope.target),
                    _ids(s, Receipt.hospital_id == scope.target, Receipt),
                    _ids(s, WebChatEntry.chat_id == scope.target, WebChatEntry),
                )
            if scope.kind == "subject":
                return _subject(s, scope.value)
            assert scope.cutoff is not None
            aware_cutoff = scope.cutoff.replace(tzinfo=dt.UTC)  # exchanges, receipts: aware
            closed = col(Ticket.status).not_in(OPEN_STATUSES)
            open_numbers = select(Ticket.number).where(col(Ticket.status).in_(OPEN_STATUSES))
            not_open = or_(
                col(Exchange.ticket_number).is_(None),
                col(Exchange.ticket_number).not_in(open_numbers),
            )
            return Selection(
                _ids(s, and_(col(Ticket.updated_at) < scope.cutoff, closed, _live(Ticket)), Ticket),
                _ids(s, and_(col(Exchange.created_at) < aware_cutoff, _live(Exchange), not_open)),
                _ids(
                    s, and_(col(Receipt.at) < aware_cutoff, col(Receipt.user_name) != ""), Receipt
                ),
                _ids(s, col(WebChatEntry.sent_at) < aware_cutoff, WebChatEntry),
            )

    # -- erasing -------------------------------------------------------------------------------

    def erase(self, scope: Scope, by: str) -> Erasure:
        """Erase what ``scope`` covers, recording that ``by`` (an engineer id or ``SYSTEM``)
        did; returns the erasure's log row."""
        chosen = self.select(scope)
        now = as_utc(self._clock())
        files: list[str] = []
        with Session(self._engine) as s:
            if chosen.tickets:
                files = _erase_attachments(s, chosen.tickets)
                _erase_tickets(s, chosen.tickets, scope.kind, by, now)
            if chosen.exchanges:
                s.execute(
                    update(Exchange)
                    .where(col(Exchange.id).in_(chosen.exchanges))
                    .values(
                        question=ERASED,
                        reporter_name="",
                        reporter_user_id="",
                        updated_at=now.replace(tzinfo=dt.UTC),
                    )
                )
            if chosen.receipts:
                s.execute(
                    update(Receipt)
                    .where(col(Receipt.id).in_(chosen.receipts))
                    .values(user_name="", user_id="")
                )
            if chosen.web_chat:
                s.execute(delete(WebChatEntry).where(col(WebChatEntry.id).in_(chosen.web_chat)))
            row = Erasure(
                at=now,
                actor=by,
                scope=scope.kind,
                target=scope.target,
                tickets=len(chosen.tickets),
                exchanges=len(chosen.exchanges),
                receipts=len(chosen.receipts),
                web_chat_entries=len(chosen.web_chat),
            )
            s.add(row)
            s.commit()
            s.refresh(row)
        if self._attachments is not None:  # after the commit: a failed erasure keeps them
            for name in files:
                (self._attachments / name).unlink(missing_ok=True)
        return row

    def erase_kb_version(self, article_id: str, version: int, by: str) -> Erasure:
        """Erase an old version's Markdown from the KB history (the current version is the
        article itself: edit it first)."""
        now = as_utc(self._clock())
        with Session(self._engine) as s:
            article = s.get(KbArticle, article_id)
            old = s.exec(
                select(KbArticleVersion).where(
                    KbArticleVersion.article_id == article_id, KbArticleVersion.version == version
                )
            ).first()
            if article is None or old is None:
                raise PurgeRefused(f"no version {version} of article {article_id}")
            if article.version == version:
                raise PurgeRefused(
                    f"version {version} is the current text of {article_id}: edit the article, "
                    "then erase the old version"
                )
            newest_import = s.exec(
                select(KbArticleVersion.version)
                .where(
                    KbArticleVersion.article_id == article_id,
                    KbArticleVersion.source != WEB_SOURCE,
                )
                .order_by(col(KbArticleVersion.version).desc())
            ).first()
            if old.source != WEB_SOURCE and version == newest_import:
                raise PurgeRefused(
                    f"version {version} is the last one imported from the KB folder, which the "
                    "next import compares the file with: correct the file and import it, then "
                    "erase this version"
                )
            s.execute(
                update(KbArticleVersion)
                .where(col(KbArticleVersion.pk) == old.pk)
                .values(markdown="")
            )
            row = Erasure(
                at=now,
                actor=by,
                scope="kb_version",
                target=f"{article_id} v{version}",
                kb_versions=1,
            )
            s.add(row)
            s.commit()
            s.refresh(row)
        return row

    def log(self, limit: int = 100) -> list[Erasure]:
        with Session(self._engine) as s:
            stmt = select(Erasure).order_by(col(Erasure.id).desc()).limit(limit)
            return list(s.exec(stmt).all())


def _live(model: type[Ticket] | type[Exchange]) -> ColumnElement[bool]:
    return col(model.question) != ERASED


def _ids(s: Session, where: Any, model: Any = Exchange) -> tuple[int, ...]:
    """Ids of ``model`` rows matching ``where``, in order."""
    stmt = select(model.id).where(where).order_by(model.id)
    return tuple(s.exec(stmt).all())


def _erase_attachments(s: Session, ids: tuple[int, ...]) -> list[str]:
    """Delete the tickets' attachments (a screenshot may show a patient); returns the stored
    files to remove once the erasure is committed."""
    found = select(TicketAttachment).where(col(TicketAttachment.ticket_id).in_(ids))
    files = [a.stored_name for a in s.exec(found) if a.stored_name]
    s.execute(delete(TicketAttachment).where(col(TicketAttachment.ticket_id).in_(ids)))
    return files


def _erase_tickets(s: Session, ids: tuple[int, ...], scope: str, by: str, now: dt.datetime) -> None:
    events = select(TicketEvent.id).where(col(TicketEvent.ticket_id).in_(ids))
    s.execute(delete(TicketEventDetail).where(col(TicketEventDetail.event_id).in_(events)))
    s.execute(delete(TicketMessage).where(col(TicketMessage.ticket_id).in_(ids)))
    s.execute(delete(IncidentReporter).where(col(IncidentReporter.ticket_id).in_(ids)))
    s.execute(
        update(Ticket)
        .where(col(Ticket.id).in_(ids))
        .values(question=ERASED, reporter_name="", reporter_user_id="", updated_at=now)
    )
    s.execute(
        update(Ticket)
        .where(col(Ticket.id).in_(ids), col(Ticket.resolution).is_not(None))
        .values(resolution=ERASED)
    )
    actor_kind = ActorKind.SYSTEM if by == SYSTEM else ActorKind.ENGINEER
    for ticket_id in ids:
        s.add(
            TicketEvent(
                ticket_id=ticket_id,
                at=now,
                actor_kind=actor_kind,
                actor_id=None if by == SYSTEM else by,
                kind=EventKind.ERASED,
                to_value=scope,
            )
        )


def _web_chat_of(s: Session, number: str) -> tuple[int, ...]:
    """The web chat entries of a ticket: its messages linked to it (the question, the notice,
    relayed replies) and the replies to those."""
    linked = s.exec(
        select(MessageLink.chat_id, MessageLink.message_id).where(
            MessageLink.platform == WEB_PLATFORM, MessageLink.ticket_number == number
        )
    ).all()
    asked = s.exec(
        select(Exchange.chat_id, Exchange.question_message_id, Exchange.reply_message_id).where(
            Exchange.platform == WEB_PLATFORM, Exchange.ticket_number == number
        )
    ).all()
    ids = {*linked, *((c, q) for c, q, _ in asked), *((c, r) for c, _, r in asked if r)}
    if not ids:
        return ()
    chats = {chat for chat, _ in ids}
    entries = s.exec(select(WebChatEntry).where(col(WebChatEntry.chat_id).in_(chats))).all()
    return _sorted(
        e.id or 0
        for e in entries
        if (e.chat_id, e.message_id) in ids or (e.chat_id, e.reply_to) in ids
    )


def _subject(s: Session, value: str) -> Selection:
    """Rows whose personal text holds ``value``, however its digits are spaced or written."""
    sep = r"[ \t\r\n./\\\-_~\u2013\u2014]{0,3}"
    pattern = re.compile(r"(?<![0-9])" + sep.join(map(re.escape, value)) + r"(?![0-9])", re.I)

    def hit(*texts: str | None) -> bool:
        return any(t and pattern.search(fold(t)) for t in texts)

    tickets: set[int] = set()
    tickets.update(
        t.id or 0 for t in s.exec(select(Ticket)) if hit(t.question, t.resolution, t.reporter_name)
    )
    tickets.update(m.ticket_id for m in s.exec(select(TicketMessage)) if hit(m.text, m.author))
    details = s.exec(
        select(TicketEvent.ticket_id, TicketEventDetail.actor_name, TicketEventDetail.text).join(
            TicketEventDetail, col(TicketEventDetail.event_id) == col(TicketEvent.id)
        )
    )
    tickets.update(ticket_id for ticket_id, name, text in details if hit(name, text))
    exchanges = [e for e in s.exec(select(Exchange)) if hit(e.question, e.reporter_name)]
    numbers = {e.ticket_number for e in exchanges if e.ticket_number}
    if numbers:
        tickets.update(_ids(s, col(Ticket.number).in_(numbers), Ticket))
    receipts = [r.id or 0 for r in s.exec(select(Receipt)) if hit(r.user_name)]
    chat = [e.id or 0 for e in s.exec(select(WebChatEntry)) if hit(e.text, e.sender, e.badge)]
    return Selection(
        _sorted(tickets),
        _sorted(e.id or 0 for e in exchanges),
        _sorted(receipts),
        _sorted(chat),
    )


def _sorted(ids: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(ids)))
