"""``web_chat_entry``: the web chats' messages, edits and press answers, one row each.

``id`` is the board's sequence (``seq``, the long polls' cursor): it only grows, never
reused (``AUTOINCREMENT`` on SQLite), and within a chat it follows commit order because a
chat's appends are serialised (``store.py``). An edited message moves to a new row (a new
``id``) keeping its ``position``, its place in the chat. A toast (the answer to a press) is a
row for one person (``for_user``) with no position.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field

#: Kinds of rows: a person's message, the bot's, the answer to a press.
USER, BOT, TOAST = "user", "bot", "toast"


class WebChatEntry(SQLModel, table=True):
    __tablename__ = "web_chat_entry"
    __table_args__ = (
        Index("ix_web_chat_entry_chat", "chat_id", "id"),
        Index("ix_web_chat_entry_position", "chat_id", "position"),
        Index("ix_web_chat_entry_message", "chat_id", "message_id"),
        Index("ix_web_chat_entry_sent_at", "sent_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    #: The web chat (a hospital's id).
    chat_id: str = Field(max_length=64)
    #: The message's id (what the bot's send returned); for a toast, the pressed message's.
    message_id: str = Field(max_length=64)
    kind: str = Field(max_length=8)
    #: The message's place in its chat, 1, 2, 3… (0: a toast).
    position: int = 0
    #: A toast's presser (their chat user id); empty for a message.
    for_user: str = Field(default="", max_length=128)
    #: The display name shown (personal: masked, erasable).
    sender: str = Field(default="")
    #: Who the sender really is, in the console's words (a hospital link's label).
    badge: str = Field(default="")
    text: str = Field(default="")
    sent_at: dt.datetime = utc_field()
    reply_to: str | None = Field(default=None, max_length=64)
    citation_article: str | None = Field(default=None, max_length=64)
    citation_title: str | None = Field(default=None, max_length=300)
    citation_url: str | None = Field(default=None, max_length=1000)
    #: The buttons, rows of ``{"label", "action"}`` as JSON (the bot's own words and actions).
    buttons: str = Field(default="[]")
    #: Platform user ids the message mentions, as a JSON list.
    mentions: str = Field(default="[]")
    edited: bool = False
