"""Which ticket a chat message belongs to, on either side.

Relaying works by replies: an engineer replies to a ticket card (or to a relayed hospital
message) and the text goes to the hospital's thread; a hospital user replies to the bot's ticket
notice (or to a relayed engineer message, or writes in the ticket's thread) and the text goes to
the card. Every message the bot sends or relays about a ticket — and the question that opened
it — is linked here, so a reply to any of them finds its ticket with one lookup.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Engine, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, select

from bot.infra.clock import utc_field
from bot.registry.sessions import write_session


class Side(StrEnum):
    HOSPITAL = "hospital"
    DESK = "desk"


class MessageLink(SQLModel, table=True):
    __tablename__ = "message_link"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    ticket_number: str = Field(index=True, max_length=16)
    side: str = Field(max_length=16)
    created_at: dt.datetime = utc_field(timezone=True)


class LinkStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def link(
        self, platform: str, chat_id: str, message_id: str, ticket_number: str, side: Side
    ) -> None:
        """Remember that a message belongs to a ticket (idempotent)."""
        values = {
            "platform": platform,
            "chat_id": chat_id,
            "message_id": message_id,
            "ticket_number": ticket_number,
            "side": side,
            "created_at": dt.datetime.now(dt.UTC),
        }
        # ON CONFLICT DO NOTHING rather than catching the duplicate: inside a larger
        # transaction (opening a ticket) a failed INSERT would abort all of it on PostgreSQL
        insert = sqlite_insert if self._engine.dialect.name == "sqlite" else pg_insert
        with write_session(self._engine) as session:
            session.execute(insert(MessageLink).values(**values).on_conflict_do_nothing())

    def ticket_for(self, platform: str, chat_id: str, message_id: str) -> MessageLink | None:
        with Session(self._engine) as session:
            stmt = select(MessageLink).where(
                MessageLink.platform == platform,
                MessageLink.chat_id == chat_id,
                MessageLink.message_id == message_id,
            )
            return session.exec(stmt).first()

    def unlink(self, platform: str, chat_id: str, message_id: str, ticket_number: str) -> None:
        """Forget that a message belongs to ``ticket_number`` (a 「我也是」 taken back)."""
        with write_session(self._engine) as session:
            for row in session.exec(
                select(MessageLink).where(
                    MessageLink.platform == platform,
                    MessageLink.chat_id == chat_id,
                    MessageLink.message_id == message_id,
                    MessageLink.ticket_number == ticket_number,
                )
            ).all():
                session.delete(row)

    def move_chat(self, platform: str, old_chat_id: str, new_chat_id: str) -> None:
        """A migrated chat keeps its links (its message ids are not reused by the platform)."""
        with write_session(self._engine) as session:
            rows = session.exec(
                select(MessageLink).where(
                    MessageLink.platform == platform, MessageLink.chat_id == old_chat_id
                )
            ).all()
            for row in rows:
                row.chat_id = new_chat_id
                session.add(row)
