"""The outbox's database side: deliveries are claimed, sent and recorded, exactly once.

The exactly-once protocol, per delivery row::

    queued ──claim (token, attempts+1; COMMIT)──▶ sending ──platform accepted──▶ sent (+ message id)
       ▲                                             ├── transient error ──▶ queued (later) / gave_up
       └──────────── engineer's ``resend`` ──────────┤── permanent error ──▶ failed (+ reason)
                                                     └── worker died ──(seconds later)──▶ unknown

* A worker first reserves a batch of due rows (``claimed_by`` = its id, with ``FOR UPDATE
  SKIP LOCKED``: two workers never reserve the same row, nor wait on each other), then claims
  each one just before its platform call — a conditional UPDATE (``WHERE status='queued'`` and
  still reserved by it, or by a dead worker): of two workers, one sends.
* Results are recorded only on a row that still carries the claim's token.
* A row still 'sending' whose worker is dead (``bot.cluster.claims``: found at start-up, or by
  any worker within seconds of the death) was claimed by a process that died between the claim
  and the record; a live worker's row in flight is never touched. Telegram has no idempotency
  key and no way to list what a bot sent, so whether the message arrived cannot be known. We choose **at-most-once** for that window: the row
  becomes 'unknown' and is never re-sent automatically (a duplicate patch notice in 2,000
  groups is what this design must rule out). The window is one in-flight request per row —
  the claim is committed immediately before the platform call and the result immediately
  after — so a crash leaves at most ``concurrency`` such rows. They stay visible (status,
  the engineers' chat is told) and heal without a duplicate: a 已知悉 press on the message
  proves delivery and records its id; the acknowledgement reminder sends the full text to
  hospitals that have not acknowledged; ``resend`` lets an engineer choose at-least-once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, or_, update
from sqlmodel import col, select

from bot.broadcasts.models import (
    PENDING_DELIVERY,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    NoticeWave,
    WaveKind,
)
from bot.broadcasts.settings import BroadcastSettings
from bot.cluster.claims import Claimant
from bot.infra.clock import as_utc
from bot.registry.sessions import read_session, write_session


class Outbox:
    def __init__(self, engine: Engine, settings: BroadcastSettings, claimant: Claimant) -> None:
        self._engine = engine
        self._settings = settings
        self._claimant = claimant

    def _mine_or_dead(self, now: dt.datetime) -> Any:
        """SQL: the row is reserved by this worker, by none, or by a dead one."""
        return or_(
            col(Delivery.claimed_by) == self._claimant.owner,
            self._claimant.dead(Delivery.claimed_by, now),
        )

    # -- reading ---------------------------------------------------------------------------

    def reserve_due(self, now: dt.datetime, limit: int) -> list[Delivery]:
        """Reserve for this worker up to ``limit`` queued rows whose time has come, urgent
        notices first, then oldest first — rows another live worker reserved, or is reserving
        at this moment (``SKIP LOCKED``), are left to it. A reservation is no claim: the row
        stays queued, and a crash leaves it for another worker, not unknown."""
        with write_session(self._engine) as s:
            stmt = (
                select(Delivery)
                .join(Notice, col(Notice.id) == col(Delivery.notice_id))
                .where(
                    Delivery.status == DeliveryStatus.QUEUED,
                    col(Delivery.next_attempt_at) <= now,
                    self._mine_or_dead(now),
                )
                .order_by(col(Notice.urgent).desc(), col(Delivery.id))
                .limit(limit)
                .with_for_update(skip_locked=True, of=Delivery)
            )
            rows = list(s.exec(stmt).all())
            ids = [row.id for row in rows]
            if ids:
                s.exec(
                    update(Delivery)
                    .where(col(Delivery.id).in_(ids))
                    .values(claimed_by=self._claimant.owner)
                    .execution_options(synchronize_session=False)
                )
            for row in rows:
                s.expunge(row)
                row.claimed_by = self._claimant.owner
            return rows

    def next_attempt_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the next queued row this worker may send is due (rows a live worker
        reserved are its: waking for them would only spin)."""
        with read_session(self._engine) as s:
            stmt = select(func.min(Delivery.next_attempt_at)).where(
                Delivery.status == DeliveryStatus.QUEUED, self._mine_or_dead(now)
            )
            value = s.exec(stmt).one()
            return as_utc(value) if value is not None else None

    def get(self, delivery_id: int) -> Delivery | None:
        with read_session(self._engine) as s:
            return s.get(Delivery, delivery_id)

    def deliveries(self, notice_id: int, kind: WaveKind | None = None) -> list[Delivery]:
        with read_session(self._engine) as s:
            stmt = select(Delivery).where(Delivery.notice_id == notice_id)
            if kind is not None:
                stmt = stmt.join(NoticeWave, col(NoticeWave.id) == col(Delivery.wave_id)).where(
                    NoticeWave.kind == kind
                )
            return list(s.exec(stmt.order_by(col(Delivery.id))).all())

    def claim(self, delivery_id: int, token: str, now: dt.datetime) -> bool:
        """Record the intent to send (committed before the platform call); False when the row
        is no longer queued or another live worker reserved it."""
        with write_session(self._engine) as s:
            result = s.exec(
                update(Delivery)
                .where(
                    col(Delivery.id) == delivery_id,
                    col(Delivery.status) == DeliveryStatus.QUEUED,
                    self._mine_or_dead(now),
                )
                .values(
                    status=DeliveryStatus.SENDING,
                    claim_token=token,
                    claimed_by=self._claimant.owner,
                    claimed_at=now,
                    attempts=col(Delivery.attempts) + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def record_sent(self, delivery_id: int, token: str, message_id: str, now: dt.datetime) -> bool:
        with write_session(self._engine) as s:
            result = s.exec(
                update(Delivery)
                .where(
                    col(Delivery.id) == delivery_id,
                    col(Delivery.claim_token) == token,
                    col(Delivery.status).in_((DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)),
                )
                .values(
                    status=DeliveryStatus.SENT,
                    message_id=message_id,
                    sent_at=now,
                    last_error=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def record_failure(
        self, delivery_id: int, token: str, error: str, permanent: bool, now: dt.datetime
    ) -> str | None:
        """A failed attempt: failed (permanent), queued again after the next retry delay, or
        gave_up when the delays ran out. Returns the new status (None: not our claim)."""
        delays = self._settings.delays
        with write_session(self._engine) as s:
            row = s.exec(
                select(Delivery).where(Delivery.id == delivery_id).with_for_update()
            ).first()
            if row is None or row.claim_token != token or row.status != DeliveryStatus.SENDING:
                return None
            row.last_error = error[:500]
            row.updated_at = now
            if permanent:
                row.status = DeliveryStatus.FAILED
            elif row.attempts <= len(delays):
                row.status = DeliveryStatus.QUEUED
                row.next_attempt_at = now + delays[row.attempts - 1]
            else:
                row.status = DeliveryStatus.GAVE_UP
            s.add(row)
            return row.status

    def reconcile_interrupted(self, now: dt.datetime) -> list[Delivery]:
        """Rows a dead worker left 'sending' become 'unknown' (see above); a live worker's
        are left alone. At start-up, and every round with several workers: only the worker
        whose transaction changed a row returns it (and tells the desk)."""
        with write_session(self._engine) as s:
            stmt = select(Delivery).where(
                Delivery.status == DeliveryStatus.SENDING,
                self._claimant.dead(Delivery.claimed_by, now),
            )
            rows = list(s.exec(stmt.with_for_update(skip_locked=True)).all())
            for row in rows:
                row.status = DeliveryStatus.UNKNOWN
                row.last_error = "interrupted between the platform call and its record"
                row.updated_at = now
                s.add(row)
        return rows

    def requeue(
        self, notice_id: int, hospital_ids: Sequence[str], statuses: Sequence[str], now: dt.datetime
    ) -> int:
        """Queue the notice wave's rows in ``statuses`` again (an engineer's decision)."""
        with write_session(self._engine) as s:
            main = select(NoticeWave.id).where(
                NoticeWave.notice_id == notice_id, NoticeWave.kind == WaveKind.MAIN
            )
            stmt = update(Delivery).where(
                col(Delivery.wave_id).in_(main.scalar_subquery()),
                col(Delivery.status).in_(tuple(statuses)),
            )
            if hospital_ids:
                stmt = stmt.where(col(Delivery.hospital_id).in_(tuple(hospital_ids)))
            result = s.exec(
                stmt.values(
                    status=DeliveryStatus.QUEUED,
                    claim_token=None,
                    claimed_by=None,
                    next_attempt_at=now,
                    updated_at=now,
                ).execution_options(synchronize_session=False)
            )
            if result.rowcount:
                notice = s.get(Notice, notice_id)
                if notice is not None and notice.status == NoticeStatus.SENT:
                    notice.status, notice.updated_at = NoticeStatus.SENDING, now
                    s.add(notice)
            return int(result.rowcount)

    def finish_notices(self, now: dt.datetime) -> list[int]:
        """Notices whose notice wave has nothing pending any more become 'sent'."""
        with write_session(self._engine) as s:
            sending = s.exec(select(Notice).where(Notice.status == NoticeStatus.SENDING)).all()
            done: list[int] = []
            for notice in sending:
                pending = s.exec(
                    select(func.count())
                    .select_from(Delivery)
                    .join(NoticeWave, col(NoticeWave.id) == col(Delivery.wave_id))
                    .where(
                        Delivery.notice_id == notice.id,
                        NoticeWave.kind == WaveKind.MAIN,
                        col(Delivery.status).in_(PENDING_DELIVERY),
                    )
                ).one()
                if pending == 0 and notice.id is not None:
                    notice.status, notice.sent_at, notice.updated_at = NoticeStatus.SENT, now, now
                    s.add(notice)
                    done.append(notice.id)
            return done
