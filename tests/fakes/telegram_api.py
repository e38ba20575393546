"""A fake Telegram Bot API server that the real python-telegram-bot talks to over HTTP.

Usage::

    async with FakeTelegram(token="123:ABC") as tg:
        app = (
            ApplicationBuilder().token(tg.token)
            .base_url(tg.base_url).base_file_url(tg.base_file_url).build()
        )
        ...
        tg.user_message(-1001, 42, "打印机坏了")
        sent = await tg.wait_for_sent(lambda m: m.chat_id == -1001)

Wire protocol (as PTB 22 uses it): ``POST {base_url}{token}/{method}``; PTB sends
``application/x-www-form-urlencoded`` (``multipart/form-data`` when uploading files) where every
value that is not a string is JSON-encoded, so ``reply_markup`` / ``reply_parameters`` /
``allowed_updates`` arrive as JSON strings and numbers/bools as ``"42"`` / ``"true"``. The fake
also accepts JSON bodies and query strings like the real server. Answers are
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...,
"parameters": {...}}`` with the HTTP status equal to ``error_code``. Method names are
case-insensitive, as on the real server.

Differences from the real server, on purpose:

* ``setWebhook`` accepts ``http://`` URLs on loopback hosts (the real one requires HTTPS).
* Rate limits (``enforce_limits=True``) model the documented limits with sliding windows whose
  lengths are multiplied by ``time_scale``; ``retry_after`` is still a whole number of seconds
  >= 1, because that is what the real API returns and PTB really sleeps ``retry_after`` (+0.1 s
  with ``AIORateLimiter``). Only sending methods count; edits are not limited.
* Every chat the bot may send to must be known (``add_chat`` or an injected update), otherwise
  ``400 Bad Request: chat not found`` -- as for a real bot that was never added to the chat.
* The bot is treated as an admin: it may delete any message.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import math
import mimetypes
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from ._common import FakeServer, FaultBook
from .tg_markup import EntityParseError, detect_entities, render, utf16_len

__all__ = [
    "ApiError",
    "FakeTelegram",
    "RateLimits",
    "RecordedCall",
    "SentMessage",
    "UploadedFile",
    "WebhookDelivery",
]

JSON = dict[str, Any]

# Update types delivered when allowed_updates is empty/unset (per Bot API docs).
ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
DEFAULT_UPDATE_TYPES = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# methods that count against the flood limits when enforce_limits=True
RATE_LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "forwardMessage",
        "copyMessage",
    }
)

_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "commands",
        "scope",
        "media",
        "permissions",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "message_thread_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "from_chat_id",
        "user_id",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "show_alert",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "allow_paid_broadcast",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
    }
)
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    420: "Flood",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_CONFIGURED: Any = object()  # sentinel: use the secret from setWebhook


class ApiError(Exception):
    """An error answer of the Bot API (raised inside method handlers)."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(repr=False)
class UploadedFile:
    """A multipart file part received from the client."""

    filename: str | None
    content: bytes
    content_type: str | None

    def __repr__(self) -> str:
        return f"<UploadedFile {self.filename!r} {len(self.content)} bytes {self.content_type}>"


@dataclass
class RecordedCall:
    """One HTTP request to the API; ``status`` is None while it is still being answered."""

    method: str
    params: JSON
    status: int | None = None
    result: Any = None
    error: JSON | None = None
    content_type: str | None = None  # of the request body, e.g. x-www-form-urlencoded
    at: float = field(default_factory=time.monotonic)


@dataclass
class SentMessage:
    """A message the bot sent. ``message`` is the live Message JSON (edits are applied)."""

    method: str
    chat_id: int
    message_id: int
    params: JSON
    message: JSON
    reply_markup: JSON | None
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False

    @property
    def text(self) -> str | None:
        """Text (or caption) as Telegram stores it: markup parsed away, whitespace trimmed."""
        return self.message.get("text", self.message.get("caption"))

    @property
    def raw_text(self) -> str | None:
        """The text/caption exactly as the bot sent it (latest edit included)."""
        for p in reversed([self.params, *self.edits]):
            if "text" in p or "caption" in p:
                return p.get("text", p.get("caption"))
        return None

    @property
    def parse_mode(self) -> str | None:
        return self.params.get("parse_mode")

    @property
    def entities(self) -> list[JSON]:
        return self.message.get("entities", self.message.get("caption_entities", []))

    @property
    def reply_to(self) -> int | None:
        reply = self.message.get("reply_to_message")
        return reply["message_id"] if reply else None

    @property
    def message_thread_id(self) -> int | None:
        return self.message.get("message_thread_id")

    @property
    def buttons(self) -> list[JSON]:
        """Inline keyboard buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [b for row in rows for b in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def __repr__(self) -> str:
        extra = f" reply_to={self.reply_to}" if self.reply_to else ""
        if self.buttons:
            extra += f" buttons={[b.get('text') for b in self.buttons]}"
        if self.deleted:
            extra += " deleted"
        return (
            f"<SentMessage {self.method} chat={self.chat_id} id={self.message_id}"
            f"{extra} text={self.text!r}>"
        )


@dataclass
class WebhookDelivery:
    """One POST of an update to the webhook. ``status`` None = connection failed."""

    update_id: int | None
    url: str
    status: int | None
    error: str | None
    secret_token: str | None
    queued: bool  # True: from the pending queue; False: a direct post_to_webhook()


@dataclass(frozen=True)
class RateLimits:
    """(max messages, window seconds) pairs; windows are multiplied by ``time_scale``."""

    overall: tuple[int, float] = (30, 1.0)
    group: tuple[int, float] = (20, 60.0)
    private: tuple[int, float] = (1, 1.0)


@dataclass
class _Fault:
    error_code: int
    description: str
    parameters: JSON | None
    remaining: int = 1


@dataclass
class Held:
    """A call the fake holds before carrying it out: ``arrived`` is set when it reached the
    fake (the request is on the wire), and it goes on once ``go`` is set."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)


