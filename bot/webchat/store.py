"""The web chats' board over ``web_chat_entry`` (synchronous: reach it through the gateway).

A chat's writes are serialised — PostgreSQL: a transaction-level advisory lock per chat,
taken before the row's id is drawn; SQLite: one writer — so within a chat ids are drawn in
commit order. A reader takes the chat's highest id first and then the rows up to it: a row
committed later has a higher id and is read by the next poll, none is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence

from sqlalchemy import Engine, delete, func, text
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from adapters.base import Button, Citation
from adapters.chat_board import Buttons, Entry, Quote, Since, Toast
from bot.cluster.advisory import lock_key
from bot.infra.clock import as_utc
from bot.registry.sessions import delete_batch
from bot.webchat.models import BOT, TOAST, WebChatEntry

#: Messages a chat keeps: older ones are deleted as new ones come.
CHAT_LIMIT = 500
#: Toasts a chat keeps: they matter for a few seconds only.
TOAST_LIMIT = 50


class WebChatStore:
    def __init__(
        self, engine: Engine, limit: int = CHAT_LIMIT, toast_limit: int = TOAST_LIMIT
    ) -> None:
        if limit < 1 or toast_limit < 1:
            raise ValueError("a web chat must keep at least one message and one toast")
        self._engine = engine
        self._limit = limit
        self._toast_limit = toast_limit
        self._locks = engine.dialect.name == "postgresql"

    # -- writing --------------------------------------------------------------------------------

    def append(self, chat_id: str, entry: Entry) -> Entry:
        with Session(self._engine, expire_on_commit=False) as s:
            self._lock(s, chat_id)
            last = s.exec(
                select(func.max(WebChatEntry.position)).where(WebChatEntry.chat_id == chat_id)
            ).one()
            row = _row(chat_id, entry, (last or 0) + 1)
            s.add(row)
            s.flush()
            s.execute(
                delete(WebChatEntry).where(
                    col(WebChatEntry.chat_id) == chat_id,
                    col(WebChatEntry.kind) != TOAST,
                    col(WebChatEntry.position) <= row.position - self._limit,
                )
            )
            s.commit()
            return _entry(row)

    def edit(
        self, chat_id: str, message_id: str, text: str, buttons: Buttons, citation: Citation | None
    ) -> Entry | None:
        """The message moves to a new row (a new id: a change every poll sees) in its place."""
        with Session(self._engine, expire_on_commit=False) as s:
            self._lock(s, chat_id)
            old = s.exec(_message(chat_id, message_id)).first()
            if old is None:
                return None
            new = WebChatEntry(
                **old.model_dump(exclude={"id", "text", "buttons", "edited"}),
                text=text,
                buttons=_buttons_json(buttons),
                edited=True,
            )
            _cite(new, citation)
            s.delete(old)
            s.add(new)
            s.commit()
            return _entry(new)

    def toast(self, chat_id: str, toast: Toast, at: dt.datetime) -> Toast:
        with Session(self._engine, expire_on_commit=False) as s:
            self._lock(s, chat_id)
            row = WebChatEntry(
                chat_id=chat_id,
                message_id=toast.message_id,
                kind=TOAST,
                for_user=toast.user_id,
                text=toast.text,
                sent_at=as_utc(at),
            )
            s.add(row)
            s.flush()
            kept = (
                select(WebChatEntry.id)
                .where(WebChatEntry.chat_id == chat_id, WebChatEntry.kind == TOAST)
                .order_by(col(WebChatEntry.id).desc())
                .limit(self._toast_limit)
            )
            s.execute(
                delete(WebChatEntry).where(
                    col(WebChatEntry.chat_id) == chat_id,
                    col(WebChatEntry.kind) == TOAST,
                    col(WebChatEntry.id).not_in(kept.scalar_subquery()),
                )
            )
            s.commit()
            return Toast(row.for_user, row.message_id, row.text, row.id or 0)

    def purge(self, before: dt.datetime, batch: int) -> int:
        """Delete up to ``batch`` entries sent before ``before``; returns how many."""
        with Session(self._engine) as s:
            deleted = delete_batch(
                s, WebChatEntry, batch, col(WebChatEntry.sent_at) < as_utc(before)
            )
            s.commit()
            return deleted

    def _lock(self, s: Session, chat_id: str) -> None:
        """Serialise the chat's writes until the commit (PostgreSQL; SQLite has one writer)."""
        if self._locks:
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"web:{chat_id}")})

    # -- reading --------------------------------------------------------------------------------

    def get(self, chat_id: str, message_id: str) -> Entry | None:
        with Session(self._engine) as s:
            row = s.exec(_message(chat_id, message_id)).first()
            return _entry(row) if row is not None else None

    def since(self, chat_id: str, after: int) -> Since:
        with Session(self._engine) as s:
            newest = (
                s.exec(
                    select(func.max(WebChatEntry.id)).where(WebChatEntry.chat_id == chat_id)
                ).one()
                or 0
            )
            if newest <= after:
                return Since([], [], newest)
            rows = s.exec(
                select(WebChatEntry)
                .where(
                    WebChatEntry.chat_id == chat_id,
                    col(WebChatEntry.id) > after,
                    col(WebChatEntry.id) <= newest,
                )
                .order_by(col(WebChatEntry.position), col(WebChatEntry.id))
            ).all()
            messages = [r for r in rows if r.kind != TOAST]
            quotes = _quotes(s, chat_id, {r.reply_to for r in messages if r.reply_to})
            return Since(
                [_entry(r, quotes.get(r.reply_to or "")) for r in messages],
                [
                    Toast(r.for_user, r.message_id, r.text, r.id or 0)
                    for r in rows
                    if r.kind == TOAST
                ],
                newest,
            )

    def newest(self, chat_ids: Collection[str]) -> dict[str, int]:
        if not chat_ids:
            return {}
        with Session(self._engine) as s:
            found = s.exec(
                select(WebChatEntry.chat_id, func.max(WebChatEntry.id))
                .where(col(WebChatEntry.chat_id).in_(list(chat_ids)))
                .group_by(col(WebChatEntry.chat_id))
            ).all()
            return {chat_id: seq for chat_id, seq in found if seq is not None}


