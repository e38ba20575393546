"""Arriving events as stored in the inbox: one JSON document per event, encoded and decoded
here only (the dispatcher decodes what ``put`` encoded, after a restart too)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from adapters.base import (
    Attachment,
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    IncomingMessage,
    MessageRef,
    Sender,
)
from bot.inbox.console import ConsoleEvent, Told

Event = IncomingMessage | ButtonPress | ChatEvent | ConsoleEvent

MESSAGE, BUTTON, CHAT_EVENT, CONSOLE = "message", "button", "chat_event", "console"


def kind_of(event: Event) -> str:
    if isinstance(event, IncomingMessage):
        return MESSAGE
    if isinstance(event, ButtonPress):
        return BUTTON
    if isinstance(event, ConsoleEvent):
        return CONSOLE
    return CHAT_EVENT


def event_key(event: Event) -> str:
    """The platform's identity of the event: a redelivery has the same key, so storing it
    again is a no-op. An edit is its own event (Telegram sends it as a new update)."""
    if isinstance(event, IncomingMessage):
        edit = (
            f":edit:{event.sent_at.timestamp():.0f}:{hash_text(event.text)}" if event.edited else ""
        )
        return f"m:{event.chat.chat_id}:{event.message_id}{edit}"
    if isinstance(event, ButtonPress):
        press = (
            event.press_id or f"{event.message.message_id}:{event.sender.user_id}:{event.action}"
        )
        return f"b:{event.message.chat_id}:{press}"
    if isinstance(event, ConsoleEvent):  # the request's id: one action, one event
        return f"c:{event.id}"
    if event.event_id:  # the occurrence's own id: each removal, rename … is stored once
        return f"e:{event.chat.chat_id}:{event.kind.value}:{event.event_id}"
    return (
        f"e:{event.chat.chat_id}:{event.kind.value}:{event.new_chat_id or ''}:{event.title or ''}"
    )


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chat_of(event: Event) -> ChatRef:
    if isinstance(event, ButtonPress):
        return ChatRef(event.message.platform, event.message.chat_id, event.thread_id)
    return event.chat


def encode(event: Event) -> str:
    data = dataclasses.asdict(event)
    if isinstance(event, IncomingMessage):
        data["sent_at"] = event.sent_at.isoformat()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def decode(kind: str, payload: str) -> Event:
    data: dict[str, Any] = json.loads(payload)
    if kind == MESSAGE:
        return IncomingMessage(
            **{
                **data,
                "chat": ChatRef(**data["chat"]),
                "sender": Sender(**data["sender"]),
                "sent_at": dt.datetime.fromisoformat(data["sent_at"]),
                "attachments": tuple(Attachment(**a) for a in data["attachments"]),
            }
        )
    if kind == BUTTON:
        return ButtonPress(
            **{**data, "message": MessageRef(**data["message"]), "sender": Sender(**data["sender"])}
        )
    if kind == CONSOLE:
        return ConsoleEvent(**{**data, "told": Told(data["told"])})
    if kind == CHAT_EVENT:
        return ChatEvent(
            **{**data, "kind": ChatEventKind(data["kind"]), "chat": ChatRef(**data["chat"])}
        )
    raise ValueError(f"unknown inbox event kind {kind!r}")
