"""Digests posted to a desk chat, and which tickets each covered (one row per ticket).

A digest is non-urgent (P3/P4 tickets while the desk is saturated) or urgent (P1/P2 tickets
beyond what the chat's limiter sends within seconds).

A ticket listed in a digest counts as carded in that desk chat: the card outbox never sends
it a card of its own there. A digest row is written (with its tickets) before it is sent and
its message id recorded after, so a restart re-sends nothing: the send is keyed
``digest:<id>`` in the outbox.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


class DeskDigest(SQLModel, table=True):
    __tablename__ = "desk_digest"
    #: Found by its message: a reply to the digest, the purge of its recorded send.
    __table_args__ = (Index("ix_desk_digest_message", "platform", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    created_at: dt.datetime = utc_field()
    #: An urgent digest lists P1/P2 tickets that the chat's limiter could not card within
    #: seconds (and mentions the on-call engineers); a listed P1 counts as shown in the desk.
    urgent: bool = Field(default=False)
    #: None until the send is recorded (retried like a card; its tickets stay covered).
    message_id: str | None = Field(default=None, max_length=64)
    posted_at: dt.datetime | None = utc_field(default=None, nullable=True)


class DeskDigestTicket(SQLModel, table=True):
    __tablename__ = "desk_digest_ticket"
    __table_args__ = (
        # a ticket is listed in at most one digest per desk chat
        UniqueConstraint("ticket_id", "platform", "chat_id", name="uq_desk_digest_ticket"),
    )

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="desk_digest.id", index=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    #: Its line in the digest (1-based), the order the tickets are shown in.
    position: int