def _message(chat_id: str, message_id: str) -> SelectOfScalar[WebChatEntry]:
    return select(WebChatEntry).where(
        WebChatEntry.chat_id == chat_id,
        WebChatEntry.message_id == message_id,
        col(WebChatEntry.kind) != TOAST,
    )


def _quotes(s: Session, chat_id: str, message_ids: set[str]) -> dict[str, Quote]:
    if not message_ids:
        return {}
    rows = s.exec(
        select(WebChatEntry.message_id, WebChatEntry.sender, WebChatEntry.text).where(
            WebChatEntry.chat_id == chat_id,
            col(WebChatEntry.message_id).in_(message_ids),
            col(WebChatEntry.kind) != TOAST,
        )
    ).all()
    return {message_id: Quote(sender, text) for message_id, sender, text in rows}


def _row(chat_id: str, entry: Entry, position: int) -> WebChatEntry:
    row = WebChatEntry(
        chat_id=chat_id,
        message_id=entry.id,
        kind=entry.kind,
        position=position,
        sender=entry.sender,
        badge=entry.badge,
        text=entry.text,
        sent_at=as_utc(entry.sent_at),
        reply_to=entry.reply_to,
        buttons=_buttons_json(entry.buttons),
        mentions=json.dumps(list(entry.mentions)),
    )
    _cite(row, entry.citation)
    return row


def _cite(row: WebChatEntry, citation: Citation | None) -> None:
    row.citation_article = citation.article_id if citation else None
    row.citation_title = citation.title if citation else None
    row.citation_url = citation.url if citation else None


def _entry(row: WebChatEntry, quote: Quote | None = None) -> Entry:
    citation = None
    if row.citation_article is not None:
        citation = Citation(row.citation_article, row.citation_title or "", row.citation_url or "")
    return Entry(
        id=row.message_id,
        kind="bot" if row.kind == BOT else "user",
        sender=row.sender,
        text=row.text,
        sent_at=row.sent_at,
        reply_to=row.reply_to,
        citation=citation,
        buttons=_buttons(row.buttons),
        mentions=tuple(json.loads(row.mentions)),
        badge=row.badge,
        seq=row.id or 0,
        edited=row.edited,
        quote=quote,
    )


def _buttons_json(buttons: Buttons) -> str:
    return json.dumps(
        [[{"label": b.label, "action": b.action} for b in row] for row in buttons],
        ensure_ascii=False,
    )


def _buttons(stored: str) -> Buttons:
    rows: Sequence[Sequence[dict[str, str]]] = json.loads(stored)
    return tuple(tuple(Button(b["label"], b["action"]) for b in row) for row in rows)
