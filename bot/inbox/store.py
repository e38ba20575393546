"""The inbox's and outbox's rows (synchronous: call through the database gateway)."""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.clock import Clock, utc_now
from bot.cluster.insert_once import insert_new
from bot.inbox.models import InboxEvent, InboxState, OutboxMessage, OutboxState
from bot.registry.sessions import write_session


class InboxStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._now = clock

    def put(
        self, platform: str, key: str, chat_id: str, kind: str, desk: bool, payload: str
    ) -> int | None:
        """Store an arriving event; returns its row id, or None when it was stored before (a
        redelivery: it is handled, or will be, from the first copy)."""
        values = {
            "platform": platform,
            "key": key,
            "chat_id": chat_id,
            "kind": kind,
            "desk": desk,
            "payload": payload,
            "state": InboxState.PENDING,
            "attempts": 0,
            "received_at": self._now(),
        }
        with write_session(self._engine) as session:
            return insert_new(session, InboxEvent, values)

    def pending(self) -> list[InboxEvent]:
        """Every event not handled yet, in arrival order (what a restart replays)."""
        with Session(self._engine) as session:
            stmt = (
                select(InboxEvent)
                .where(InboxEvent.state == InboxState.PENDING)
                .order_by(col(InboxEvent.id))
            )
            return list(session.exec(stmt).all())

    def finish(self, event_id: int, state: InboxState, attempts: int) -> None:
        """Handled (or given up on): the payload goes, the row stays as proof."""
        with write_session(self._engine) as session:
            session.execute(
                update(InboxEvent)
                .where(col(InboxEvent.id) == event_id)
                .values(state=state, payload="", attempts=attempts, done_at=self._now())
            )

    def count(self, state: InboxState) -> int:
        with Session(self._engine) as session:
            return len(session.exec(select(InboxEvent.id).where(InboxEvent.state == state)).all())


class OutboxStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._now = clock

    def claim(self, key: str, platform: str, chat_id: str) -> OutboxMessage | None:
        """Record that ``key`` is about to be sent; returns None when this caller may send it,
        else the earlier row (sent, unknown or failed: do not send again)."""
        values = {
            "key": key,
            "platform": platform,
            "chat_id": chat_id,
            "state": OutboxState.SENDING,
            "error": "",
            "created_at": self._now(),
        }
        with write_session(self._engine) as session:
            if insert_new(session, OutboxMessage, values) is not None:
                return None
            return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).one()

    def record(
        self, key: str, state: OutboxState, message_id: str | None = None, error: str = ""
    ) -> None:
        with write_session(self._engine) as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key) == key)
                .values(
                    state=state,
                    message_id=message_id,
                    error=error[:200],
                    sent_at=self._now() if state is OutboxState.SENT else None,
                )
            )

    def release(self, key: str) -> None:
        """Forget a claim whose send was proven not to happen (the cause may try again)."""
        with write_session(self._engine) as session:
            row = session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()
            if row is not None and row.state == OutboxState.SENDING:
                session.delete(row)

    def interrupted(self) -> int:
        """At start: sends a crash interrupted may have reached the platform — unknown, not
        re-sent. Returns how many."""
        with write_session(self._engine) as session:
            result = session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.state) == OutboxState.SENDING)
                .values(state=OutboxState.UNKNOWN, error="interrupted by a restart")
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def count(self, state: OutboxState) -> int:
        with Session(self._engine) as session:
            stmt = select(OutboxMessage.id).where(OutboxMessage.state == state)
            return len(session.exec(stmt).all())
