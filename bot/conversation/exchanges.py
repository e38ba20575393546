"""Exchanges: each question the bot decided on in a hospital chat, and what came of it.

The record is what makes "没解决" and "还是不行" work (they refer back to the question and the
articles already tried), and what the service reports count (answered and marked solved vs
escalated: the deflection rate). Text is stored redacted, like everything else.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Engine, Index, or_
from sqlmodel import Field, Session, SQLModel, col, select

from bot.infra.clock import Clock, utc_field
from bot.registry.sessions import write_session


class Outcome(StrEnum):
    PENDING = "pending"  # answered or clarified; the user has not said
    SOLVED = "solved"  # "已解决"
    UNSOLVED = "unsolved"  # "没解决" (followed by escalation)
    ESCALATED = "escalated"  # a ticket was opened for it
    QUIET = "quiet"  # small talk: nothing sent


class Exchange(SQLModel, table=True):
    __tablename__ = "exchange"
    #: The chat's look-ups (a reply finds its exchange, a ticket gathers its thread) and the
    #: reports' period scans; without them each is a full scan on the event loop.
    __table_args__ = (
        Index("ix_exchange_thread", "platform", "chat_id", "thread_root"),
        Index("ix_exchange_question", "platform", "chat_id", "question_message_id"),
        Index("ix_exchange_reply", "platform", "chat_id", "reply_message_id"),
        Index("ix_exchange_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: str = Field(index=True, max_length=32)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    #: The root of the conversation: the question's message id (or the platform thread id).
    thread_root: str = Field(max_length=64)
    question_message_id: str = Field(max_length=64)
    reporter_user_id: str = Field(max_length=64)
    reporter_name: str = ""
    question: str
    decision: str = Field(max_length=16)
    #: Articles shown (the answer, or the clarify choices), comma-separated ids in order.
    article_ids: str = ""
    confidence: float = 0.0
    reply_message_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default=Outcome.PENDING, max_length=16)
    ticket_number: str | None = Field(default=None, max_length=16)
    created_at: dt.datetime = utc_field(timezone=True)
    updated_at: dt.datetime = utc_field(timezone=True)

    @property
    def articles(self) -> list[str]:
        return [a for a in self.article_ids.split(",") if a]


class ExchangeStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def record(
        self,
        *,
        hospital_id: str,
        platform: str,
        chat_id: str,
        thread_root: str,
        question_message_id: str,
        reporter_user_id: str,
        reporter_name: str,
        question: str,
        decision: str,
        article_ids: list[str],
        confidence: float,
        outcome: Outcome = Outcome.PENDING,
    ) -> Exchange:
        now = self._clock()
        row = Exchange(
            hospital_id=hospital_id,
            platform=platform,
            chat_id=chat_id,
            thread_root=thread_root,
            question_message_id=question_message_id,
            reporter_user_id=reporter_user_id,
            reporter_name=reporter_name,
            question=question,
            decision=decision,
            article_ids=",".join(article_ids),
            confidence=confidence,
            outcome=outcome,
            created_at=now,
            updated_at=now,
        )
        with write_session(self._engine) as session:
            session.add(row)
            session.flush()
        return row

    def get(self, exchange_id: int) -> Exchange | None:
        with Session(self._engine) as session:
            return session.get(Exchange, exchange_id)

    def set_reply(self, exchange_id: int, reply_message_id: str) -> None:
        self._update(exchange_id, reply_message_id=reply_message_id)

    def set_outcome(
        self, exchange_id: int, outcome: Outcome, ticket_number: str | None = None
    ) -> None:
        changes: dict[str, object] = {"outcome": outcome}
        if ticket_number:
            changes["ticket_number"] = ticket_number
        self._update(exchange_id, **changes)

    def _update(self, exchange_id: int, **changes: object) -> None:
        with write_session(self._engine) as session:
            row = session.get(Exchange, exchange_id)
            if row is None:
                return
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = self._clock()
            session.add(row)

    def for_question(self, platform: str, chat_id: str, message_id: str) -> Exchange | None:
        """The exchange recorded for this very question message (a replay finds it)."""
        with Session(self._engine) as session:
            stmt = select(Exchange).where(
                Exchange.platform == platform,
                Exchange.chat_id == chat_id,
                Exchange.question_message_id == message_id,
            )
            return session.exec(stmt.order_by(col(Exchange.id))).first()

    def for_message(self, platform: str, chat_id: str, message_id: str) -> Exchange | None:
        """The exchange a message belongs to: its question, or the bot's reply to it."""
        with Session(self._engine) as session:
            stmt = (
                select(Exchange)
                .where(Exchange.platform == platform, Exchange.chat_id == chat_id)
                .where(
                    or_(
                        col(Exchange.question_message_id) == message_id,
                        col(Exchange.reply_message_id) == message_id,
                        col(Exchange.thread_root) == message_id,
                    )
                )
                .order_by(col(Exchange.id).desc())
            )
            return session.exec(stmt).first()

    def thread(self, platform: str, chat_id: str, thread_root: str) -> list[Exchange]:
        """All exchanges of one conversation, oldest first (the thread a ticket carries)."""
        with Session(self._engine) as session:
            stmt = (
                select(Exchange)
                .where(
                    Exchange.platform == platform,
                    Exchange.chat_id == chat_id,
                    Exchange.thread_root == thread_root,
                )
                .order_by(col(Exchange.id))
            )
            return list(session.exec(stmt).all())
