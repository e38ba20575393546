"""The broadcast's plan and report: which deliveries are due, who sends them, how they ended.

A delivery's send is not claimed here: it goes through the one durable send path
(``bot.inbox.sending``), keyed ``notice:<delivery id>`` in ``outbox_message`` like every
other durable message — ``queued`` while the adapter's rate limiter holds it, ``sending`` from
the moment it lets the request go, ``sent``/``failed``/``unknown`` after. A ``delivery`` row
is the plan (wave, chat, the message it replies to), the schedule (``attempts``,
``next_attempt_at``) and the report (status, message id, reason) the outbox's outcome is
copied into::

    queued ──outbox: sent──▶ sent (+ message id)
      │ ▲──outbox: retry (transient, proven not delivered)── next_attempt_at later / gave_up
      │ └──────────── engineer's ``resend`` (a new key) ──── failed / gave_up / unknown
      ├──outbox: failed (permanent: removed from the group) ──▶ failed (+ reason)
      └──outbox: unknown (request left, no answer; or its worker died mid-call) ──▶ unknown

* A worker reserves a batch of due rows (``claimed_by`` = its id, with ``FOR UPDATE SKIP
  LOCKED``: two workers never reserve the same row, nor wait on each other). A reservation
  is no claim: a crash leaves the row queued for another worker, and the outbox key decides
  who sends — a dead worker's send still waiting in its limiter is sent once by the next,
  one under way becomes ``unknown`` (``OutboxStore.interrupted``) and is never re-sent.
* Telegram has no idempotency key and no way to list what a bot sent, so an ``unknown`` send
  cannot be settled by the bot: it stays visible (status, the engineers' chat is told) and
  heals without a duplicate: a 已知悉 press on the message proves delivery and records its
  id; the acknowledgement reminder sends the full text to hospitals that have not
  acknowledged; ``resend`` lets an engineer choose at-least-once.
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
from bot.inbox.sending import Outcome, SendResult
from bot.infra.clock import as_utc
from bot.registry.sessions import read_session, write_session


class Deliveries:
    """The `delivery` rows: reserved per worker, the outcome of their sends copied in."""

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

    def of_notice(self, notice_id: int, kind: WaveKind | None = None) -> list[Delivery]:
        with read_session(self._engine) as s:
            stmt = select(Delivery).where(Delivery.notice_id == notice_id)
            if kind is not None:
                stmt = stmt.join(NoticeWave, col(NoticeWave.id) == col(Delivery.wave_id)).where(
                    NoticeWave.kind == kind
                )
            return list(s.exec(stmt.order_by(col(Delivery.id))).all())

    def record(self, delivery_id: int, result: SendResult, now: dt.datetime) -> str | None:
        """Copy the outbox's outcome of one attempt into the report; returns the delivery's new
        status (None: nothing changed — it was recorded already). A send that reached the
        chat (or may have) is recorded even on a delivery cancelled meanwhile: the report
        says what the group has."""
        delays = self._settings.delays
        with write_session(self._engine) as s:
            row = s.exec(
                select(Delivery).where(Delivery.id == delivery_id).with_for_update()
            ).first()
            reached = result.outcome in (Outcome.SENT, Outcome.UNKNOWN)
            open_ = (*PENDING_DELIVERY, DeliveryStatus.CANCELLED) if reached else PENDING_DELIVERY
            if row is None or row.status not in open_:
                return None
            row.updated_at = now
            if result.outcome is Outcome.ELSEWHERE:  # another worker's send: look again later
                row.next_attempt_at = now + dt.timedelta(seconds=self._settings.poll_seconds)
                s.add(row)
                return row.status
            row.attempts += 1
            row.last_error = result.reason[:500] or None
            if result.outcome is Outcome.SENT:
                row.status, row.sent_at = DeliveryStatus.SENT, now
                row.message_id = result.ref.message_id if result.ref else None
            elif result.outcome is Outcome.UNKNOWN:  # the engineers are owed an alert
                row.status, row.tell_unknown, row.unknown_alert = DeliveryStatus.UNKNOWN, True, None
            elif result.outcome is Outcome.RETRY:
                row.status = DeliveryStatus.QUEUED
                row.next_attempt_at = now + delays[min(row.attempts, len(delays)) - 1]
            else:
                row.status = DeliveryStatus.FAILED if result.permanent else DeliveryStatus.GAVE_UP
            s.add(row)
            return row.status

    def last_try(self, delivery: Delivery) -> bool:
        """The delivery's next attempt is its last: a transient failure ends it (gave_up)."""
        return delivery.attempts >= len(self._settings.delays)

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
                    resends=col(Delivery.resends) + 1,
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
