"""Broadcast tables: what was announced, to whom, when, and what came back.

* ``notice``: one row per patch notice, upgrade window or announcement, with its content and
  where it stands (draft → scheduled → sending → sent; or cancelled / missed).
* ``notice_item``: the affected modules and services of an upgrade window, in order.
* ``notice_target``: who receives it: ``all``, or filters (region, HIS version, module,
  hospital). Values of one kind are alternatives; different kinds must all match.
* ``notice_wave``: each time the notice is put in front of people — the test copy, the notice
  itself, the T-24h/T-1h reminders, "started"/"completed", the acknowledgement reminder — with
  its due time. The wave row is the ledger the scheduler is checked against: firing a wave is a
  conditional UPDATE, so however often a job runs, a wave fires once.
* ``delivery``: the plan and report, one row per (wave, chat): which worker reserved it, its
  attempts and next attempt, the message it replies to, and the outcome of its send — which
  is claimed, sent and recorded in the one durable outbox (``outbox_message``, key
  ``delivery_key``; see ``bot.broadcasts.deliveries``).
* ``receipt``: "已知悉" / "已升级" per hospital: who pressed, when.
* ``notice_audit``: every action on a notice and every refused attempt (who, how, when).
* ``notice_reply``: hospital messages that replied to a notice (and the ticket they became).

Timestamps are aware UTC (``bot.infra.clock.UtcDateTime`` over ``TIMESTAMP WITH TIME ZONE``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


class NoticeKind(StrEnum):
    PATCH = "patch"
    UPGRADE = "upgrade"
    ANNOUNCEMENT = "announcement"


class NoticeStatus(StrEnum):
    DRAFT = "draft"  # created; not confirmed yet
    SCHEDULED = "scheduled"  # confirmed; the notice wave is due later
    SENDING = "sending"  # the notice wave fired; deliveries under way
    SENT = "sent"  # every delivery of the notice wave ended (sent, failed, gave up, unknown)
    CANCELLED = "cancelled"
    MISSED = "missed"  # its time passed while the bot was down and the setting says "missed"


class WaveKind(StrEnum):
    TEST = "test"  # the copy for the engineers' chat, before anything goes out
    MAIN = "main"  # the notice itself
    REMINDER = "reminder"  # upgrade window, T-offset
    STARTED = "started"  # upgrade window started (engineer command)
    COMPLETED = "completed"  # upgrade window completed (engineer command)
    ACK_REMINDER = "ack_reminder"  # hospitals that have not pressed 已知悉


class WaveStatus(StrEnum):
    DRAFT = "draft"  # belongs to an unconfirmed notice
    SCHEDULED = "scheduled"
    FIRED = "fired"  # deliveries were created
    MISSED = "missed"
    SKIPPED = "skipped"  # pointless by now (a reminder after the window started)
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    #: To be sent (at ``next_attempt_at``), or being sent: its ``outbox_message`` row says
    #: whether it waits in the adapter's limiter (queued) or left (sending).
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # permanent: removed from the group, chat gone, no adapter
    GAVE_UP = "gave_up"  # transient failures until the retries ran out
    UNKNOWN = "unknown"  # the request left and no answer came (timeout, crash): may have arrived
    CANCELLED = "cancelled"


#: Delivery statuses that still need the outbox.
PENDING_DELIVERY: tuple[str, ...] = (DeliveryStatus.QUEUED,)
#: Deliveries that (may) have put the message in the chat: follow-ups go to these chats.
REACHED: tuple[str, ...] = (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN)


class TargetKind(StrEnum):
    ALL = "all"
    REGION = "region"
    HIS_VERSION = "his_version"  # exact, or a glob such as "5.2.*"
    MODULE = "module"
    HOSPITAL = "hospital"


class ReceiptKind(StrEnum):
    ACK = "ack"  # 已知悉
    APPLIED = "applied"  # 已升级 (patches)


class ItemKind(StrEnum):
    MODULE = "module"
    SERVICE = "service"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Notice(SQLModel, table=True):
    __tablename__ = "notice"
    __table_args__ = (
        CheckConstraint(_in("kind", tuple(NoticeKind)), name="ck_notice_kind"),
        CheckConstraint(_in("status", tuple(NoticeStatus)), name="ck_notice_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    title: str
    #: Announcement text; for a patch what it fixes; for an upgrade free remarks.
    body: str = ""
    product: str = ""
    module: str = ""
    version: str = Field(default="", max_length=64)
    download_url: str = ""
    checksum: str = ""
    #: What the hospital must do (patch: the required action; upgrade: before the window).
    action: str = ""
    deadline: dt.datetime | None = utc_field(timezone=True, default=None)
    window_start: dt.datetime | None = utc_field(timezone=True, default=None)
    window_end: dt.datetime | None = utc_field(timezone=True, default=None)
    #: Urgent notices ignore quiet hours.
    urgent: bool = False
    status: str = Field(default=NoticeStatus.DRAFT, index=True, max_length=16)
    #: When the notice wave is (to be) sent; None = as soon as confirmed.
    send_at: dt.datetime | None = utc_field(timezone=True, default=None)
    created_by: str = Field(max_length=32)
    confirmed_by: str | None = Field(default=None, max_length=32)
    created_at: dt.datetime = utc_field(timezone=True)
    updated_at: dt.datetime = utc_field(timezone=True)
    sent_at: dt.datetime | None = utc_field(timezone=True, default=None)


class NoticeItem(SQLModel, table=True):
    __tablename__ = "notice_item"
    __table_args__ = (UniqueConstraint("notice_id", "kind", "value", name="uq_notice_item"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    kind: str = Field(max_length=16)
    value: str
    position: int = 0


class NoticeTarget(SQLModel, table=True):
    __tablename__ = "notice_target"
    __table_args__ = (
        UniqueConstraint("notice_id", "kind", "value", name="uq_notice_target"),
        CheckConstraint(_in("kind", tuple(TargetKind)), name="ck_notice_target_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=64)


class NoticeWave(SQLModel, table=True):
    __tablename__ = "notice_wave"
    __table_args__ = (
        UniqueConstraint("notice_id", "kind", "offset_minutes", name="uq_notice_wave"),
        Index("ix_notice_wave_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    kind: str = Field(max_length=16)
    #: Reminders: minutes before the window starts (1440 = T-24h). 0 for the other kinds.
    offset_minutes: int = 0
    due_at: dt.datetime | None = utc_field(timezone=True, default=None)
    status: str = Field(default=WaveStatus.DRAFT, max_length=16)
    fired_at: dt.datetime | None = utc_field(timezone=True, default=None)
    #: Free text for follow-ups ("started" remarks); why a wave was held, skipped or missed.
    note: str = ""


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("wave_id", "platform", "chat_id", name="uq_delivery_chat"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_message", "platform", "chat_id", "message_id"),
        Index("ix_delivery_tell_unknown", "tell_unknown"),
        CheckConstraint(_in("status", tuple(DeliveryStatus)), name="ck_delivery_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    wave_id: int = Field(foreign_key="notice_wave.id")
    #: None for the engineers' chat (the test copy).
    hospital_id: str | None = Field(default=None, foreign_key="hospital.id", max_length=32)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    #: The message this one replies to (reminders reply to the notice in that chat).
    reply_to: str | None = Field(default=None, max_length=64)
    status: str = Field(default=DeliveryStatus.QUEUED, max_length=16)
    #: Sends tried that came to an end (sent, or failed: a transient failure retries).
    attempts: int = 0
    last_error: str | None = None
    #: How often an engineer queued it again (``resend``): each time is a new key in the outbox.
    resends: int = 0
    #: The worker that reserved the row: it sends it next (or is sending it). Another worker
    #: takes it only once that worker is dead (``bot.cluster.claims``).
    claimed_by: str | None = Field(default=None, max_length=128)
    #: Its outcome became unknown and the engineers' chat has not been told yet: set in the
    #: transaction that records the outcome, cleared once the alert's send is recorded, so a
    #: crash in between leaves the alert owed, not lost (``bot.broadcasts.desk_messages``).
    tell_unknown: bool = False
    #: The outbox key of the alert that tells it (assigned before the send, so a retry after
    #: a crash sends the same alert under the same key, never a second one).
    unknown_alert: str | None = Field(default=None, max_length=128)
    next_attempt_at: dt.datetime = utc_field(timezone=True)
    message_id: str | None = Field(default=None, max_length=64)
    sent_at: dt.datetime | None = utc_field(timezone=True, default=None)
    created_at: dt.datetime = utc_field(timezone=True)
    updated_at: dt.datetime = utc_field(timezone=True)


def delivery_key(delivery: Delivery) -> str:
    """The delivery's key in the outbox (``outbox_message``): one per resend."""
    suffix = f":{delivery.resends}" if delivery.resends else ""
    return f"notice:{delivery.id}{suffix}"