class _Described:
    """A result that also carries the ``description`` field (setWebhook & co)."""

    def __init__(self, result: Any, description: str) -> None:
        self.result = result
        self.description = description


Handler = Callable[[JSON], Any]


class FakeTelegram(FakeServer[RecordedCall]):
    """Fake Bot API server (aiohttp) with update injection, recording and fault injection.

    See the module docstring for the wire protocol and deliberate differences.
    """

    fake_name = "FakeTelegram"

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "his_support_bot",
        bot_first_name: str = "HIS 运维助手",
        enforce_limits: bool = False,
        limits: RateLimits = RateLimits(),
        time_scale: float = 1.0,
        webhook_retry_interval: float = 0.5,
        webhook_timeout: float = 10.0,
        host: str = "127.0.0.1",
    ) -> None:
        if not _TOKEN_RE.match(token):
            raise ValueError(f"not a Bot API token: {token!r}")
        super().__init__(host)
        self.token = token
        self.bot_user: JSON = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.enforce_limits = enforce_limits
        self.limits = limits
        self.time_scale = time_scale
        self.webhook_retry_interval = webhook_retry_interval
        self.webhook_timeout = webhook_timeout

        # recorded traffic and state
        self.requests: list[RecordedCall] = []
        self.chats: dict[int, JSON] = {}
        self.users: dict[int, JSON] = {}
        self.messages_by_id: dict[tuple[int, int], JSON] = {}
        self.deleted_messages: dict[tuple[int, int], JSON] = {}
        self.injected_updates: list[JSON] = []
        self.dropped_updates: list[JSON] = []  # filtered out by allowed_updates
        self.webhook: JSON | None = None
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.callback_answers: dict[str, JSON] = {}
        self.files: dict[str, JSON] = {}
        self.commands: list[JSON] = []

        self._sent: list[SentMessage] = []
        self._sent_by_id: dict[tuple[int, int], SentMessage] = {}
        self._pending: list[JSON] = []
        self._allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._chat_state: dict[int, str] = {}  # member | kicked | left | blocked
        self._migrated: dict[int, int] = {}
        self._next_mid: dict[int, int] = {}
        self._update_ids = itertools.count(700_000_001)
        self._ids = itertools.count(1)
        self._open_callbacks: dict[str, JSON] = {}
        self._file_bytes: dict[str, bytes] = {}
        self._faults: FaultBook[_Fault] = FaultBook()
        #: method (lower case) → how many more calls are carried out but never answered
        self._lost_answers: dict[str, int] = {}
        self._held: dict[str, Held] = {}
        self._send_windows: dict[Any, deque[float]] = {}
        self._poll_generation = 0
        self._webhook_last_error: tuple[int, str] | None = None
        self._closing = False
        self._updates_changed = asyncio.Event()
        self._webhook_task: asyncio.Task[None] | None = None

        self._methods: dict[str, tuple[str, Handler]] = {}
        for name in dir(type(self)):
            if name.startswith("_m_"):
                api_name = name[3:]
                self._methods[api_name.lower()] = (api_name, getattr(self, name))

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        await self._start_server(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the server: wakes pending long polls, stops webhook delivery."""
        self._closing = True
        self._bump_updates()
        await self._stop_webhook_task()
        await self._stop_server()

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url()``: PTB appends ``{token}/{method}``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # ------------------------------------------------------------------ chats & users

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool | None = None,
        first_name: str | None = None,
    ) -> JSON:
        """Register (or update) a chat the bot is a member of. Returns the Chat JSON."""
        if chat_type is None:
            chat_type = self.chats.get(chat_id, {}).get("type") or (
                "private"
                if chat_id > 0
                else "supergroup"
                if chat_id <= -1_000_000_000_000
                else "group"
            )
        if (chat_type == "private") != (chat_id > 0):
            raise ValueError(f"chat {chat_id}: private chats have positive ids, groups negative")
        chat = self.chats.get(chat_id)
        if chat is not None and chat["type"] != chat_type:
            raise ValueError(f"chat {chat_id} is a {chat['type']}, not a {chat_type}")
        if chat is None:
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                user = self.users.get(chat_id, {})
                chat["first_name"] = first_name or user.get("first_name", "张三")
                for key in ("last_name", "username"):
                    if key in user:
                        chat[key] = user[key]
            else:
                chat["title"] = title or f"测试群{abs(chat_id) % 10000}"
            self.chats[chat_id] = chat
        elif title and chat_type != "private":
            chat["title"] = title
        if username:
            chat["username"] = username
        if is_forum:
            chat["is_forum"] = True
        self._chat_state.setdefault(chat_id, "member")
        return chat

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "zh-hans",
    ) -> JSON:
        user = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": first_name or "张三"}
        )
        if first_name:
            user["first_name"] = first_name
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        user["language_code"] = language_code
        return user

    def chat_removed(self, chat_id: int, *, reason: str = "kicked") -> None:
        """From now on sends to the chat answer 403 (``kicked``, ``left`` or ``blocked``)."""
        if reason not in ("kicked", "left", "blocked"):
            raise ValueError(reason)
        self.add_chat(chat_id)
        self._chat_state[chat_id] = reason

    # ------------------------------------------------------------------ injecting updates

    def user_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        chat_type: str = "supergroup",
        chat_title: str | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        photo: bool = False,
        caption: str | None = None,
        document: str | JSON | None = None,
        forward_origin: str | JSON | None = None,
        entities: list[JSON] | None = None,
        enqueue: bool = True,
    ) -> JSON:
        """Queue a ``message`` update from a user; returns the Message JSON.

        ``document`` is a file name or a dict of Document fields (``content`` bytes optional);
        ``forward_origin`` a MessageOrigin dict or a name (becomes a ``hidden_user`` origin).
        For ``chat_type="private"`` the chat id must equal the user id.
        """
        if chat_type == "private" and chat_id != user_id:
            raise ValueError("a private chat's id is the user's id")
        user = self.add_user(user_id, first_name=first_name, last_name=last_name, username=username)
        self.add_chat(
            chat_id,
            chat_type=chat_type,
            title=chat_title,
            is_forum=True if message_thread_id is not None else None,
        )
        msg = self._new_message(chat_id, user)
        if message_thread_id is not None:
            msg["message_thread_id"] = message_thread_id
            msg["is_topic_message"] = True
        if reply_to_message_id is not None:
            msg["reply_to_message"] = self._reply_copy(chat_id, reply_to_message_id)
        if forward_origin is not None:
            if isinstance(forward_origin, str):
                forward_origin = {
                    "type": "hidden_user",
                    "sender_user_name": forward_origin,
                    "date": int(time.time()) - 60,
                }
            msg["forward_origin"] = forward_origin
        if text is not None:
            msg["text"] = text
            ents = entities if entities is not None else detect_entities(text)
            if ents:
                msg["entities"] = ents
        if photo:
            msg["photo"] = self._photo_sizes()
        if document is not None:
            msg["document"] = self._document(document)
        if caption is not None:
            msg["caption"] = caption
            ents = detect_entities(caption)
            if ents:
                msg["caption_entities"] = ents
        if not any(k in msg for k in ("text", "photo", "document")):
            raise ValueError("a message needs text, photo or document")
        self._store(msg)
        self._emit("message", msg, enqueue)
        return msg

    def edited_message(
        self,
        chat_id: int,
        message_id: int,
        text: str | None = None,
        *,
        caption: str | None = None,
        enqueue: bool = True,
    ) -> JSON:
        """A user edits an earlier message; queues an ``edited_message`` update."""
        msg = self.messages_by_id.get((chat_id, message_id))
        if msg is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        if msg["from"]["id"] == self.bot_user["id"]:
            raise ValueError("use the bot's own API to edit bot messages")
        if text is not None:
            msg["text"] = text
            msg.pop("entities", None)
            if ents := detect_entities(text):
                msg["entities"] = ents
        if caption is not None:
            msg["caption"] = caption
        msg["edit_date"] = int(time.time())
        self._emit("edited_message", msg, enqueue)
        return msg

    def callback_query(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str | None = None,
        check_button: bool = True,
        enqueue: bool = True,
    ) -> JSON:
        """A user presses an inline button of message ``message_id``; returns the query JSON.

        With ``check_button`` the data must belong to a button of that message.
        """
        key = (chat_id, message_id)
        msg = self.messages_by_id.get(key)
        if msg is None and key in self.deleted_messages:
            msg = {"chat": self._chat_obj(chat_id), "message_id": message_id, "date": 0}
        elif msg is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        elif check_button:
            rows = msg.get("reply_markup", {}).get("inline_keyboard", [])
            datas = [b.get("callback_data") for row in rows for b in row]
            if data not in datas:
                raise ValueError(f"message {message_id} has no button with data {data!r}: {datas}")
        user = self.add_user(user_id, first_name=first_name)
        query_id = str(4_000_000_000_000_000_000 + next(self._ids))
        query = {
            "id": query_id,
            "from": user,
            "message": msg,
            "chat_instance": str((chat_id * 2_654_435_761) % 10**19),
            "data": data,
        }
        self._open_callbacks[query_id] = query
        self._emit("callback_query", query, enqueue)
        return query

    def migrate_to_supergroup(
        self,
        old_chat_id: int,
        new_chat_id: int,
        *,
        user_id: int | None = None,
        enqueue: bool = True,
    ) -> tuple[JSON, JSON]:
        """Upgrade basic group ``old_chat_id`` to supergroup ``new_chat_id``.

        Queues the two service messages Telegram sends (``migrate_to_chat_id`` in the old chat,
        ``migrate_from_chat_id`` in the new one); afterwards calls addressed to the old chat
        answer 400 with ``parameters.migrate_to_chat_id``.
        """
        old = self.add_chat(old_chat_id, chat_type="group")
        self.add_chat(new_chat_id, chat_type="supergroup", title=old["title"])
        user = (
            self.add_user(user_id)
            if user_id is not None
            else next(iter(self.users.values()), None) or self.add_user(1)
        )
        first = self._new_message(old_chat_id, user)
        first["migrate_to_chat_id"] = new_chat_id
        self._store(first)
        second = self._new_message(new_chat_id, _GROUP_ANONYMOUS_BOT)
        second["sender_chat"] = self._chat_obj(new_chat_id)
        second["migrate_from_chat_id"] = old_chat_id
        self._store(second)
        self._migrated[old_chat_id] = new_chat_id
        self._chat_state[new_chat_id] = "member"
        self._emit("message", first, enqueue)
        self._emit("message", second, enqueue)
        return first, second

    def bot_removed(
        self,
        chat_id: int,
        *,
        status: str = "kicked",
        by_user_id: int | None = None,
        enqueue: bool = True,
    ) -> JSON:
        """Queue a ``my_chat_member`` update (bot ``left``/``kicked``) and mark the chat."""
        if status not in ("left", "kicked"):
            raise ValueError(status)
        self.add_chat(chat_id)
        self.chat_removed(chat_id, reason=status)
        new = {"status": status, "user": self.bot_user}
        if status == "kicked":
            new["until_date"] = 0
        return self._member_update(chat_id, by_user_id, {"status": "member"}, new, enqueue)

    def bot_added(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        title: str | None = None,
        by_user_id: int | None = None,
        enqueue: bool = True,
    ) -> JSON:
        """Queue a ``my_chat_member`` update for the bot joining ``chat_id``."""
        self.add_chat(chat_id, chat_type=chat_type, title=title)
        self._chat_state[chat_id] = "member"
        return self._member_update(
            chat_id, by_user_id, {"status": "left"}, {"status": "member"}, enqueue
        )

    def enqueue_update(self, update: JSON) -> JSON:
        """Queue a raw update dict (``update_id`` is assigned when missing)."""
        update.setdefault("update_id", next(self._update_ids))
        self.injected_updates.append(update)
        self._pending.append(update)
        self._bump_updates()
        return update

    @property
    def last_update(self) -> JSON:
        """The most recently built update (queued or not)."""
        if not self.injected_updates:
            raise LookupError("no update was injected yet")
        return self.injected_updates[-1]

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed (polling) or acknowledged with 2xx (webhook)."""
        return list(self._pending)

    def add_file(
        self, content: bytes, *, file_name: str | None = None, kind: str = "documents"
    ) -> JSON:
        """Store a downloadable file; returns ``{file_id, file_unique_id, file_size}``."""
        n = next(self._ids)
        file_id = f"BQACAgUAAxkBAAIB{n:08d}"
        unique = f"AgAD{n:08d}"
        suffix = ""
        if file_name and "." in file_name:
            suffix = file_name[file_name.rfind(".") :]
        self.files[file_id] = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_size": len(content),
            "file_path": f"{kind}/file_{n}{suffix}",
        }
        self._file_bytes[file_id] = content
        return {"file_id": file_id, "file_unique_id": unique, "file_size": len(content)}

    # ------------------------------------------------------------------ recording

    @property
    def calls(self) -> list[tuple[str, JSON]]:
        """Every API call in order, as ``(method, params)``."""
        return [(c.method, c.params) for c in self.requests]

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.requests if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages the bot sent successfully (including later-deleted ones), in order."""
        return [m for m in self._sent if chat_id is None or m.chat_id == chat_id]

    def describe(self, last_calls: int = 15) -> str:
        """Human-readable summary of what was sent and the last calls (for failures)."""
        lines = ["sent messages:"]
        lines += [f"  {m!r}" for m in self._sent] or ["  (none)"]
        lines.append(f"last {last_calls} API calls:")
        for c in self.requests[-last_calls:]:
            brief = {k: v for k, v in c.params.items() if k != "reply_markup"}
            err = f" -> {c.error['description']}" if c.error else ""
            lines.append(f"  {c.method} {c.status} {brief}{err}")
        if self.webhook_deliveries:
            lines.append("webhook deliveries:")
            lines += [f"  {d}" for d in self.webhook_deliveries[-5:]]
        return "\n".join(lines)

    async def wait_for_sent(
        self,
        condition: int | Callable[[SentMessage], bool] = 1,
        *,
        chat_id: int | None = None,
        timeout: float = 5.0,
    ) -> Any:
        """Wait for bot messages.

        ``condition`` an int N: until at least N messages were sent (to ``chat_id`` if given);
        returns the list. A predicate: until a sent message satisfies it; returns that message.
        Raises AssertionError listing what *was* sent on timeout.
        """
        return await self._wait_for_items(
            lambda: self.sent_messages(chat_id),
            condition,
            timeout=timeout,
            noun="sent message",
            where=f" in chat {chat_id}" if chat_id else "",
        )

    async def wait_for_updates_consumed(self, *, timeout: float = 5.0) -> None:
        """Wait until every queued update was confirmed (polling) or acknowledged (webhook)."""
        await self.wait_until(
            lambda: not self._pending, timeout=timeout, what="all updates consumed"
        )

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        parameters: JSON | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error.

        ``method="*"`` matches every method except getUpdates. 429 answers carry
        ``parameters.retry_after`` (whole seconds >= 1, as the real API; PTB sleeps that long).
        """
        fault = self._make_fault(error_code, retry_after, description, parameters)
        self._faults.add_next(method.lower(), fault, times)

    def fail_ratio(
        self,
        method: str,
        ratio: float,
        seed: int = 0,
        *,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Fail a deterministic (seeded) fraction of calls of ``method`` (``ratio`` 0 disables)."""
        if ratio <= 0:
            self._faults.disable_ratio(method.lower())
            return
        fault = self._make_fault(error_code, retry_after, description, None)
        self._faults.set_ratio(method.lower(), ratio, seed, fault)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._lost_answers.clear()

    def lose_answer_next(self, method: str, times: int = 1) -> None:
        """Carry out the next ``times`` calls of ``method`` (a message is really sent) but drop
        the connection instead of answering: the client cannot know whether it worked, as
        after a read timeout on the real server."""
        self._lost_answers[method.lower()] = self._lost_answers.get(method.lower(), 0) + times

    def hold_next(self, method: str) -> Held:
        """Hold the next call of ``method`` on arrival, unanswered and not yet carried out,
        until the returned ``Held.go`` is set: a request under way, for as long as a test
        needs to look at what the client recorded meanwhile."""
        held = self._held[method.lower()] = Held()
        return held

    @staticmethod
    def _make_fault(
        code: int, retry_after: int, description: str | None, parameters: JSON | None
    ) -> _Fault:
        if code == 429:
            if not isinstance(retry_after, int) or retry_after < 1:
                raise ValueError("retry_after must be a whole number of seconds >= 1")
            return _Fault(
                code,
                description or f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after, **(parameters or {})},
            )
        return _Fault(code, description or _STATUS_TEXT.get(code, "Error"), parameters)

    def _take_fault(self, method: str) -> _Fault | None:
        keys = [method.lower()] + (["*"] if method != "getUpdates" else [])
        return self._faults.take(keys)

    # ------------------------------------------------------------------ webhook helpers

    async def post_to_webhook(
        self,
        update: JSON | None = None,
        *,
        secret_token: str | None = _CONFIGURED,
        content_type: str = "application/json",
    ) -> int | None:
        """POST one update straight to the webhook (bypassing the queue); returns the status.

        ``secret_token`` defaults to the one given to setWebhook; pass another value (or None
        to omit the header) to test the bot's verification. ``update`` defaults to
        ``last_update``. Returns None when the connection failed.
        """
        if self.webhook is None:
            raise RuntimeError("no webhook set")
        update = update if update is not None else self.last_update
        token = self.webhook.get("secret_token") if secret_token is _CONFIGURED else secret_token
        status, _ = await self._post_update(update, token, content_type, queued=False)
        return status

    async def post_with_wrong_secret(
        self, update: JSON | None = None, *, secret_token: str = "wrong-secret"
    ) -> int | None:
        return await self.post_to_webhook(update, secret_token=secret_token)

    async def _post_update(
        self, update: JSON, token: str | None, content_type: str, *, queued: bool
    ) -> tuple[int | None, str | None]:
        assert self.webhook is not None and self._session is not None
        url = self.webhook["url"]
        headers = {"Content-Type": content_type}
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        body = json.dumps(update, ensure_ascii=False).encode()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as resp:
                status = resp.status
                await resp.read()
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {resp.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {exc!r}"
        self.webhook_deliveries.append(
            WebhookDelivery(update.get("update_id"), url, status, error, token, queued)
        )
        if error:
            self._webhook_last_error = (int(time.time()), error)
        self._bump()
        return status, error

    async def _webhook_loop(self) -> None:
        while not self._closing and self.webhook is not None:
            event = self._updates_changed
            batch = self._deliverable(1)
            if not batch:
                await event.wait()
                continue
            update = batch[0]
            status, _ = await self._post_update(
                update, self.webhook.get("secret_token"), "application/json", queued=True
            )
            if status is not None and 200 <= status < 300:
                with contextlib.suppress(ValueError):
                    self._pending.remove(update)
                self._bump()
            else:  # the real server retries later too; this is back-off, not a busy poll
                await asyncio.sleep(self.webhook_retry_interval)

    async def _stop_webhook_task(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ internals

    def _bump_updates(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()
        self._bump()

    def _emit(self, kind: str, payload: JSON, enqueue: bool) -> JSON:
        # snapshot: later edits of the stored message must not change an undelivered update
        update = {"update_id": next(self._update_ids), kind: copy.deepcopy(payload)}
        if enqueue:
            return self.enqueue_update(update)
        self.injected_updates.append(update)
        return update

    def _deliverable(self, limit: int) -> list[JSON]:
        batch: list[JSON] = []
        for update in list(self._pending):
            kind = next((k for k in update if k != "update_id"), None)
            if kind not in self._allowed:
                self._pending.remove(update)
                self.dropped_updates.append(update)
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    def _set_allowed(self, allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list):
            raise _bad("can't parse allowed updates")
        self._allowed = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES

    def _chat_obj(self, chat_id: int) -> JSON:
        chat = self.chats[chat_id]
        return {k: v for k, v in chat.items() if k != "is_forum" or v}

    def _new_message(self, chat_id: int, sender: JSON) -> JSON:
        mid = self._next_mid.get(chat_id, 0) + 1
        self._next_mid[chat_id] = mid
        return {
            "message_id": mid,
            "from": dict(sender),
            "chat": self._chat_obj(chat_id),
            "date": int(time.time()),
        }

    def _store(self, msg: JSON) -> None:
        self.messages_by_id[(msg["chat"]["id"], msg["message_id"])] = msg
        self._bump()

    def _reply_copy(self, chat_id: int, message_id: int) -> JSON:
        target = self.messages_by_id.get((chat_id, message_id))
        if target is None:
            raise ValueError(f"no message {message_id} in chat {chat_id} to reply to")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _photo_sizes(self, content: bytes | None = None) -> list[JSON]:
        content = content or b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
        small = self.add_file(content[:64], file_name="thumb.jpg", kind="photos")
        big = self.add_file(content, file_name="photo.jpg", kind="photos")
        return [
            {**small, "width": 90, "height": 67},
            {**big, "width": 1280, "height": 960},
        ]

    def _document(self, document: str | JSON | UploadedFile) -> JSON:
        if isinstance(document, UploadedFile):
            name = document.filename or "file"
            info = {"file_name": name, "content": document.content}
            if document.content_type:
                info["mime_type"] = document.content_type
        elif isinstance(document, str):
            info = {"file_name": document}
        else:
            info = dict(document)
        content = info.pop("content", b"%PDF-1.4 fake")
        name = info.get("file_name", "file.bin")
        meta = self.add_file(content, file_name=name)
        doc = {"file_name": name, **meta}
        mime = info.get("mime_type") or mimetypes.guess_type(name)[0]
        if mime:
            doc["mime_type"] = mime
        doc.update({k: v for k, v in info.items() if k not in doc})
        return doc

    def _member_update(
        self, chat_id: int, by_user_id: int | None, old: JSON, new: JSON, enqueue: bool
    ) -> JSON:
        actor = (
            self.add_user(by_user_id)
            if by_user_id is not None
            else next(iter(self.users.values()), None) or self.add_user(1)
        )
        payload = {
            "chat": self._chat_obj(chat_id),
            "from": actor,
            "date": int(time.time()),
            "old_chat_member": {"user": self.bot_user, **old},
            "new_chat_member": {"user": self.bot_user, **new},
        }
        self._emit("my_chat_member", payload, enqueue)
        return payload

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != self.token:
            # 401 for a well-formed but unknown token, 404 for a malformed one (like Telegram)
            code, text = (401, "Unauthorized") if _TOKEN_RE.match(token) else (404, "Not Found")
            return self._json(ApiError(code, text).body(), code)
        raw_method = request.match_info["method"]
        known = self._methods.get(raw_method.lower())
        record = RecordedCall(known[0] if known else raw_method, {})
        self.requests.append(record)
        record.content_type = request.content_type if request.can_read_body else None
        try:
            record.params = await self._read_params(request)
            if known is None:
                raise ApiError(404, "Not Found: method not found")
            held = self._held.pop(record.method.lower(), None)
            if held is not None:
                held.arrived.set()
                await held.go.wait()
            fault = self._take_fault(record.method)
            if fault is not None:
                raise ApiError(fault.error_code, fault.description, fault.parameters)
            result = known[1](record.params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            record.status, record.error = exc.code, exc.body()
            self._bump()
            return self._json(record.error, exc.code)
        body: JSON = {"ok": True}
        if isinstance(result, _Described):
            body["result"], body["description"] = result.result, result.description
        else:
            body["result"] = result
        record.status, record.result = 200, body["result"]
        self._bump()
        lost = self._lost_answers.get(record.method.lower(), 0)
        if lost and request.transport is not None:
            self._lost_answers[record.method.lower()] = lost - 1
            record.error = {"lost_answer": True}
            request.transport.abort()  # done, but the client never hears of it
        return self._json(body, 200)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json(ApiError(404, "Not Found").body(), 404)
        path = request.match_info["path"]
        for file_id, meta in self.files.items():
            if meta["file_path"] == path:
                return web.Response(body=self._file_bytes[file_id])
        return self._json(ApiError(404, "Not Found").body(), 404)

    @staticmethod
    def _json(body: JSON, status: int) -> web.Response:
        return web.Response(
            body=json.dumps(body, ensure_ascii=False).encode(),
            status=status,
            content_type="application/json",
        )

    async def _read_params(self, request: web.Request) -> JSON:
        params: JSON = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError as exc:
                    raise _bad("can't parse JSON object") from exc
                if not isinstance(body, dict):
                    raise _bad("parameters must be a JSON object")
                params.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = UploadedFile(
                            value.filename, value.file.read(), value.content_type
                        )
                    else:
                        params[key] = value
        for key, value in list(params.items()):
            params[key] = self._coerce(key, value)
        return params

    @staticmethod
    def _coerce(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key in _JSON_FIELDS:
            try:
                return json.loads(value)
            except ValueError as exc:
                if key == "reply_markup":
                    raise _bad("can't parse reply keyboard markup JSON object") from exc
                raise _bad(f"can't parse {key} JSON object") from exc
        if key in _INT_FIELDS:
            with contextlib.suppress(ValueError):
                return int(value)
            if key == "timeout":
                with contextlib.suppress(ValueError):
                    return float(value)
            return value
        if key in _BOOL_FIELDS:
            return value.lower() in ("true", "1")
        return value

    # ------------------------------------------------------------------ validation helpers

    def _resolve_chat(self, chat_ref: Any, *, member: bool = True) -> int:
        if chat_ref is None or chat_ref == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_ref, str):
            found = [c["id"] for c in self.chats.values() if c.get("username") == chat_ref[1:]]
            if not chat_ref.startswith("@") or not found:
                raise _bad("chat not found")
            chat_ref = found[0]
        if not isinstance(chat_ref, int):
            raise _bad("chat not found")
        if chat_ref in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_ref]},
            )
        if chat_ref not in self.chats:
            raise _bad("chat not found")
        state = self._chat_state.get(chat_ref, "member")
        if member and state != "member":
            ctype = self.chats[chat_ref]["type"]
            kind = f"{ctype} chat"
            if ctype == "private":
                desc = "bot was blocked by the user"
            elif state == "kicked":
                desc = f"bot was kicked from the {kind}"
            else:
                desc = f"bot is not a member of the {kind}"
            raise ApiError(403, f"Forbidden: {desc}")
        return chat_ref

    def _message_id(self, p: JSON) -> int:
        if p.get("inline_message_id"):
            raise _bad("inline messages are not supported by the fake")
        mid = p.get("message_id")
        if mid is None:
            raise _bad("message identifier is not specified")
        if not isinstance(mid, int):
            raise _bad("message identifier is not specified")
        return mid

    @staticmethod
    def _check_markup(markup: Any, *, inline_only: bool = False) -> JSON | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
            kinds = {
                "url",
                "callback_data",
                "web_app",
                "login_url",
                "switch_inline_query",
                "switch_inline_query_current_chat",
                "switch_inline_query_chosen_chat",
                "copy_text",
                "callback_game",
                "pay",
            }
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad("can't parse inline keyboard button: Text must be non-empty")
                    if not kinds & button.keys():
                        raise _bad(
                            "can't parse inline keyboard button: "
                            "Text buttons are unallowed in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        raise _bad("BUTTON_DATA_INVALID")
            return markup
        if inline_only:
            raise _bad("inline keyboard expected")
        if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise _bad("can't parse reply keyboard markup JSON object")
        return markup

    def _render(self, p: JSON, key: str, limit: int) -> tuple[str, list[JSON]]:
        raw = p.get(key)
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raw = str(raw)
        ents_key = "entities" if key == "text" else "caption_entities"
        try:
            text, ents = render(raw, p.get("parse_mode"), p.get(ents_key))
        except EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from exc
        except ValueError as exc:
            raise _bad("unsupported parse_mode") from exc
        if key == "text" and not text:
            raise _bad("message text is empty")
        if utf16_len(text) > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return text, ents

    def _rate_windows(self, chat_id: int) -> list[tuple[Any, int, float]]:
        ctype = self.chats[chat_id]["type"]
        per_chat = self.limits.private if ctype == "private" else self.limits.group
        return [
            ("overall", self.limits.overall[0], self.limits.overall[1] * self.time_scale),
            (chat_id, per_chat[0], per_chat[1] * self.time_scale),
        ]

    def _rate_check(self, chat_id: int) -> None:
        if not self.enforce_limits:
            return
        now = time.monotonic()
        for key, max_n, period in self._rate_windows(chat_id):
            window = self._send_windows.setdefault(key, deque())
            while window and window[0] <= now - period:
                window.popleft()
            if len(window) >= max_n:
                retry = max(1, math.ceil(window[0] + period - now))
                raise ApiError(
                    429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
                )

    def _rate_commit(self, chat_id: int) -> None:
        if not self.enforce_limits:
            return
        now = time.monotonic()
        for key, _, _ in self._rate_windows(chat_id):
            self._send_windows.setdefault(key, deque()).append(now)

    def _prepare_send(self, p: JSON) -> tuple[int, JSON | None, JSON | None]:
        """Common part of send*: chat, markup, reply target; checks the flood limits."""
        chat_id = self._resolve_chat(p.get("chat_id"))
        markup = self._check_markup(p.get("reply_markup"))
        reply = p.get("reply_parameters")
        if reply is None and p.get("reply_to_message_id") is not None:
            reply = {
                "message_id": p["reply_to_message_id"],
                "allow_sending_without_reply": p.get("allow_sending_without_reply", False),
            }
        reply_copy = None
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
                raise _bad("can't parse reply parameters JSON object")
            target_chat = reply.get("chat_id", chat_id)
            if target_chat != chat_id:
                target_chat = self._resolve_chat(target_chat)
            if (target_chat, reply["message_id"]) in self.messages_by_id:
                reply_copy = self._reply_copy(target_chat, reply["message_id"])
            elif not reply.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        self._rate_check(chat_id)
        return chat_id, markup, reply_copy

    def _finish_send(
        self,
        method: str,
        p: JSON,
        chat_id: int,
        markup: JSON | None,
        reply: JSON | None,
        content: JSON,
    ) -> JSON:
        msg = self._new_message(chat_id, self.bot_user)
        thread = p.get("message_thread_id")
        if isinstance(thread, int):
            msg["message_thread_id"] = thread
            if self.chats[chat_id].get("is_forum"):
                msg["is_topic_message"] = True
        if reply is not None:
            msg["reply_to_message"] = reply
        msg.update(content)
        if markup is not None and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        self._rate_commit(chat_id)
        self._store(msg)
        sent = SentMessage(method, chat_id, msg["message_id"], p, msg, markup)
        self._sent.append(sent)
        self._sent_by_id[(chat_id, msg["message_id"])] = sent
        return msg

    def _own_message(self, p: JSON, action: str) -> tuple[int, int, JSON]:
        chat_id = self._resolve_chat(p.get("chat_id"))
        mid = self._message_id(p)
        msg = self.messages_by_id.get((chat_id, mid))
        if msg is None:
            raise _bad(f"message to {action} not found")
        if action == "edit" and msg["from"]["id"] != self.bot_user["id"]:
            raise _bad("message can't be edited")
        return chat_id, mid, msg

    # ------------------------------------------------------------------ API methods
    # Each ``_m_<apiName>`` handles one Bot API method; the name after ``_m_`` is the API name.

    def _m_getMe(self, p: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logOut(self, p: JSON) -> bool:
        return True

    def _m_close(self, p: JSON) -> bool:
        return True

    async def _m_getUpdates(self, p: JSON) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = p.get("offset")
        limit = p.get("limit", 100)
        timeout = p.get("timeout", 0)
        if not isinstance(limit, int) or not isinstance(timeout, int | float):
            raise _bad("wrong parameter in getUpdates")
        limit = min(max(limit, 1), 100)
        self._set_allowed(p.get("allowed_updates"))
        # a newer getUpdates terminates the older one, like on the real server
        self._poll_generation += 1
        generation = self._poll_generation
        self._bump_updates()
        if isinstance(offset, int) and offset != 0:
            if offset < 0:
                keep = self._pending[offset:]
                self._pending[:] = keep
            else:
                self._pending[:] = [u for u in self._pending if u["update_id"] >= offset]
            self._bump()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, float(timeout))
        while True:
            if self.webhook is not None:  # setWebhook arrived while this poll was waiting
                raise ApiError(
                    409,
                    "Conflict: terminated by setWebhook request",
                )
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            event = self._updates_changed
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def _m_setWebhook(self, p: JSON) -> _Described:
        url = p.get("url") or ""
        if not url:
            return await self._m_deleteWebhook(p)
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise _bad("secret token contains unallowed characters")
        max_conn = p.get("max_connections", 40)
        if not isinstance(max_conn, int) or not 1 <= max_conn <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        self._set_allowed(p.get("allowed_updates"))
        if p.get("drop_pending_updates"):
            self._pending.clear()
        was = self.webhook
        self.webhook = {"url": url, "secret_token": secret, "max_connections": max_conn}
        if p.get("ip_address"):
            self.webhook["ip_address"] = p["ip_address"]
        self._webhook_last_error = None
        # wake any long poll: it now answers 409
        self._poll_generation += 1
        self._bump_updates()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(
                self._webhook_loop(), name="FakeTelegram webhook delivery"
            )
        return _Described(True, "Webhook was set" if was is None else "Webhook was updated")

    async def _m_deleteWebhook(self, p: JSON) -> _Described:
        if p.get("drop_pending_updates"):
            self._pending.clear()
        was = self.webhook
        self.webhook = None
        await self._stop_webhook_task()
        self._bump_updates()
        return _Described(True, "Webhook was deleted" if was else "Webhook is already deleted")

    def _m_getWebhookInfo(self, p: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if "ip_address" in self.webhook:
                info["ip_address"] = self.webhook["ip_address"]
            if self._allowed != DEFAULT_UPDATE_TYPES:
                info["allowed_updates"] = sorted(self._allowed)
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    def _m_sendMessage(self, p: JSON) -> JSON:
        chat_id = self._resolve_chat(p.get("chat_id"))
        text, ents = self._render(p, "text", 4096)
        chat_id, markup, reply = self._prepare_send(p)
        content: JSON = {"text": text}
        if ents:
            content["entities"] = ents
        if p.get("link_preview_options"):
            content["link_preview_options"] = p["link_preview_options"]
        return self._finish_send("sendMessage", p, chat_id, markup, reply, content)

    def _media_send(self, method: str, p: JSON, key: str) -> JSON:
        chat_id = self._resolve_chat(p.get("chat_id"))
        value = p.get(key)
        if value is None or value == "":
            raise _bad(f"there is no {key} in the request")
        content: JSON = {}
        if "caption" in p:
            caption, ents = self._render(p, "caption", 1024)
            if caption:
                content["caption"] = caption
            if ents:
                content["caption_entities"] = ents
        chat_id, markup, reply = self._prepare_send(p)
        if isinstance(value, str) and value.startswith("attach://"):
            raise _bad("attach:// is only supported for media groups by the fake")
        if isinstance(value, str) and value in self.files:
            meta = {k: v for k, v in self.files[value].items() if k != "file_path"}
            media: Any = [{**meta, "width": 1280, "height": 960}] if key == "photo" else meta
        elif isinstance(value, str) and not value.startswith(("http://", "https://")):
            raise _bad("wrong file identifier/HTTP URL specified")
        elif key == "photo":
            blob = value.content if isinstance(value, UploadedFile) else None
            media = self._photo_sizes(blob)
        else:
            media = self._document(value if isinstance(value, UploadedFile) else value[-40:])
        content[key] = media
        return self._finish_send(method, p, chat_id, markup, reply, content)

    def _m_sendPhoto(self, p: JSON) -> JSON:
        return self._media_send("sendPhoto", p, "photo")

    def _m_sendDocument(self, p: JSON) -> JSON:
        return self._media_send("sendDocument", p, "document")

    def _m_editMessageText(self, p: JSON) -> JSON:
        chat_id, mid, msg = self._own_message(p, "edit")
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        text, ents = self._render(p, "text", 4096)
        markup = self._check_markup(p.get("reply_markup"), inline_only=True)
        if (
            text == msg["text"]
            and ents == msg.get("entities", [])
            and markup == msg.get("reply_markup")
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg["text"] = text
        msg.pop("entities", None)
        if ents:
            msg["entities"] = ents
        return self._apply_edit(chat_id, mid, msg, markup, p)

    def _m_editMessageReplyMarkup(self, p: JSON) -> JSON:
        chat_id, mid, msg = self._own_message(p, "edit")
        markup = self._check_markup(p.get("reply_markup"), inline_only=True)
        if markup == msg.get("reply_markup"):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        return self._apply_edit(chat_id, mid, msg, markup, p)

    def _apply_edit(self, chat_id: int, mid: int, msg: JSON, markup: JSON | None, p: JSON) -> JSON:
        # an edit without reply_markup removes the inline keyboard, as on the real server
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        sent = self._sent_by_id.get((chat_id, mid))
        if sent is not None:
            sent.reply_markup = markup
            sent.edits.append(p)
        self._bump()
        return msg

    def _m_deleteMessage(self, p: JSON) -> bool:
        chat_id, mid, _ = self._own_message(p, "delete")
        self.deleted_messages[(chat_id, mid)] = self.messages_by_id.pop((chat_id, mid))
        sent = self._sent_by_id.get((chat_id, mid))
        if sent is not None:
            sent.deleted = True
        return True

    def _m_answerCallbackQuery(self, p: JSON) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.pop(query_id)
        self.callback_answers[query_id] = p
        return True

    def _m_sendChatAction(self, p: JSON) -> bool:
        self._resolve_chat(p.get("chat_id"))
        if p.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _m_getChat(self, p: JSON) -> JSON:
        chat_id = self._resolve_chat(p.get("chat_id"))
        return {
            **self.chats[chat_id],
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_leaveChat(self, p: JSON) -> bool:
        chat_id = self._resolve_chat(p.get("chat_id"))
        if self.chats[chat_id]["type"] == "private":
            raise _bad("chat member status can't be changed in private chats")
        self._chat_state[chat_id] = "left"
        return True

    def _m_getFile(self, p: JSON) -> JSON:
        meta = self.files.get(str(p.get("file_id") or ""))
        if meta is None:
            raise _bad("invalid file_id")
        return dict(meta)

    def _m_setMyCommands(self, p: JSON) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        for c in commands:
            name = c.get("command", "") if isinstance(c, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(name)):
                raise _bad("BOT_COMMAND_INVALID")
        self.commands = commands
        return True

    def _m_getMyCommands(self, p: JSON) -> list[JSON]:
        return list(self.commands)

    def _m_deleteMyCommands(self, p: JSON) -> bool:
        self.commands = []
        return True
