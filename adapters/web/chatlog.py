"""The web chats' memory: one bounded, ordered log per chat, and the toasts of button presses.

Every change (a new message, an edit, a toast) takes the next number of one counter, so a
client that has seen everything up to ``seq`` asks for "what changed after seq" and gets new and
edited messages alike. Waiting clients sleep on the chat's current ``changed`` event, which is
set and replaced on every change: nothing is registered per waiter, so a cancelled wait (the
browser went away) leaves nothing behind. Nothing here is written to disk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.base import Button, Citation

#: Toasts kept per chat: they matter for a few seconds only.
TOAST_LIMIT = 50
#: Characters of the replied-to message quoted above a reply.
QUOTE_CHARS = 80


class ChatError(Exception):
    """A request the chat cannot take; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Entry:
    """One logged message, as every viewer of the chat sees it."""

    id: str
    seq: int
    kind: Literal["user", "bot"]
    sender: str
    text: str
    sent_at: dt.datetime
    reply_to: str | None = None
    citation: Citation | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    mentions: tuple[str, ...] = ()
    edited: bool = False
    #: Who the sender really is, shown beside the name they typed (the console's words).
    badge: str = ""

    def actions(self) -> set[str]:
        return {b.action for row in self.buttons for b in row}


@dataclass(frozen=True)
class Toast:
    """The answer to one button press, shown to the person who pressed it only."""

    seq: int
    user_id: str
    message_id: str
    text: str


@dataclass(frozen=True)
class Changes:
    """What a client has not seen yet."""

    messages: list[dict[str, Any]]
    toasts: list[dict[str, Any]]
    seq: int

    def __bool__(self) -> bool:
        return bool(self.messages or self.toasts)


def safe_url(url: str) -> str | None:
    """Only web links reach the page: a citation is rendered as an ``href``."""
    return (
        url if url.startswith(("https://", "http://", "/")) and not url.startswith("//") else None
    )


@dataclass
class ChatLog:
    limit: int
    entries: dict[str, Entry] = field(default_factory=dict)
    toasts: deque[Toast] = field(default_factory=lambda: deque(maxlen=TOAST_LIMIT))
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake everyone waiting on this chat; later waiters sleep on a fresh event."""
        self.changed.set()
        self.changed = asyncio.Event()

    def add(self, entry: Entry) -> None:
        self.entries[entry.id] = entry
        while len(self.entries) > self.limit:
            del self.entries[next(iter(self.entries))]  # the oldest: dicts keep insertion order
        self.notify()

    def as_json(self, entry: Entry) -> dict[str, Any]:
        quoted = self.entries.get(entry.reply_to) if entry.reply_to else None
        citation = entry.citation
        return {
            "id": entry.id,
            "seq": entry.seq,
            "kind": entry.kind,
            "sender": entry.sender,
            "badge": entry.badge,
            "text": entry.text,
            "sent_at": entry.sent_at.isoformat(),
            "reply_to": entry.reply_to,
            "quote": (
                {"sender": quoted.sender, "text": quoted.text[:QUOTE_CHARS]} if quoted else None
            ),
            "citation": (
                {"title": citation.title, "url": safe_url(citation.url)} if citation else None
            ),
            "buttons": [
                [{"label": b.label, "action": b.action} for b in row] for row in entry.buttons
            ],
            "mentions": list(entry.mentions),
            "edited": entry.edited,
        }


class Board:
    """All web chats of the process, each bounded to ``limit`` messages."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a web chat must keep at least one message")
        self.limit = limit
        self._chats: dict[str, ChatLog] = {}
        self._seq = itertools.count(1)
        self.last_seq = 0

    def next_seq(self) -> int:
        self.last_seq = next(self._seq)
        return self.last_seq

    def chat(self, chat_id: str) -> ChatLog:
        log = self._chats.get(chat_id)
        if log is None:
            log = self._chats[chat_id] = ChatLog(self.limit)
        return log

    def __iter__(self) -> Iterator[ChatLog]:
        return iter(self._chats.values())

    def get(self, chat_id: str, message_id: str) -> Entry:
        entry = self.chat(chat_id).entries.get(message_id)
        if entry is None:
            raise ChatError(404, "消息不存在（可能已过期），请刷新页面。")
        return entry

    def edit(
        self,
        chat_id: str,
        message_id: str,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
        citation: Citation | None,
    ) -> Entry:
        """Replace a message's text and buttons; it gets a new ``seq`` so clients refetch it."""
        log = self.chat(chat_id)
        entry = self.get(chat_id, message_id)
        entry.text, entry.buttons, entry.citation = text, buttons, citation
        entry.edited = True
        entry.seq = self.next_seq()
        log.notify()
        return entry

    def toast(self, chat_id: str, user_id: str, message_id: str, text: str) -> None:
        log = self.chat(chat_id)
        log.toasts.append(Toast(self.next_seq(), user_id, message_id, text))
        log.notify()

    def changes(self, chat_id: str, after: int, user_id: str) -> Changes:
        """Messages added or edited after ``after`` (in chat order) and the user's new toasts.

        A cursor beyond the counter comes from before a restart: the whole log is sent again.
        A toast answers a press on the page that made it, at that moment: a page loading the
        whole log (``after`` 0, a reload or another tab) gets none, so old toasts never replay.
        """
        if after > self.last_seq:
            after = 0
        log = self.chat(chat_id)
        return Changes(
            messages=[log.as_json(e) for e in log.entries.values() if e.seq > after],
            toasts=[
                {"seq": t.seq, "message_id": t.message_id, "text": t.text}
                for t in log.toasts
                if after and t.seq > after and t.user_id == user_id
            ],
            seq=self.last_seq,
        )
