"""Waves: each time a notice is put in front of people, and the one place they fire.

A wave is due at a time; firing it creates its deliveries (``bot.broadcasts.deliveries``). The
wave row is the ledger the scheduler is checked against: firing is a conditional UPDATE
(``scheduled → fired``) in the same transaction that writes the deliveries, so a job that runs
twice (APScheduler after a restart *and* the start-up check, or two processes) fires once, and a
crash leaves the wave either unfired without deliveries or fired with all of them.

Who a wave reaches: the notice wave, the chats the targets resolve to now; reminders and
follow-ups, the chats the notice reached (sent or unknown), replying to it there; the
acknowledgement reminder, those of them whose hospital has not pressed 已知悉.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.broadcasts.models import (
    REACHED,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    NoticeTarget,
    NoticeWave,
    Receipt,
    ReceiptKind,
    WaveKind,
    WaveStatus,
)
from bot.broadcasts.settings import BroadcastSettings
from bot.broadcasts.specs import Targets
from bot.broadcasts.targeting import resolve
from bot.registry.sessions import read_session, write_session

#: (hospital id, platform, chat id, message to reply to)
Audience = list[tuple[str | None, str, str, str | None]]


def targets_of(s: Session, notice_id: int) -> Targets:
    rows = s.exec(select(NoticeTarget).where(NoticeTarget.notice_id == notice_id)).all()
    return Targets.from_rows((r.kind, r.value) for r in rows)


def new_delivery(
    notice_id: int, wave_id: int, who: tuple[str | None, str, str, str | None], now: dt.datetime
) -> Delivery:
    hospital_id, platform, chat_id, reply_to = who
    return Delivery(
        notice_id=notice_id,
        wave_id=wave_id,
        hospital_id=hospital_id,
        platform=platform,
        chat_id=chat_id,
        reply_to=reply_to,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


class Waves:
    def __init__(self, engine: Engine, settings: BroadcastSettings) -> None:
        self._engine = engine
        self._settings = settings

    # -- reading --------------------------------------------------------------------------------

    def due_waves(self, now: dt.datetime, limit: int = 50) -> list[NoticeWave]:
        with read_session(self._engine) as s:
            stmt = (
                select(NoticeWave)
                .where(NoticeWave.status == WaveStatus.SCHEDULED, col(NoticeWave.due_at) <= now)
                .order_by(col(NoticeWave.due_at), col(NoticeWave.id))
                .limit(limit)
            )
            return list(s.exec(stmt).all())

    def scheduled_waves(self) -> list[NoticeWave]:
        with read_session(self._engine) as s:
            stmt = select(NoticeWave).where(
                NoticeWave.status == WaveStatus.SCHEDULED, col(NoticeWave.due_at).is_not(None)
            )
            return list(s.exec(stmt).all())

    def wave(self, wave_id: int) -> tuple[NoticeWave, Notice] | None:
        with read_session(self._engine) as s:
            wave = s.get(NoticeWave, wave_id)
            notice = s.get(Notice, wave.notice_id) if wave else None
            return (wave, notice) if wave and notice else None

    def fire(self, wave_id: int, now: dt.datetime) -> int | None:
        """Turn a scheduled wave into deliveries, once: None if it had already fired (or was
        cancelled); else how many chats it goes to. One transaction, so a crash leaves the
        wave either scheduled without deliveries or fired with all of them."""
        with write_session(self._engine) as s:
            result = s.exec(
                update(NoticeWave)
                .where(
                    col(NoticeWave.id) == wave_id, col(NoticeWave.status) == WaveStatus.SCHEDULED
                )
                .values(status=WaveStatus.FIRED, fired_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return None
            wave = s.get(NoticeWave, wave_id)
            assert wave is not None and wave.id is not None
            notice = s.get(Notice, wave.notice_id)
            assert notice is not None and notice.id is not None
            audience = self._audience(s, wave, notice)
            s.add_all(new_delivery(notice.id, wave.id, who, now) for who in audience)
            if wave.kind == WaveKind.MAIN:
                notice.status = NoticeStatus.SENDING
                notice.updated_at = now
                s.add(notice)
                after = self._settings.ack_after
                if after is not None:
                    s.add(
                        NoticeWave(
                            notice_id=notice.id,
                            kind=WaveKind.ACK_REMINDER,
                            due_at=now + after,
                            status=WaveStatus.SCHEDULED,
                        )
                    )
            return len(audience)

    def _audience(self, s: Session, wave: NoticeWave, notice: Notice) -> Audience:
        assert notice.id is not None
        if wave.kind == WaveKind.MAIN:
            groups = resolve(s, targets_of(s, notice.id)).groups
            return [(g.hospital_id, g.platform, g.chat_id, None) for g in groups]
        reached = s.exec(
            select(Delivery)
            .join(NoticeWave, col(NoticeWave.id) == col(Delivery.wave_id))
            .where(
                Delivery.notice_id == notice.id,
                NoticeWave.kind == WaveKind.MAIN,
                col(Delivery.status).in_(REACHED),
            )
            .order_by(col(Delivery.id))
        ).all()
        skip: set[str] = set()
        if wave.kind == WaveKind.ACK_REMINDER:
            skip = set(
                s.exec(
                    select(Receipt.hospital_id).where(
                        Receipt.notice_id == notice.id, Receipt.kind == ReceiptKind.ACK
                    )
                ).all()
            )
        return [
            (d.hospital_id, d.platform, d.chat_id, d.message_id)
            for d in reached
            if d.hospital_id not in skip
        ]

    def hold(self, wave_id: int, until: dt.datetime, note: str) -> None:
        """Quiet hours: the wave stays scheduled, due later."""
        with write_session(self._engine) as s:
            s.exec(
                update(NoticeWave)
                .where(
                    col(NoticeWave.id) == wave_id, col(NoticeWave.status) == WaveStatus.SCHEDULED
                )
                .values(due_at=until, note=note)
                .execution_options(synchronize_session=False)
            )

    def close_wave(self, wave_id: int, status: WaveStatus, note: str, now: dt.datetime) -> bool:
        """End a scheduled wave without sending it (missed, skipped). A missed notice wave
        makes the notice missed and ends its other waves."""
        with write_session(self._engine) as s:
            # claimed by a conditional UPDATE, as ``fire`` does: read-then-write let two
            # workers (or the scheduler's job and a round) both close it on PostgreSQL, and
            # both audit it
            result = s.exec(
                update(NoticeWave)
                .where(
                    col(NoticeWave.id) == wave_id, col(NoticeWave.status) == WaveStatus.SCHEDULED
                )
                .values(status=status, note=note)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return False
            wave = s.get(NoticeWave, wave_id)
            assert wave is not None
            if wave.kind == WaveKind.MAIN and status == WaveStatus.MISSED:
                notice = s.get(Notice, wave.notice_id)
                assert notice is not None
                notice.status, notice.updated_at = NoticeStatus.MISSED, now
                s.add(notice)
                _end_waves(s, wave.notice_id, WaveStatus.CANCELLED, keep=wave_id)
        return True

    def cancel_pending(self, notice_id: int, now: dt.datetime) -> int:
        """Cancel the notice's waves not yet fired and its deliveries not yet claimed."""
        with write_session(self._engine) as s:
            _end_waves(s, notice_id, WaveStatus.CANCELLED)
            result = s.exec(
                update(Delivery)
                .where(
                    col(Delivery.notice_id) == notice_id,
                    col(Delivery.status) == DeliveryStatus.QUEUED,
                )
                .values(status=DeliveryStatus.CANCELLED, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)


def _end_waves(s: Session, notice_id: int, status: WaveStatus, keep: int | None = None) -> None:
    stmt = update(NoticeWave).where(
        col(NoticeWave.notice_id) == notice_id,
        col(NoticeWave.status).in_((WaveStatus.DRAFT, WaveStatus.SCHEDULED)),
    )
    if keep is not None:
        stmt = stmt.where(col(NoticeWave.id) != keep)
    s.exec(stmt.values(status=status).execution_options(synchronize_session=False))
