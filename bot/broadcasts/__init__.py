"""Broadcasts: patch notices, upgrade windows and announcements to hospital groups.

    store = BroadcastStore(engine, registry, clock, settings)        # notices, deliveries, receipts
    broadcasts = Broadcasts(store, AdapterTransport(adapters), desk_chats, engine=engine)
    await broadcasts.start()                                          # worker + APScheduler

See ``store`` (life of a notice and who may act), ``waves`` (when things go out),
``deliveries`` (the plan and report of each delivery; its send goes through the one durable
outbox, ``bot.inbox.sending``), ``service`` (the worker and pacing), ``scheduler``
(APScheduler), ``receipts`` (已知悉 / 已升级 and replies), ``commands`` (``/notice``),
``cli`` (``hisbot notice``).
"""

from bot.broadcasts.access import Actor
from bot.broadcasts.errors import (
    BroadcastError,
    NotBroadcaster,
    NoticeInvalid,
    NoticeNotFound,
    NoticeStateError,
)
from bot.broadcasts.hooks import Broadcasts
from bot.broadcasts.models import (
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeAudit,
    NoticeItem,
    NoticeKind,
    NoticeReply,
    NoticeStatus,
    NoticeTarget,
    NoticeWave,
    Receipt,
    ReceiptKind,
    WaveKind,
    WaveStatus,
)
from bot.broadcasts.scheduler import NoticeScheduler
from bot.broadcasts.service import Broadcaster
from bot.broadcasts.settings import BroadcastSettings
from bot.broadcasts.specs import NoticeDraft, Targets
from bot.broadcasts.store import BroadcastStore
from bot.broadcasts.transport import AdapterTransport, Pacer, Transport

__all__ = [
    "Actor",
    "AdapterTransport",
    "BroadcastError",
    "BroadcastSettings",
    "BroadcastStore",
    "Broadcaster",
    "Broadcasts",
    "Delivery",
    "DeliveryStatus",
    "NotBroadcaster",
    "Notice",
    "NoticeAudit",
    "NoticeDraft",
    "NoticeInvalid",
    "NoticeItem",
    "NoticeKind",
    "NoticeNotFound",
    "NoticeReply",
    "NoticeScheduler",
    "NoticeStateError",
    "NoticeStatus",
    "NoticeTarget",
    "NoticeWave",
    "Pacer",
    "Receipt",
    "ReceiptKind",
    "Targets",
    "Transport",
    "WaveKind",
    "WaveStatus",
]
