"""The inbox and outbox tables: what arrived (stored before the platform is answered) and
what the bot sent or is about to send (recorded before the platform call)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class InboxState(StrEnum):
    PENDING = "pending"  # stored, not handled yet (or handling interrupted: replayed at start)
    DONE = "done"
    FAILED = "failed"  # the handler raised a non-database error: kept for the operator


class InboxEvent(SQLModel, table=True):
    """One arriving platform event. ``key`` is the platform's identity of it (chat + message
    id, button press id …): a redelivery is stored once. The payload (already redacted) is
    cleared once handled; the row stays as the proof it was."""

    __tablename__ = "inbox_event"
    __table_args__ = (UniqueConstraint("platform", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    key: str = Field(max_length=200)
    chat_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    #: Engineers' desk events run in their own lanes, never behind hospital traffic.
    desk: bool = False
    payload: str = ""
    state: str = Field(default=InboxState.PENDING, max_length=8, index=True)
    attempts: int = 0
    #: The worker handling it (``bot.cluster.claims``): another takes it over only once
    #: that worker is dead.
    claimed_by: str | None = Field(default=None, max_length=128)
    received_at: dt.datetime
    done_at: dt.datetime | None = Field(default=None, index=True)


class OutboxState(StrEnum):
    #: Recorded, waiting in the adapter's rate limiter (``adapters.base.ReleasesSends``):
    #: provably not sent yet, so a crash leaves it to be sent by the replay.
    QUEUED = "queued"
    SENDING = "sending"  # recorded, the platform call is (or was, before a crash) under way
    SENT = "sent"
    #: The request went out and no answer came (timeout, crash mid-call): maybe delivered.
    #: Never re-sent automatically; shown to the operator.
    UNKNOWN = "unknown"
    FAILED = "failed"  # the platform refused it (or it proved undelivered): not sent


class OutboxMessage(SQLModel, table=True):
    """One durable outgoing message, keyed by what caused it: ``<inbox key>#<n>`` for the
    n-th message an inbox event's handling sends (a replay finds it), ``card:<ticket>:<desk>``
    for a desk card, ``notice:<delivery id>`` for a broadcast notice to one group (all sent by
    ``bot.inbox.sending``). Claimed before the send (``queued`` while it waits in a rate limiter that
    says when it lets it go, ``sending`` from then on), recorded after it. A finished one goes
    with the retention job once nothing will ask for its key again (``bot.privacy.sends``)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key"),
        # the retention job's purge: finished sends by age
        Index("ix_outbox_message_state_created_at", "state", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=240)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    state: str = Field(default=OutboxState.SENDING, max_length=8, index=True)
    #: The platform's message id once sent.
    message_id: str | None = Field(default=None, max_length=64)
    error: str = Field(default="", max_length=200)
    #: The worker that claimed the send: a ``sending`` row becomes ``unknown`` only once that
    #: worker is dead, never while its platform call may still be under way.
    claimed_by: str | None = Field(default=None, max_length=128)
    created_at: dt.datetime
    sent_at: dt.datetime | None = None
