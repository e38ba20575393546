"""The web chats' board as a port: what a chat holds and where it is kept.

A contract between the web adapter (``adapters.web``), which serves the chats, and the
composition root, which implements ``ChatBoard`` over the database (``bot.webchat``) so
that every worker serving the console sees the same chats. Like ``adapters.base`` it names
no platform library, so the core may import it. Every entry of a chat — a message, a new
version of an edited one, the toast answering a press — takes the next number of one
increasing sequence, its ``seq``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from adapters.base import Button, Citation

Buttons = tuple[tuple[Button, ...], ...]


class BoardUnavailable(Exception):
    """The board cannot be read or written now (its database is away); the API says 503."""


@dataclass(frozen=True)
class Quote:
    """The start of the message a reply answers, shown above it."""

    sender: str
    text: str


@dataclass(frozen=True)
class Entry:
    """One message of a chat, as every viewer of the chat sees it."""

    #: The message's id (what the bot's sends return, what replies and presses name).
    id: str
    kind: Literal["user", "bot"]
    sender: str
    text: str
    sent_at: dt.datetime
    reply_to: str | None = None
    citation: Citation | None = None
    buttons: Buttons = ()
    mentions: tuple[str, ...] = ()
    #: Who the sender really is, shown beside the name they typed (the console's words).
    badge: str = ""
    #: The entry's number in the board's sequence (0 until stored); an edit takes a new one.
    seq: int = 0
    edited: bool = False
    #: The replied-to message, when the board still holds it (filled on reading).
    quote: Quote | None = None

    def actions(self) -> set[str]:
        return {b.action for row in self.buttons for b in row}


@dataclass(frozen=True)
class Toast:
    """The answer to one button press, shown to the person who pressed it only."""

    user_id: str
    message_id: str
    text: str
    seq: int = 0


@dataclass(frozen=True)
class Since:
    """What a chat's board holds after a cursor: its messages in chat order, every toast
    (the adapter keeps each viewer's own), and ``newest``, the chat's highest ``seq`` (0 for
    an empty chat) — the cursor of a client that has seen all of it."""

    entries: list[Entry]
    toasts: list[Toast]
    newest: int


class ChatBoard(Protocol):
    """Where the web chats are kept, shared by every worker. Each method raises
    ``BoardUnavailable`` when the storage cannot be reached."""

    async def append(self, chat_id: str, entry: Entry) -> Entry:
        """Store ``entry`` at the end of the chat; returns it with its ``seq``. A chat keeps
        a bounded number of messages: the oldest go."""
        ...

    async def edit(
        self, chat_id: str, message_id: str, text: str, buttons: Buttons, citation: Citation | None
    ) -> Entry | None:
        """Replace a message's text, buttons and citation under a new ``seq``, keeping its
        place in the chat; None when the chat no longer holds it."""
        ...

    async def toast(self, chat_id: str, toast: Toast) -> Toast:
        """Store the answer to a press; returns it with its ``seq``."""
        ...

    async def get(self, chat_id: str, message_id: str) -> Entry | None:
        """The message, or None when the chat does not hold it (any more)."""
        ...

    async def since(self, chat_id: str, after: int) -> Since:
        """The messages and toasts stored after ``after`` (0: the whole chat)."""
        ...

    async def newest(self, chat_ids: Collection[str]) -> dict[str, int]:
        """The highest ``seq`` of each of the chats that has any entry, in one look-up (the
        watch of long polls asks this for every chat waited on)."""
        ...
