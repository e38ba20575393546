"""What comes back from a notice: 已知悉 / 已升级 presses, and replies in the hospital's group.

A receipt is per *hospital* (a hospital with a Telegram group and a Slack channel acknowledges
once), recorded with who pressed and when; the first press counts, later ones are told who
was first. A press on a message whose delivery was 'unknown' (the process died before the
message id was recorded) proves the message arrived: the delivery becomes 'sent' with that id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.broadcasts.models import (
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeKind,
    NoticeReply,
    NoticeWave,
    Receipt,
    ReceiptKind,
    WaveKind,
    delivery_key,
)
from bot.inbox.models import OutboxMessage, OutboxState
from bot.infra.clock import Clock, as_utc
from bot.registry.sessions import read_session, write_session


@dataclass(frozen=True)
class Press:
    """A button press as the receipts need it (from ``adapters.base.ButtonPress``)."""

    platform: str
    chat_id: str
    message_id: str
    user_id: str
    user_name: str
    #: The hospital the pressing chat belongs to now (a migrated group has a new chat id).
    chat_hospital_id: str | None = None


@dataclass(frozen=True)
class PressResult:
    outcome: Literal["recorded", "already", "test", "invalid"]
    notice: Notice | None = None
    delivery: Delivery | None = None
    receipt: Receipt | None = None


def prove_sent(s: Session, key: str, message_id: str, now: dt.datetime) -> None:
    """An ``unknown`` send in the outbox proven delivered (a press on its message)."""
    s.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.key) == key, col(OutboxMessage.state) == OutboxState.UNKNOWN)
        .values(state=OutboxState.SENT, message_id=message_id, sent_at=now, error="")
        .execution_options(synchronize_session=False)
    )


class ReceiptBook:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def press(self, delivery_id: int, kind: ReceiptKind, press: Press) -> PressResult:
        """Record a 已知悉 / 已升级 press on the message of ``delivery_id``."""
        now = as_utc(self._clock())
        try:
            return self._press(delivery_id, kind, press, now)
        except IntegrityError:  # a simultaneous press of the same hospital won
            return self._press(delivery_id, kind, press, now)

    def _press(
        self, delivery_id: int, kind: ReceiptKind, press: Press, now: dt.datetime
    ) -> PressResult:
        with write_session(self._engine) as s:
            d = s.get(Delivery, delivery_id)
            wave = s.get(NoticeWave, d.wave_id) if d else None
            notice = s.get(Notice, d.notice_id) if d else None
            if d is None or wave is None or notice is None or d.platform != press.platform:
                return PressResult("invalid")
            if d.chat_id != press.chat_id and (
                d.hospital_id is None or d.hospital_id != press.chat_hospital_id
            ):
                return PressResult("invalid")
            if wave.kind == WaveKind.TEST:
                return PressResult("test", notice, d)
            if d.hospital_id is None or (
                kind == ReceiptKind.APPLIED and notice.kind != NoticeKind.PATCH
            ):
                return PressResult("invalid", notice, d)
            if d.status == DeliveryStatus.UNKNOWN and d.chat_id == press.chat_id:
                d.status, d.message_id, d.sent_at = DeliveryStatus.SENT, press.message_id, now
                d.last_error, d.updated_at = "delivery proven by a button press", now
                s.add(d)
                prove_sent(s, delivery_key(d), press.message_id, now)
            existing = s.exec(
                select(Receipt).where(
                    Receipt.notice_id == notice.id,
                    Receipt.hospital_id == d.hospital_id,
                    Receipt.kind == kind,
                )
            ).first()
            if existing is not None:
                return PressResult("already", notice, d, existing)
            assert notice.id is not None and d.id is not None
            receipt = Receipt(
                notice_id=notice.id,
                hospital_id=d.hospital_id,
                kind=kind,
                delivery_id=d.id,
                platform=press.platform,
                user_id=press.user_id,
                user_name=press.user_name,
                at=now,
            )
            s.add(receipt)
            s.flush()
            return PressResult("recorded", notice, d, receipt)

    def receipts(self, notice_id: int, hospital_id: str | None = None) -> list[Receipt]:
        with read_session(self._engine) as s:
            stmt = select(Receipt).where(Receipt.notice_id == notice_id)
            if hospital_id is not None:
                stmt = stmt.where(Receipt.hospital_id == hospital_id)
            return list(s.exec(stmt.order_by(col(Receipt.id))).all())

    # -- replies ------------------------------------------------------------------------------

    def notice_for_message(self, platform: str, chat_id: str, message_id: str) -> Notice | None:
        """The notice a hospital-group message of ours belongs to (the notice itself, a
        reminder or a follow-up), or None. Test copies in the engineers' chat are not."""
        with read_session(self._engine) as s:
            stmt = (
                select(Notice)
                .join(Delivery, col(Delivery.notice_id) == col(Notice.id))
                .where(
                    Delivery.platform == platform,
                    Delivery.chat_id == str(chat_id),
                    Delivery.message_id == str(message_id),
                    col(Delivery.hospital_id).is_not(None),
                )
            )
            found = s.exec(stmt).first()
            if found is not None:
                return found
            reply = s.exec(
                select(Notice)
                .join(NoticeReply, col(NoticeReply.notice_id) == col(Notice.id))
                .where(
                    NoticeReply.platform == platform,
                    NoticeReply.chat_id == str(chat_id),
                    NoticeReply.message_id == str(message_id),
                )
            ).first()
            return reply

    def record_reply(
        self, notice_id: int, hospital_id: str, platform: str, chat_id: str, message_id: str
    ) -> None:
        """A hospital message replied to a notice (idempotent: an edit is not a second one)."""
        try:
            with write_session(self._engine) as s:
                s.add(
                    NoticeReply(
                        notice_id=notice_id,
                        hospital_id=hospital_id,
                        platform=platform,
                        chat_id=str(chat_id),
                        message_id=str(message_id),
                        at=as_utc(self._clock()),
                    )
                )
        except IntegrityError:
            pass

    def link_ticket(
        self, platform: str, chat_id: str, message_ids: list[str], ticket_number: str
    ) -> int | None:
        """A ticket was opened for a thread; if any of ``message_ids`` replied to a notice, the
        reply rows name the ticket. Returns the notice id, or None."""
        with write_session(self._engine) as s:
            rows = s.exec(
                select(NoticeReply).where(
                    NoticeReply.platform == platform,
                    NoticeReply.chat_id == str(chat_id),
                    col(NoticeReply.message_id).in_([str(m) for m in message_ids]),
                )
            ).all()
            for row in rows:
                row.ticket_number = ticket_number
                s.add(row)
            return rows[0].notice_id if rows else None

    def replies(self, notice_id: int) -> list[NoticeReply]:
        with read_session(self._engine) as s:
            stmt = select(NoticeReply).where(NoticeReply.notice_id == notice_id)
            return list(s.exec(stmt.order_by(col(NoticeReply.id))).all())
