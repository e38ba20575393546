"""The inbox's and outbox's rows (synchronous: call through the database gateway)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Engine, delete, or_, update
from sqlmodel import Session, col, select

from bot.cluster.claims import Claimant
from bot.cluster.insert_once import insert_new
from bot.inbox.models import InboxEvent, InboxState, OutboxMessage, OutboxState
from bot.infra.clock import Clock, utc_now
from bot.registry.sessions import delete_batch, write_session


class InboxStore:
    """``claimant``: this worker (default: the only process on the database); the events it
    stores are its own to handle until it dies."""

    def __init__(
        self, engine: Engine, clock: Clock = utc_now, claimant: Claimant | None = None
    ) -> None:
        self._engine = engine
        self._claimant = claimant or Claimant.alone()
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
            "claimed_by": self._claimant.owner,
            "received_at": self._now(),
        }
        with write_session(self._engine) as session:
            return insert_new(session, InboxEvent, values)

    def take_over(self, limit: int = 500) -> list[InboxEvent]:
        """Claim up to ``limit`` events not handled yet whose worker is dead (a crash, a
        stop, another worker killed), oldest first: what this worker replays. Rows another
        worker is taking over at this moment are skipped (``SKIP LOCKED``), never shared."""
        with write_session(self._engine) as session:
            stmt = (
                select(InboxEvent)
                .where(
                    InboxEvent.state == InboxState.PENDING,
                    self._claimant.dead(InboxEvent.claimed_by, self._now()),
                )
                .order_by(col(InboxEvent.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.exec(stmt).all())
            for row in rows:
                row.claimed_by = self._claimant.owner
                session.add(row)
            session.flush()
            for row in rows:
                session.refresh(row)
            return rows

    def finish(self, event_id: int, state: InboxState, attempts: int) -> None:
        """Handled (or given up on): the payload goes, the row stays as proof."""
        with write_session(self._engine) as session:
            session.execute(
                update(InboxEvent)
                .where(col(InboxEvent.id) == event_id)
                .values(state=state, payload="", attempts=attempts, done_at=self._now())
            )

    def purge(self, before: dt.datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` events handled (done or failed) before ``before``; returns
        how many (the retention job calls it until it returns fewer than ``limit``). A
        platform redelivers an event for a day at most, so older proofs guard nothing."""
        finished = (InboxState.DONE, InboxState.FAILED)
        with write_session(self._engine) as session:
            return delete_batch(
                session,
                InboxEvent,
                limit,
                col(InboxEvent.state).in_(finished),
                col(InboxEvent.done_at) < before,
            )


