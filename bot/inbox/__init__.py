"""The durable inbox (arriving events, stored before they are confirmed) and the outbox
records that make every event's sends replay-proof; see ``dispatcher`` and ``scope``."""

from bot.inbox.dispatcher import Inbox
from bot.inbox.models import InboxEvent, InboxState, OutboxMessage, OutboxState
from bot.inbox.store import InboxStore, OutboxStore

__all__ = [
    "Inbox",
    "InboxEvent",
    "InboxState",
    "InboxStore",
    "OutboxMessage",
    "OutboxState",
    "OutboxStore",
]
