"""The tables several workers share: who holds which lease until when; which unregistered
chats were told so."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


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


class RelayedSend(SQLModel, table=True):
    """A reply a worker could not send itself, for the worker holding the platform's
    connection (WeCom: every send rides the bot's one long connection). Queued by the asker,
    taken and answered by the holder, deleted by the asker once it read the outcome. The
    payload is the already-redacted reply, cleared once sent."""

    __tablename__ = "relayed_send"

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16, index=True)
    chat_id: str = Field(max_length=64)
    payload: str = ""
    #: queued → taken → sent | failed; queued → cancelled (the asker stopped waiting)
    state: str = Field(default="queued", max_length=9)
    #: The holder that took it (``host:pid:random``).
    taken_by: str = Field(default="", max_length=128)
    message_id: str | None = Field(default=None, max_length=64)
    error: str = ""
    permanent: bool = False
    outcome_unknown: bool = False
    created_at: dt.datetime = utc_field(index=True)
