"""Messages the bot deliberately left alone, and why (a table the reports can count).

No text is kept: who, where, when and the reason — the message itself is the platform's.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Engine, Index
from sqlmodel import Field, SQLModel

from bot.infra.clock import Clock, as_utc, utc_field, utc_now
from bot.registry.sessions import write_session


class SkipReason(StrEnum):
    #: An engineer was already talking in the thread or to this person.
    ENGINEER_TALKING = "engineer_talking"


class SkippedMessage(SQLModel, table=True):
    __tablename__ = "skipped_message"
    __table_args__ = (Index("ix_skipped_message_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: str = Field(foreign_key="hospital.id", max_length=32)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    reason: str = Field(max_length=32)
    #: The engineer the bot left the conversation to (engineer_talking).
    engineer_id: str | None = Field(default=None, foreign_key="engineer.id", max_length=32)
    at: dt.datetime = utc_field()


class SkipStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def record(
        self,
        *,
        hospital_id: str,
        platform: str,
        chat_id: str,
        message_id: str,
        reason: SkipReason,
        engineer_id: str | None = None,
    ) -> SkippedMessage:
        row = SkippedMessage(
            hospital_id=hospital_id,
            platform=platform,
            chat_id=chat_id,
            message_id=message_id,
            reason=reason,
            engineer_id=engineer_id,
            at=as_utc(self._clock()),
        )
        with write_session(self._engine) as s:
            s.add(row)
            s.flush()
        return row