class OutboxStore:
    """``claimant``: this worker (default: the only process on the database); the sends it
    claims are its own until it dies."""

    def __init__(
        self, engine: Engine, clock: Clock = utc_now, claimant: Claimant | None = None
    ) -> None:
        self._engine = engine
        self._claimant = claimant or Claimant.alone()
        self._now = clock

    def claim(
        self, key: str, platform: str, chat_id: str, *, queued: bool = False
    ) -> OutboxMessage | None:
        """Record that ``key`` is about to be sent (``queued``: it will wait in a rate limiter
        first, see ``mark_sending``); returns None when this caller may send it, else the
        earlier row (sent, unknown, failed, or another live worker's: do not send again). A
        ``queued`` row of this worker or a dead one was never sent: it is taken over."""
        return self.claim_each([key], platform, chat_id, queued=queued)[key]

    def claim_each(
        self, keys: Sequence[str], platform: str, chat_id: str, *, queued: bool = False
    ) -> dict[str, OutboxMessage | None]:
        """``claim`` for several keys in one transaction: the pages one message carries (a
        batch's message is keyed too; each page's own key says it was sent, in whichever
        message)."""
        out: dict[str, OutboxMessage | None] = {}
        with write_session(self._engine) as session:
            for key in keys:
                values = {
                    "key": key,
                    "platform": platform,
                    "chat_id": chat_id,
                    "state": OutboxState.QUEUED if queued else OutboxState.SENDING,
                    "error": "",
                    "claimed_by": self._claimant.owner,
                    "created_at": self._now(),
                }
                if insert_new(session, OutboxMessage, values) is not None:
                    out[key] = None
                    continue
                retaken = session.execute(
                    update(OutboxMessage)
                    .where(
                        col(OutboxMessage.key) == key,
                        col(OutboxMessage.state) == OutboxState.QUEUED,
                        or_(
                            col(OutboxMessage.claimed_by) == self._claimant.owner,
                            self._claimant.dead(OutboxMessage.claimed_by, self._now()),
                        ),
                    )
                    .values(values)
                    .execution_options(synchronize_session=False)
                )
                if retaken.rowcount:  # type: ignore[attr-defined]
                    out[key] = None
                else:
                    stmt = select(OutboxMessage).where(OutboxMessage.key == key)
                    out[key] = session.exec(stmt).one()
            return out

    def get(self, key: str) -> OutboxMessage | None:
        with Session(self._engine) as session:
            return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()

    def states(self, keys: Sequence[str]) -> dict[str, OutboxState]:
        """The state of each key that has a row (a report's "sending" comes from here)."""
        found: dict[str, OutboxState] = {}
        with Session(self._engine) as session:
            for start in range(0, len(keys), 500):
                stmt = select(OutboxMessage.key, OutboxMessage.state).where(
                    col(OutboxMessage.key).in_(keys[start : start + 500])
                )
                found.update((key, OutboxState(state)) for key, state in session.exec(stmt))
        return found

    def mark_sending(self, key: str | Sequence[str]) -> bool:
        """The adapter lets this worker's ``queued`` send go now: ``sending`` from here on
        (several keys: a message and the pages it carries, all or none). False: a row is no
        longer this worker's queued send (taken over): nothing changed, do not send."""
        keys = [key] if isinstance(key, str) else list(dict.fromkeys(key))
        with write_session(self._engine) as session:
            result = session.execute(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.key).in_(keys),
                    col(OutboxMessage.state) == OutboxState.QUEUED,
                    col(OutboxMessage.claimed_by) == self._claimant.owner,
                )
                .values(state=OutboxState.SENDING)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == len(keys):  # type: ignore[attr-defined]
                return True
            session.rollback()
            return False

    def record(
        self,
        key: str | Sequence[str],
        state: OutboxState,
        message_id: str | None = None,
        error: str = "",
    ) -> None:
        """The outcome of the send claimed under ``key`` (or each of several keys)."""
        keys = [key] if isinstance(key, str) else list(key)
        with write_session(self._engine) as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key).in_(keys))
                .values(
                    state=state,
                    message_id=message_id,
                    error=error[:200],
                    sent_at=self._now() if state is OutboxState.SENT else None,
                )
            )

    def release(self, key: str | Sequence[str]) -> None:
        """Forget a claim whose send was proven not to happen (the cause may try again)."""
        keys = [key] if isinstance(key, str) else list(key)
        with write_session(self._engine) as session:
            rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.key).in_(keys)))
            for row in rows.all():
                if row.state in (OutboxState.QUEUED, OutboxState.SENDING):
                    session.delete(row)

    def interrupted(self) -> int:
        """Sends a dead worker left under way (a crash, ``kill -9``) may have reached the
        platform: unknown, not re-sent. Its ``queued`` sends never left: forgotten, so the
        replay of their event (or the card outbox) sends them. A live worker's sends are left
        alone. Returns how many became unknown (at start, and periodically with several
        workers)."""
        dead = self._claimant.dead(OutboxMessage.claimed_by, self._now())
        with write_session(self._engine) as session:
            session.execute(
                delete(OutboxMessage)
                .where(col(OutboxMessage.state) == OutboxState.QUEUED, dead)
                .execution_options(synchronize_session=False)
            )
            result = session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.state) == OutboxState.SENDING, dead)
                .values(
                    state=OutboxState.UNKNOWN, error="interrupted: its worker died during the send"
                )
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
