"""The tables several workers share: who holds which lease until when; which unregistered
chats were told so."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from bot.clock import utc_field


class Lease(SQLModel, table=True):
    """A named piece of work one worker does at a time (``leader``: the timed jobs;
    ``receive:telegram``: Telegram's long polling). Held by ``owner`` until ``expires_at``
    (UTC) unless renewed; any worker may take it once expired."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    #: ``host:pid:random`` of the holding process.
    owner: str = Field(max_length=128)
    expires_at: dt.datetime = utc_field()
    #: When the current owner took it (renewals keep it): how long it has held it.
    acquired_at: dt.datetime = utc_field()


class WarnedChat(SQLModel, table=True):
    """A chat that is not any hospital's and was told so once (by whichever worker saw it
    first, whatever restarts came since). Only the chat's id: nothing of its messages."""

    __tablename__ = "warned_chat"

    platform: str = Field(primary_key=True, max_length=16)
    chat_id: str = Field(primary_key=True, max_length=64)
    warned_at: dt.datetime = utc_field()