class Receipt(SQLModel, table=True):
    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("notice_id", "hospital_id", "kind", name="uq_receipt"),
        CheckConstraint(_in("kind", tuple(ReceiptKind)), name="ck_receipt_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    hospital_id: str = Field(foreign_key="hospital.id", max_length=32)
    kind: str = Field(max_length=16)
    delivery_id: int = Field(foreign_key="delivery.id")
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    user_name: str = ""
    at: dt.datetime = utc_field(timezone=True)


class NoticeAudit(SQLModel, table=True):
    """Who did (or tried to do) what to which notice. Refusals are rows too."""

    __tablename__ = "notice_audit"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int | None = Field(default=None, foreign_key="notice.id", index=True)
    at: dt.datetime = utc_field(timezone=True)
    #: Engineer id, or "platform:user id" of someone who is not a (known) engineer.
    actor: str = Field(max_length=80)
    #: "cli", a platform name ("telegram"), or "system".
    via: str = Field(max_length=16)
    action: str = Field(max_length=32)
    allowed: bool = True
    detail: str = ""


class NoticeReply(SQLModel, table=True):
    """A hospital message that replied to a notice; ``ticket_number`` once it became one."""

    __tablename__ = "notice_reply"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "message_id", name="uq_notice_reply_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    hospital_id: str = Field(foreign_key="hospital.id", max_length=32)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    ticket_number: str | None = Field(default=None, max_length=16)
    at: dt.datetime = utc_field(timezone=True)
