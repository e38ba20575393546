"""A fake Slack platform that the real slack_sdk / slack_bolt talk to over HTTP and websocket.

Usage::

    async with FakeSlack(bot_token="xoxb-test", app_token="xapp-test",
                         signing_secret="s3cr3t") as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        app = AsyncApp(client=client, signing_secret=slack.signing_secret)
        ...
        event = slack.message_event("C0HISOPS", "U0NURSE1", "打印机坏了")
        status, body, elapsed = await slack.deliver_event(bolt_url, event)   # HTTP mode
        envelope_id = await slack.socket_send("events_api", event)           # Socket Mode
        reply = await slack.wait_for_post(lambda m: m.thread_ts == event["ts"])

It plays both sides of Slack:

* **Web API** at ``api_url`` (``http://127.0.0.1:PORT/api/``): slack_sdk posts
  ``{base_url}{method}`` with ``Authorization: Bearer <token>``; chat.* methods as a JSON body
  (``application/json;charset=utf-8``), most others form-encoded. Answers are
  ``{"ok": true, ...}`` / ``{"ok": false, "error": "..."}`` with HTTP 200, except rate limits
  (HTTP 429, ``Retry-After: <int seconds>``, ``{"ok": false, "error": "ratelimited"}``) and an
  unknown method (HTTP 404, ``unknown_method``). Every answer carries ``x-oauth-scopes`` (bolt
  reads the bot scopes from auth.test's header) and ``x-accepted-oauth-scopes``.
* **Events API / interactivity / slash commands** delivered *to* the app (``deliver_*``),
  signed like Slack: ``X-Slack-Request-Timestamp`` and
  ``X-Slack-Signature: v0=hex(hmac_sha256(signing_secret, "v0:{ts}:{raw body}"))``;
  ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason`` on retries (same ``event_id``).
  The ``response_url`` of interactions and slash commands points back at the fake; posts to
  it are recorded in ``responses``.
* **Socket Mode**: apps.connections.open (app-level ``xapp-`` token only) hands out
  ``ws://127.0.0.1:PORT/link/?ticket=...&app_id=...`` (an unknown ticket: HTTP 401); the
  socket says ``hello`` and carries envelopes ``{"envelope_id", "type", "payload",
  "accepts_response_payload"[, "retry_attempt", "retry_reason"]}`` (the retry fields only on
  ``events_api``, as Slack) that the client acks with ``{"envelope_id"[, "payload"]}``.
  ``socket_disconnect`` sends ``{"type": "disconnect", "reason": ...}``.

Differences from the real Slack, on purpose:

* One workspace ``T1``, one app; the bot user is ``UBOT`` / ``BBOT``. ``ts`` values are
  deterministic (``1700000000.000100``, ``...000200``, ...; strictly increasing across the whole
  workspace) instead of wall-clock based.
* Every channel the bot uses must be known: ``add_channel`` or an event helper that mentions it
  (as for a real bot, an id it never saw is ``channel_not_found``). Posting to a user id opens a
  DM (``D`` + the rest of the user id). ``user_not_in_channel`` (chat.postEphemeral) is only
  checked for channels created with an explicit ``members`` list.
* Rate limits only when ``enforce_limits=True``: chat.postMessage is a per-channel token bucket
  (1 message/s sustained, bursts of ``post_burst``) and every other method has its documented
  tier (per minute: Tier 1 = 1, Tier 2 = 20, Tier 3 = 50, Tier 4 = 100); all windows are
  multiplied by ``time_scale``. ``Retry-After`` stays a whole number of seconds >= 1, as on the
  real API (slack_sdk sleeps ``int(Retry-After) + random()``). Note apps.connections.open is
  Tier 1: a second Socket Mode connection within the window is rate-limited.
* Fault injection (``fail_next`` / ``fail_ratio``) may answer ``Retry-After: 0`` (Slack never
  does) to keep retry tests fast, and ``status=0`` drops the TCP connection without an answer.
* A response_url post defaults to an ephemeral message unless it says ``replace_original``,
  ``delete_original`` or ``response_type: in_channel``; the 5-uses/30-minutes limit is not
  enforced (uses are counted).
* File downloads (``url_private``) without the bot token answer a 200 HTML login page, as Slack
  does -- a classic bug in bots, so it is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import inspect
import itertools
import json
import math
import mimetypes
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import WSMsgType, web

from ._common import FakeServer, FaultBook

__all__ = [
    "ApiError",
    "Delivery",
    "EphemeralMessage",
    "FakeSlack",
    "PostedMessage",
    "RateLimits",
    "RecordedCall",
    "ResponsePost",
    "SocketAck",
    "SocketConnection",
    "SocketEnvelope",
]

JSON = dict[str, Any]

TEAM_ID = "T1"
TEAM_NAME = "HIS 售后服务"
TEAM_DOMAIN = "his-support"
APP_ID = "A0HISBOT01"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "hisbot"
DEFAULT_USER = "U0NURSE1"
DEFAULT_CHANNEL = "C0HISOPS"
TS_BASE = 1_700_000_000

# Web API methods the fake implements -> (rate-limit tier, required bot scope or None).
# chat.postMessage has Slack's "special" per-channel limit instead of a tier.
METHODS: dict[str, tuple[int | None, str | None]] = {
    "auth.test": (4, None),
    "chat.postMessage": (None, "chat:write"),
    "chat.update": (3, "chat:write"),
    "chat.delete": (3, "chat:write"),
    "chat.postEphemeral": (4, "chat:write"),
    "chat.getPermalink": (4, None),
    "conversations.info": (3, "channels:read"),
    "users.info": (4, "users:read"),
    "reactions.add": (3, "reactions:write"),
    "reactions.remove": (3, "reactions:write"),
    "files.info": (4, "files:read"),
    "apps.connections.open": (1, None),
}
DEFAULT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "reactions:write",
    "users:read",
)
RETRY_REASONS = frozenset(
    {
        "http_timeout",
        "too_many_redirects",
        "connection_failed",
        "ssl_error",
        "http_error",
        "unknown_error",
    }
)
ENVELOPE_TYPES = frozenset({"events_api", "interactive", "slash_commands"})
_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_REACTION_RE = re.compile(r"^[a-z0-9_+\-']+$")
_SERVER_ERRORS = {500: "internal_error", 503: "service_unavailable"}
_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body>Sign in to HIS 售后服务 | Slack</body></html>"
)


class ApiError(Exception):
    """An ``ok: false`` answer of the Web API (raised inside method handlers)."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        extra: JSON | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> JSON:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass
class RecordedCall:
    """One Web API request; ``status`` is None while it is still being answered."""

    method: str
    params: JSON
    token: str | None = None
    status: int | None = None
    response: JSON | None = None
    error: str | None = None  # the ``error`` of an ok:false answer
    content_type: str | None = None  # of the request body
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class PostedMessage:
    """A message the bot posted. ``message`` is the live message JSON (edits applied)."""

    method: str  # chat.postMessage | response_url
    channel: str
    ts: str
    params: JSON
    message: JSON
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False

    @property
    def text(self) -> str:
        return str(self.message.get("text", ""))

    @property
    def blocks(self) -> list[JSON] | None:
        return self.message.get("blocks")

    @property
    def thread_ts(self) -> str | None:
        return self.message.get("thread_ts")

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def reactions(self) -> list[str]:
        return [r["name"] for r in self.message.get("reactions", [])]

    @property
    def block_text(self) -> str:
        """All human-readable text inside the blocks, newline-joined (for assertions)."""
        return "\n".join(_block_texts(self.blocks or []))

    @property
    def actions(self) -> list[JSON]:
        """Interactive elements (buttons, selects...) of the blocks: dicts with action_id."""
        return _block_actions(self.blocks or [])

    @property
    def action_ids(self) -> list[str]:
        return [a["action_id"] for a in self.actions]

    def __repr__(self) -> str:
        extra = f" thread={self.thread_ts}" if self.is_reply else ""
        if self.action_ids:
            extra += f" actions={self.action_ids}"
        if self.edits:
            extra += f" edits={len(self.edits)}"
        if self.deleted:
            extra += " deleted"
        return f"<PostedMessage {self.channel} {self.ts}{extra} text={self.text!r}>"


@dataclass
class EphemeralMessage:
    """An ephemeral message (chat.postEphemeral or an ephemeral response_url post)."""

    source: str  # chat.postEphemeral | response_url
    channel: str | None
    user: str | None
    text: str
    blocks: list[JSON] | None
    thread_ts: str | None
    message_ts: str
    params: JSON


@dataclass
class ResponsePost:
    """One POST to a response_url the fake handed out (slash command or interaction)."""

    url: str
    origin: str  # command | block_actions | ...
    body: JSON
    channel: str | None
    user: str | None
    message_ts: str | None  # the message the interaction came from
    use: int  # 1 for the first post to this url
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def response_type(self) -> str:
        return str(self.body.get("response_type") or "ephemeral")

    @property
    def replace_original(self) -> bool:
        return _truthy(self.body.get("replace_original"))

    @property
    def delete_original(self) -> bool:
        return _truthy(self.body.get("delete_original"))


@dataclass
class Delivery:
    """One HTTP request the fake (as Slack) sent to the app. ``status`` None: no answer."""

    kind: str  # event_callback | url_verification | interactive | slash_command
    url: str
    body: str
    headers: dict[str, str]
    status: int | None
    response_body: str
    elapsed: float
    event_id: str | None = None
    retry_num: int | None = None
    error: str | None = None

    @property
    def acked_in_time(self) -> bool:
        """Answered 2xx within Slack's 3-second budget."""
        return self.status is not None and 200 <= self.status < 300 and self.elapsed < 3.0


@dataclass
class SocketAck:
    """The client's acknowledgement of an envelope."""

    envelope_id: str
    payload: JSON | None  # response payload (slash command / view ack with a body)
    raw: JSON
    latency: float  # seconds from sending the envelope to receiving the ack
    connection_id: int


@dataclass
class SocketEnvelope:
    envelope_id: str
    type: str
    payload: JSON
    connection_id: int
    message: JSON  # exactly what was sent on the socket
    sent_at: float = field(default_factory=time.monotonic)
    ack: SocketAck | None = None

    @property
    def acked(self) -> bool:
        return self.ack is not None


@dataclass
class SocketConnection:
    id: int
    ticket: str
    ws: web.WebSocketResponse = field(repr=False)
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    close_code: int | None = None
    received: list[JSON] = field(default_factory=list, repr=False)
    disconnect_sent: str | None = None  # reason of a "disconnect" message the fake sent

    @property
    def open(self) -> bool:
        return self.closed_at is None and not self.ws.closed


@dataclass(frozen=True)
class RateLimits:
    """chat.postMessage: per-channel token bucket; other methods: per-minute tier windows."""

    post_per_second: float = 1.0
    post_burst: int = 3
    tier_per_minute: tuple[int, int, int, int] = (1, 20, 50, 100)  # Tier 1..4


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str | None
    remaining: int = 1


@dataclass
class _ResponseUrl:
    origin: str
    channel: str | None
    user: str | None
    message_ts: str | None
    uses: int = 0


Handler = Callable[[JSON], Any]


class FakeSlack(FakeServer[RecordedCall]):
    """Fake Slack (aiohttp): Web API, Events API delivery, Socket Mode, recording, faults.

    See the module docstring for the wire protocol and deliberate differences.
    """

    fake_name = "FakeSlack"

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        signing_secret: str = "s3cr3t",
        *,
        verification_token: str = "verification-token",
        app_id: str = APP_ID,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        enforce_limits: bool = False,
        limits: RateLimits | None = None,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        seed: int = 0,
    ) -> None:
        if not bot_token.startswith("xoxb-"):
            raise ValueError(f"not a bot token: {bot_token!r}")
        if not app_token.startswith("xapp-"):
            raise ValueError(f"not an app-level token: {app_token!r}")
        super().__init__(host)
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.verification_token = verification_token
        self.app_id = app_id
        self.team_id = TEAM_ID
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.scopes = frozenset(scopes)
        self.enforce_limits = enforce_limits
        self.limits = limits or RateLimits()
        self.time_scale = time_scale

        # workspace state
        self.channels: dict[str, JSON] = {}
        self.users: dict[str, JSON] = {}
        self.messages: dict[tuple[str, str], JSON] = {}
        self.deleted_messages: dict[tuple[str, str], JSON] = {}
        self.files: dict[str, JSON] = {}
        self._file_bytes: dict[str, bytes] = {}
        self._members: dict[str, set[str]] = {}  # explicit member lists only
        self._bot_member: dict[str, bool] = {}
        self._token_error: str | None = None

        # recordings
        self.requests: list[RecordedCall] = []
        self.ephemeral: list[EphemeralMessage] = []
        self.responses: list[ResponsePost] = []
        self.deliveries: list[Delivery] = []
        self.socket_connections: list[SocketConnection] = []
        self.envelopes: dict[str, SocketEnvelope] = {}
        self.unmatched_socket_messages: list[JSON] = []
        self._posted: list[PostedMessage] = []
        self._posted_by_ts: dict[tuple[str, str], PostedMessage] = {}

        self._rng = random.Random(seed)
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        self._conn_ids = itertools.count(1)
        self._event_ids: dict[str, str] = {}
        self._tickets: set[str] = set()
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: FaultBook[_Fault] = FaultBook()
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._tier_windows: dict[str, deque[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

        self._methods: dict[str, Handler] = {}
        for name in dir(type(self)):
            if name.startswith("_m_"):
                self._methods[name[3:].replace("_", ".")] = getattr(self, name)
        assert set(self._methods) == set(METHODS), set(self._methods) ^ set(METHODS)

        self.users[BOT_USER_ID] = self._user_json(
            BOT_USER_ID, BOT_NAME, "HIS 运维助手", "hisbot", is_bot=True
        )

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeSlack:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link/", self._handle_socket)
        app.router.add_post("/hooks/{kind}/{team}/{n}/{secret}", self._handle_response_url)
        app.router.add_get("/files-pri/{tf}/{path:.+}", self._handle_file)
        await self._start_server(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every socket, stop scheduled tasks and the server."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for conn in self.socket_connections:
            if conn.open:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY), 2.0)
        await self._stop_server()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """For ``AsyncWebClient(base_url=...)``: slack_sdk appends the method name."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ workspace setup

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        tz: str = "Asia/Shanghai",
        deleted: bool = False,
    ) -> JSON:
        """Register (or update) a workspace member; returns the users.info ``user`` JSON."""
        user = self.users.get(user_id)
        if user is None:
            n = len(self.users)
            user = self._user_json(
                user_id,
                name or f"user{n}",
                real_name or f"张护士{n}",
                display_name if display_name is not None else f"护士{n}",
                is_bot=is_bot,
                tz=tz,
            )
            self.users[user_id] = user
        profile = user["profile"]
        if name:
            user["name"] = name
        if real_name:
            user["real_name"] = profile["real_name"] = profile["real_name_normalized"] = real_name
        if display_name is not None:
            profile["display_name"] = profile["display_name_normalized"] = display_name
        user["deleted"] = deleted
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool | None = None,
        members: Iterable[str] | None = None,
        bot_member: bool = True,
    ) -> JSON:
        """Register (or update) a channel; ``C`` public, ``G`` private, ``D`` a DM.

        ``members`` (user ids) makes chat.postEphemeral check ``user_not_in_channel``.
        """
        if not re.fullmatch(r"[CGD][A-Z0-9]+", channel_id):
            raise ValueError(f"not a channel id: {channel_id!r}")
        ch = self.channels.get(channel_id)
        if ch is None:
            is_im = channel_id.startswith("D")
            private = is_private if is_private is not None else channel_id.startswith(("G", "D"))
            cname = name or ("" if is_im else f"his-{channel_id[1:].lower()}")
            ch = {
                "id": channel_id,
                "name": cname,
                "name_normalized": cname,
                "is_channel": not is_im and not private,
                "is_group": private and not is_im,
                "is_im": is_im,
                "is_mpim": False,
                "is_private": private,
                "is_archived": False,
                "is_general": False,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "created": 1_690_000_000,
                "creator": DEFAULT_USER,
                "unlinked": 0,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "HIS 运维支持", "creator": "", "last_set": 0},
                "previous_names": [],
            }
            if is_im:
                ch["user"] = "U" + channel_id[1:]
            self.channels[channel_id] = ch
            self._bot_member[channel_id] = bot_member
        elif name and name != ch["name"]:
            ch["previous_names"].append(ch["name"])
            ch["name"] = ch["name_normalized"] = name
        if members is not None:
            self._members[channel_id] = set(members)
        return ch

    def remove_bot(self, channel: str) -> None:
        """The bot is no longer a member: ``not_in_channel`` (public) / ``channel_not_found``."""
        self._channel_obj(channel)
        self._bot_member[channel] = False
        self._bump()

    def add_bot(self, channel: str) -> None:
        self.add_channel(channel)
        self._bot_member[channel] = True
        self._bump()

    def archive(self, channel: str) -> None:
        """Writes to the channel answer ``is_archived``; conversations.info shows it."""
        self._channel_obj(channel)["is_archived"] = True
        self._bump()

    def unarchive(self, channel: str) -> None:
        self._channel_obj(channel)["is_archived"] = False
        self._bump()

    def delete_channel(self, channel: str) -> None:
        """The channel is gone: every call answers ``channel_not_found``."""
        self.channels.pop(channel, None)
        self._bump()

    def invalidate_bot_token(self, error: str = "token_revoked") -> None:
        """Every bot-token call answers ``error`` (token_revoked, account_inactive, ...)."""
        self._token_error = error

    def add_file(
        self,
        name: str = "screenshot.png",
        content: bytes = b"\x89PNG\r\n\x1a\nfake",
        *,
        user: str = DEFAULT_USER,
        mimetype: str | None = None,
        title: str | None = None,
    ) -> JSON:
        """Store a file (as if a user uploaded it); returns the files.info ``file`` JSON."""
        fid = f"F0{next(self._ids):08d}"
        mime = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        pri = f"{self.base_url}/files-pri/{TEAM_ID}-{fid}/{name}"
        meta = {
            "id": fid,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": name,
            "title": title or name,
            "mimetype": mime,
            "filetype": ext,
            "pretty_type": ext.upper(),
            "user": user,
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "url_private": pri,
            "url_private_download": f"{self.base_url}/files-pri/{TEAM_ID}-{fid}/download/{name}",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{user}/{fid}/{name}",
            "has_rich_preview": False,
            "file_access": "visible",
        }
        self.files[fid] = meta
        self._file_bytes[fid] = content
        return copy.deepcopy(meta)

    # ------------------------------------------------------------------ event payload helpers

    def message_event(
        self,
        channel: str,
        user: str | None,
        text: str,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        files: Iterable[str | JSON] | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        edited: bool = False,
        blocks: list[JSON] | None = None,
    ) -> JSON:
        """A ``message`` event as Slack sends it (and the message is stored in the fake).

        ``files``: names or add_file() kwargs dicts -> subtype ``file_share``.
        ``bot_id``: a message by a bot (``bot_id == "BBOT"``: our own bot, bolt ignores it).
        """
        self._ensure_channel(channel)
        if user is None and bot_id is None:
            raise ValueError("a message needs a user or a bot_id")
        if bot_id == self.bot_id:
            user = self.bot_user_id
        if user is not None:
            self._ensure_user(user, channel)
        ts = ts or self._next_ts()
        msg: JSON = {"type": "message"}
        if subtype is None and files:
            subtype = "file_share"
        if subtype:
            msg["subtype"] = subtype
        if user is not None:
            msg["user"] = user
        msg["text"] = text
        msg["ts"] = ts
        msg["team"] = TEAM_ID
        if bot_id is not None:
            msg["bot_id"] = bot_id
            msg["app_id"] = self.app_id if bot_id == self.bot_id else "A0OTHERAPP"
            msg["bot_profile"] = self._bot_profile(bot_id)
        else:
            msg["client_msg_id"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        msg["blocks"] = blocks if blocks is not None else _rich_text_blocks(text, self._rng)
        if files:
            msg["files"] = [
                self.add_file(f, user=user or DEFAULT_USER)
                if isinstance(f, str)
                else self.add_file(**{"user": user or DEFAULT_USER, **f})
                for f in files
            ]
            msg["upload"] = False
            msg["display_as_bot"] = False
        if edited:
            msg["edited"] = {"user": user, "ts": self._next_ts()}
        if thread_ts is not None and thread_ts != ts:
            self._attach_to_thread(channel, msg, thread_ts)
        self.messages[(channel, ts)] = msg
        self._bump()
        event = copy.deepcopy(msg)
        event["channel"] = channel
        event["event_ts"] = ts
        event["channel_type"] = self._channel_type(channel)
        return event

    def app_mention_event(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        files: Iterable[str | JSON] | None = None,
    ) -> JSON:
        """An ``app_mention`` event; ``<@UBOT> `` is prepended when the text lacks it.

        Slack sends it *in addition* to the ``message`` event of the same message (same ts)
        when the app subscribes to both; build that one with ``message_event(ts=...)``.
        """
        mention = f"<@{self.bot_user_id}>"
        if mention not in text:
            text = f"{mention} {text}"
        msg = self.message_event(channel, user, text, ts=ts, thread_ts=thread_ts, files=files)
        event = {k: v for k, v in msg.items() if k not in ("channel_type", "subtype", "upload")}
        event["type"] = "app_mention"
        return event

    def message_changed_event(
        self, channel: str, ts: str, text: str, *, blocks: list[JSON] | None = None
    ) -> JSON:
        """A user edits stored message ``ts``: ``message`` / subtype ``message_changed``."""
        old = self.messages.get((channel, ts))
        if old is None:
            raise ValueError(f"no message {ts} in {channel}")
        previous = copy.deepcopy(old)
        old["text"] = text
        if blocks is not None:
            old["blocks"] = blocks
        elif "client_msg_id" in old:
            old["blocks"] = _rich_text_blocks(text, self._rng)
        event_ts = self._next_ts()
        old["edited"] = {"user": old.get("user"), "ts": event_ts}
        self._bump()
        return {
            "type": "message",
            "subtype": "message_changed",
            "message": copy.deepcopy(old),
            "previous_message": previous,
            "channel": channel,
            "hidden": True,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": self._channel_type(channel),
        }

    def message_deleted_event(self, channel: str, ts: str) -> JSON:
        """Stored message ``ts`` is deleted: ``message`` / subtype ``message_deleted``."""
        old = self.messages.pop((channel, ts), None)
        if old is None:
            raise ValueError(f"no message {ts} in {channel}")
        self.deleted_messages[(channel, ts)] = old
        posted = self._posted_by_ts.get((channel, ts))
        if posted is not None:
            posted.deleted = True
        event_ts = self._next_ts()
        self._bump()
        return {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": ts,
            "channel": channel,
            "previous_message": copy.deepcopy(old),
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": self._channel_type(channel),
        }

    def channel_rename_event(self, channel: str, name: str) -> JSON:
        """``channel_rename`` (``group_rename`` for a private channel); renames it."""
        ch = self._ensure_channel(channel)
        self.add_channel(channel, name=name)
        return {
            "type": "group_rename" if ch["is_private"] else "channel_rename",
            "channel": {
                "id": channel,
                "name": name,
                "name_normalized": name,
                "created": ch["created"],
                "is_channel": ch["is_channel"],
                "is_mpim": False,
            },
            "event_ts": self._event_ts(),
        }

    def channel_archive_event(self, channel: str, user: str = DEFAULT_USER) -> JSON:
        """``channel_archive`` (``group_archive`` for private); the channel becomes archived."""
        ch = self._ensure_channel(channel)
        self._ensure_user(user)
        self.archive(channel)
        return {
            "type": "group_archive" if ch["is_private"] else "channel_archive",
            "channel": channel,
            "user": user,
            "is_moved": 0,
            "event_ts": self._event_ts(),
        }

    def member_left_channel(
        self, channel: str, user: str | None = None, *, enterprise: str | None = None
    ) -> JSON:
        """``member_left_channel``; ``user`` defaults to the bot (then the bot is removed)."""
        ch = self._ensure_channel(channel)
        user = user or self.bot_user_id
        if user == self.bot_user_id:
            self.remove_bot(channel)
        else:
            self._members.get(channel, set()).discard(user)
        event = {
            "type": "member_left_channel",
            "user": user,
            "channel": channel,
            "channel_type": "G" if ch["is_private"] else "C",
            "team": TEAM_ID,
            "event_ts": self._event_ts(),
        }
        if enterprise:
            event["enterprise"] = enterprise
        return event

    def member_joined_channel(
        self, channel: str, user: str | None = None, *, inviter: str | None = None
    ) -> JSON:
        """``member_joined_channel``; ``user`` defaults to the bot (then the bot is added)."""
        ch = self._ensure_channel(channel)
        user = user or self.bot_user_id
        if user == self.bot_user_id:
            self.add_bot(channel)
        else:
            self._ensure_user(user, channel)
        event = {
            "type": "member_joined_channel",
            "user": user,
            "channel": channel,
            "channel_type": "G" if ch["is_private"] else "C",
            "team": TEAM_ID,
            "event_ts": self._event_ts(),
        }
        if inviter:
            event["inviter"] = inviter
        return event

    def channel_left_event(self, channel: str, *, actor_id: str = DEFAULT_USER) -> JSON:
        """``channel_left``: the bot was removed from a public channel (by ``actor_id``)."""
        self._ensure_channel(channel)
        self.remove_bot(channel)
        return {
            "type": "channel_left",
            "channel": channel,
            "actor_id": actor_id,
            "event_ts": self._event_ts(),
        }

    def group_left(self, channel: str, *, actor_id: str = DEFAULT_USER) -> JSON:
        """``group_left``: the bot was removed from a private channel (by ``actor_id``)."""
        self._ensure_channel(channel)
        self.remove_bot(channel)
        return {
            "type": "group_left",
            "channel": channel,
            "actor_id": actor_id,
            "event_ts": self._event_ts(),
        }

    def block_actions_payload(
        self,
        channel: str,
        user: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        *,
        thread_ts: str | None = None,
        block_id: str | None = None,
        check_button: bool = True,
    ) -> JSON:
        """A ``block_actions`` payload: ``user`` clicks ``action_id`` on message ``message_ts``.

        If the message is one the fake knows, the element (and its ``value``/``block_id``)
        is taken from its blocks; with ``check_button`` it must exist there.
        """
        self._ensure_channel(channel)
        self._ensure_user(user, channel)
        msg = self.messages.get((channel, message_ts))
        element: JSON | None = None
        if msg is not None:
            for el in _block_actions(msg.get("blocks") or []):
                if el["action_id"] == action_id:
                    element = el
                    break
            if element is None and check_button:
                ids = _block_actions(msg.get("blocks") or [])
                raise ValueError(
                    f"message {message_ts} has no element {action_id!r}: "
                    f"{[a['action_id'] for a in ids]}"
                )
        elif check_button:
            raise ValueError(f"no message {message_ts} in {channel} (check_button=False?)")
        action: JSON = {
            "action_id": action_id,
            "block_id": block_id or (element or {}).get("_block_id") or "actions",
            "type": (element or {}).get("type", "button"),
            "action_ts": f"{time.time():.6f}",
        }
        if element is not None and "text" in element:
            action["text"] = element["text"]
        chosen = value if value is not None else (element or {}).get("value")
        if chosen is not None:
            action["value"] = chosen
        thread = thread_ts or (msg or {}).get("thread_ts")
        container: JSON = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if thread:
            container["thread_ts"] = thread
        message = copy.deepcopy(msg) if msg is not None else {"type": "message", "ts": message_ts}
        response_url = self._new_response_url("actions", "block_actions", channel, user, message_ts)
        u = self.users[user]
        return {
            "type": "block_actions",
            "user": {"id": user, "username": u["name"], "name": u["name"], "team_id": TEAM_ID},
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self.channels[channel]["name"]},
            "message": message,
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }

    def command_payload(
        self,
        command: str = "/hisbot",
        text: str = "",
        *,
        user_id: str = DEFAULT_USER,
        channel_id: str = DEFAULT_CHANNEL,
    ) -> dict[str, str]:
        """Slash-command fields (form-encoded over HTTP, a JSON object over Socket Mode)."""
        if not command.startswith("/"):
            raise ValueError("slash commands start with '/'")
        ch = self._ensure_channel(channel_id)
        u = self._ensure_user(user_id, channel_id)
        return {
            "token": self.verification_token,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": ch["name"] if not ch["is_im"] else "directmessage",
            "user_id": user_id,
            "user_name": u["name"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(
                "commands", "command", channel_id, user_id, None
            ),
            "trigger_id": self._trigger_id(),
        }

    def event_envelope(
        self, event: JSON, *, event_id: str | None = None, event_time: int | None = None
    ) -> JSON:
        """The ``event_callback`` body around ``event`` (HTTP body / events_api payload)."""
        return {
            "token": self.verification_token,
            "team_id": TEAM_ID,
            "context_team_id": TEAM_ID,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": copy.deepcopy(event),
            "type": "event_callback",
            "event_id": event_id or self._new_event_id(event),
            "event_time": event_time if event_time is not None else int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{self._rng.getrandbits(64):016x}",
        }

    # ------------------------------------------------------------------ HTTP delivery (Events API)

    async def deliver_event(
        self,
        url: str,
        event: JSON,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        signing_secret: str | None = None,
        timestamp: float | None = None,
        event_id: str | None = None,
        timeout: float = 10.0,
    ) -> tuple[int | None, str, float]:
        """POST an ``event_callback`` with ``event`` to ``url``, signed; ``(status, body, s)``.

        With ``retry_num`` the delivery is a retry: the same ``event_id`` as the last
        delivery of an equal event, plus ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``
        (default reason ``http_timeout``). ``signing_secret`` / ``timestamp`` override the
        signing (bad signature, stale request). Status None: the connection failed / timed out.
        """
        if event.get("type") == "event_callback":
            raise ValueError("pass the inner event; deliver_event builds the envelope")
        if retry_num is not None and event_id is None:
            event_id = self._event_ids.get(_event_key(event))
        envelope = self.event_envelope(event, event_id=event_id)
        body = json.dumps(envelope, ensure_ascii=False)
        if retry_num is not None and retry_reason is None:
            retry_reason = "http_timeout"
        return await self._deliver(
            "event_callback",
            url,
            body,
            "application/json",
            event_id=envelope["event_id"],
            retry_num=retry_num,
            retry_reason=retry_reason,
            signing_secret=signing_secret,
            timestamp=timestamp,
            timeout=timeout,
        )

    async def deliver_url_verification(
        self, url: str, *, challenge: str | None = None, timeout: float = 10.0
    ) -> tuple[int | None, str, float]:
        """The ``url_verification`` handshake; the app must echo ``challenge``."""
        challenge = challenge or f"{self._rng.getrandbits(160):040x}"
        body = json.dumps(
            {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        )
        return await self._deliver(
            "url_verification", url, body, "application/json", timeout=timeout
        )

    async def deliver_interaction(
        self,
        url: str,
        payload: JSON,
        *,
        signing_secret: str | None = None,
        timestamp: float | None = None,
        timeout: float = 10.0,
    ) -> tuple[int | None, str, float]:
        """POST an interaction (``payload=<json>`` form-encoded), signed."""
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return await self._deliver(
            "interactive",
            url,
            body,
            "application/x-www-form-urlencoded",
            signing_secret=signing_secret,
            timestamp=timestamp,
            timeout=timeout,
        )

    async def deliver_command(
        self,
        url: str,
        command: str = "/hisbot",
        text: str = "",
        *,
        user_id: str = DEFAULT_USER,
        channel_id: str = DEFAULT_CHANNEL,
        signing_secret: str | None = None,
        timestamp: float | None = None,
        timeout: float = 10.0,
        fields: dict[str, str] | None = None,
    ) -> tuple[int | None, str, float]:
        """POST a slash command (form-encoded, signed) whose response_url is the fake's;
        ``fields`` (from ``command_payload``) sends those again: a replayed request."""
        fields = fields or self.command_payload(
            command, text, user_id=user_id, channel_id=channel_id
        )
        return await self._deliver(
            "slash_command",
            url,
            urlencode(fields),
            "application/x-www-form-urlencoded",
            signing_secret=signing_secret,
            timestamp=timestamp,
            timeout=timeout,
        )

    async def deliver_with_bad_signature(
        self, url: str, event: JSON | None = None
    ) -> tuple[int | None, str, float]:
        """An event signed with the wrong secret (a bolt app answers 401)."""
        event = event or self.message_event(DEFAULT_CHANNEL, DEFAULT_USER, "伪造的请求")
        return await self.deliver_event(url, event, signing_secret="not-" + self.signing_secret)

    async def deliver_with_old_timestamp(
        self, url: str, event: JSON | None = None, *, age_s: float = 600.0
    ) -> tuple[int | None, str, float]:
        """An event correctly signed but ``age_s`` old (> 5 min: a bolt app answers 401)."""
        event = event or self.message_event(DEFAULT_CHANNEL, DEFAULT_USER, "过期的请求")
        return await self.deliver_event(url, event, timestamp=time.time() - age_s)

    def sign(self, body: str, timestamp: str, signing_secret: str | None = None) -> str:
        """``v0=hex(hmac_sha256(secret, "v0:{timestamp}:{body}"))`` -- Slack's signature."""
        secret = self.signing_secret if signing_secret is None else signing_secret
        base = f"v0:{timestamp}:{body}".encode()
        return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()

    async def _deliver(
        self,
        kind: str,
        url: str,
        body: str,
        content_type: str,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        signing_secret: str | None = None,
        timestamp: float | None = None,
        timeout: float,
    ) -> tuple[int | None, str, float]:
        assert self._session is not None, "use `async with FakeSlack(...)`"
        if retry_reason is not None and retry_reason not in RETRY_REASONS:
            raise ValueError(f"unknown retry reason {retry_reason!r}")
        ts = str(int(timestamp if timestamp is not None else time.time()))
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.sign(body, ts, signing_secret),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        status: int | None = None
        text = ""
        error: str | None = None
        start = time.monotonic()
        try:
            async with self._session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                status = resp.status
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - start
        self.deliveries.append(
            Delivery(kind, url, body, headers, status, text, elapsed, event_id, retry_num, error)
        )
        self._bump()
        return status, text, elapsed

    # ------------------------------------------------------------------ Socket Mode

    async def socket_send(
        self,
        envelope_type: str,
        payload: JSON,
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        accepts_response_payload: bool | None = None,
        connection_id: int | None = None,
        broadcast: bool = False,
        wait_connected: float = 5.0,
    ) -> str:
        """Push an envelope to the newest open Socket Mode connection; returns envelope_id.

        ``events_api``: ``payload`` is an event (wrapped with event_envelope()) or a whole
        ``event_callback``; ``retry_attempt`` (default 0) / ``retry_reason`` (default "")
        are included as Slack does, and ``retry_attempt > 0`` re-uses the event_id of an equal
        event. ``interactive`` / ``slash_commands``: the payload dict as is. Waits up to
        ``wait_connected`` s for a connection. ``broadcast`` sends to every open connection
        (the returned id is the first envelope's).
        """
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {sorted(ENVELOPE_TYPES)}")
        if envelope_type == "events_api":
            if payload.get("type") != "event_callback":
                event_id = None
                if retry_attempt:
                    event_id = self._event_ids.get(_event_key(payload))
                payload = self.event_envelope(payload, event_id=event_id)
            retry_attempt = retry_attempt or 0
            retry_reason = retry_reason or ("timeout" if retry_attempt else "")
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type == "slash_commands" or (
                envelope_type == "interactive"
                and payload.get("type") in ("view_submission", "block_suggestion")
            )
        conns = await self._socket_targets(connection_id, broadcast, wait_connected)
        first: str | None = None
        for conn in conns:
            eid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            message: JSON = {
                "envelope_id": eid,
                "payload": payload,
                "type": envelope_type,
                "accepts_response_payload": accepts_response_payload,
            }
            if retry_attempt is not None:
                message["retry_attempt"] = retry_attempt
            if retry_reason is not None:
                message["retry_reason"] = retry_reason
            env = SocketEnvelope(eid, envelope_type, payload, conn.id, message)
            self.envelopes[eid] = env
            await conn.ws.send_str(json.dumps(message, ensure_ascii=False))
            first = first or eid
        self._bump()
        assert first is not None
        return first

    async def socket_redeliver(self, envelope_id: str, *, reason: str = "timeout") -> str:
        """Slack's retry of an (unacked) events_api envelope: same payload, retry_attempt+1."""
        env = self.envelopes[envelope_id]
        attempt = int(env.message.get("retry_attempt") or 0) + 1
        return await self.socket_send(
            env.type,
            env.payload,
            retry_attempt=attempt,
            retry_reason=reason,
            accepts_response_payload=env.message["accepts_response_payload"],
        )

    async def socket_disconnect(
        self,
        reason: str = "refresh_requested",
        *,
        connection_id: int | None = None,
        close_after: float | None = None,
    ) -> SocketConnection:
        """Send ``{"type": "disconnect", "reason": ...}`` (Slack does so before recycling a
        connection); slack_sdk then opens a new connection. ``close_after`` s later the fake
        closes the old socket itself. Reasons: refresh_requested, warning, link_disabled."""
        (conn,) = await self._socket_targets(connection_id, False, 0.0)
        msg = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
        conn.disconnect_sent = reason
        await conn.ws.send_str(json.dumps(msg))
        if close_after is not None:

            async def later() -> None:
                await asyncio.sleep(close_after)
                await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

            self._spawn(later())
        self._bump()
        return conn

    async def socket_drop(
        self, *, connection_id: int | None = None, code: int = aiohttp.WSCloseCode.GOING_AWAY
    ) -> SocketConnection:
        """Close a connection from the server side without warning."""
        (conn,) = await self._socket_targets(connection_id, False, 0.0)
        await conn.ws.close(code=code)
        return conn

    @property
    def open_connections(self) -> list[SocketConnection]:
        return [c for c in self.socket_connections if c.open]

    async def wait_for_connections(
        self, count: int = 1, *, timeout: float = 5.0
    ) -> list[SocketConnection]:
        """Until ``count`` Socket Mode connections were *opened* in total; returns them."""
        return await self.wait_until(
            lambda: self.socket_connections if len(self.socket_connections) >= count else None,
            timeout=timeout,
            what=f"{count} socket connection(s)",
        )

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> SocketAck:
        """Until the client acked ``envelope_id``; returns the ack (with its latency)."""
        env = self.envelopes.get(envelope_id)
        if env is None:
            raise KeyError(envelope_id)
        ack = await self.wait_until(
            lambda: env.ack, timeout=timeout, what=f"the ack of envelope {envelope_id}"
        )
        assert isinstance(ack, SocketAck)
        return ack

    async def _socket_targets(
        self, connection_id: int | None, broadcast: bool, wait: float
    ) -> list[SocketConnection]:
        if connection_id is not None:
            conns = [c for c in self.socket_connections if c.id == connection_id and c.open]
            if not conns:
                raise AssertionError(f"socket connection {connection_id} is not open")
            return conns
        if wait > 0:
            await self.wait_until(
                lambda: self.open_connections, timeout=wait, what="an open socket connection"
            )
        conns = self.open_connections
        if not conns:
            raise AssertionError("FakeSlack: no open Socket Mode connection\n" + self.describe())
        return conns if broadcast else [conns[-1]]

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        conn = SocketConnection(next(self._conn_ids), ticket, ws)
        self.socket_connections.append(conn)
        hello = {
            "type": "hello",
            "num_connections": len(self.open_connections),
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_str(json.dumps(hello))
        self._bump()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_socket_text(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            conn.closed_at = time.monotonic()
            conn.close_code = ws.close_code
            self._bump()
        return ws

    def _on_socket_text(self, conn: SocketConnection, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            msg = {"_unparsable": data}
        if not isinstance(msg, dict):
            msg = {"_unparsable": data}
        conn.received.append(msg)
        env = self.envelopes.get(str(msg.get("envelope_id")))
        if env is not None and env.ack is None:
            payload = msg.get("payload")
            env.ack = SocketAck(
                env.envelope_id,
                payload if isinstance(payload, dict) else None,
                msg,
                time.monotonic() - env.sent_at,
                conn.id,
            )
        else:
            self.unmatched_socket_messages.append(msg)
        self._bump()

    # ------------------------------------------------------------------ recording

    @property
    def calls(self) -> list[tuple[str, JSON]]:
        """Every Web API call in order, as ``(method, params)``."""
        return [(c.method, c.params) for c in self.requests]

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.requests if c.method == method]

    def posted(self, channel: str | None = None) -> list[PostedMessage]:
        """Messages the bot posted (including later-deleted ones), in order."""
        return [m for m in self._posted if channel is None or m.channel == channel]

    def describe(self, last_calls: int = 15) -> str:
        """Human-readable summary of what happened (for assertion messages)."""
        lines = ["posted messages:"]
        lines += [f"  {m!r}" for m in self._posted] or ["  (none)"]
        if self.ephemeral:
            lines.append("ephemeral:")
            lines += [f"  {e.source} {e.channel} to={e.user} {e.text!r}" for e in self.ephemeral]
        if self.responses:
            lines.append("response_url posts:")
            lines += [f"  {r.origin} {r.response_type} {r.text!r}" for r in self.responses[-5:]]
        lines.append(f"last {last_calls} API calls:")
        for c in self.requests[-last_calls:]:
            brief = {k: v for k, v in c.params.items() if k not in ("blocks", "token")}
            err = f" -> {c.error}" if c.error else ""
            lines.append(f"  {c.method} {c.status} {brief}{err}")
        if self.deliveries:
            lines.append("deliveries to the app:")
            for d in self.deliveries[-5:]:
                lines.append(
                    f"  {d.kind} {d.event_id or ''} retry={d.retry_num} -> {d.status} "
                    f"{d.response_body[:80]!r} in {d.elapsed:.3f}s {d.error or ''}"
                )
        if self.socket_connections:
            lines.append("socket connections:")
            for conn in self.socket_connections:
                state = "open" if conn.open else f"closed({conn.close_code})"
                lines.append(f"  #{conn.id} {state} disconnect_sent={conn.disconnect_sent}")
            for env in list(self.envelopes.values())[-5:]:
                ack = f"acked in {env.ack.latency:.3f}s" if env.ack else "NOT acked"
                lines.append(
                    f"  envelope {env.type} {env.envelope_id} on #{env.connection_id} {ack}"
                )
        return "\n".join(lines)

    async def wait_for_post(
        self,
        condition: int | Callable[[PostedMessage], bool] = 1,
        *,
        channel: str | None = None,
        timeout: float = 5.0,
    ) -> Any:
        """Wait for bot messages.

        ``condition`` an int N: until at least N messages were posted (to ``channel`` if
        given); returns the list. A predicate: until a posted message satisfies it; returns
        that message. Raises AssertionError listing what *was* posted on timeout.
        """
        return await self._wait_for_items(
            lambda: self.posted(channel),
            condition,
            timeout=timeout,
            noun="posted message",
            where=f" in {channel}" if channel else "",
        )

    async def wait_for_ephemeral(
        self, count: int = 1, *, timeout: float = 5.0
    ) -> list[EphemeralMessage]:
        return await self.wait_until(
            lambda: self.ephemeral if len(self.ephemeral) >= count else None,
            timeout=timeout,
            what=f"{count} ephemeral message(s)",
        )

    async def wait_for_response(
        self,
        condition: int | Callable[[ResponsePost], bool] = 1,
        *,
        timeout: float = 5.0,
    ) -> Any:
        """Like wait_for_post, for posts to response_urls (``respond()``)."""
        return await self._wait_for_items(
            lambda: self.responses, condition, timeout=timeout, noun="response_url post"
        )

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any method) with a fault.

        ``status`` 429: ``Retry-After: retry_after`` + ``ratelimited``; 5xx: that status
        with ``internal_error`` / ``service_unavailable`` / ``fatal_error``; 200: an
        ``ok: false`` answer with ``error`` (default ``fatal_error``); 0: the connection is
        dropped without an answer (slack_sdk's default AsyncConnectionErrorRetryHandler
        retries that once).
        """
        fault = self._make_fault(status, retry_after, error)
        self._faults.add_next(method, fault, times)

    def fail_ratio(
        self,
        method: str,
        ratio: float,
        seed: int = 0,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Fail a deterministic (seeded) fraction of the calls (``ratio`` 0 disables)."""
        if ratio <= 0:
            self._faults.disable_ratio(method)
            return
        fault = self._make_fault(status, retry_after, error)
        self._faults.set_ratio(method, ratio, seed, fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @staticmethod
    def _make_fault(status: int, retry_after: int, error: str | None) -> _Fault:
        if status not in (0, 200, 429) and not 500 <= status <= 599:
            raise ValueError("status must be 0 (drop), 200, 429 or 5xx")
        if not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after must be a whole number of seconds >= 0")
        return _Fault(status, retry_after, error)

    def _take_fault(self, method: str) -> _Fault | None:
        return self._faults.take((method, "*"))

    @staticmethod
    def _fault_error(fault: _Fault) -> ApiError:
        if fault.status == 429:
            return ApiError(
                "ratelimited", status=429, headers={"Retry-After": str(fault.retry_after)}
            )
        if fault.status == 200:
            return ApiError(fault.error or "fatal_error")
        return ApiError(
            fault.error or _SERVER_ERRORS.get(fault.status, "fatal_error"), status=fault.status
        )

    # ------------------------------------------------------------------ rate limits

    def _rate_check(self, method: str, channel: str | None) -> None:
        if not self.enforce_limits:
            return
        now = time.monotonic()
        tier = METHODS[method][0]
        if tier is not None:
            limit = self.limits.tier_per_minute[tier - 1]
            period = 60.0 * self.time_scale
            window = self._tier_windows.setdefault(method, deque())
            while window and window[0] <= now - period:
                window.popleft()
            if len(window) >= limit:
                raise _ratelimited(window[0] + period - now)
            window.append(now)
        if method == "chat.postMessage" and channel is not None:
            rate = self.limits.post_per_second / self.time_scale
            burst = float(self.limits.post_burst)
            tokens, at = self._buckets.get(channel, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[channel] = (tokens, now)
                raise _ratelimited((1.0 - tokens) / rate)
            self._buckets[channel] = (tokens - 1.0, now)

    # ------------------------------------------------------------------ internals

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _next_ts(self) -> str:
        n = next(self._ts_counter)
        return f"{TS_BASE + n // 10_000}.{(n % 10_000) * 100:06d}"

    def _event_ts(self) -> str:
        return self._next_ts()

    def _trigger_id(self) -> str:
        return f"{next(self._ids)}.{int(time.time())}.{self._rng.getrandbits(64):016x}"

    def _new_event_id(self, event: JSON) -> str:
        event_id = f"Ev0{next(self._ids):08d}"
        self._event_ids[_event_key(event)] = event_id
        return event_id

    def _new_response_url(
        self,
        kind: str,
        origin: str,
        channel: str | None,
        user: str | None,
        message_ts: str | None,
    ) -> str:
        url = (
            f"{self.base_url}/hooks/{kind}/{TEAM_ID}/{next(self._ids)}/"
            f"{self._rng.getrandbits(96):024x}"
        )
        self._response_urls[url] = _ResponseUrl(origin, channel, user, message_ts)
        return url

    @staticmethod
    def _user_json(
        user_id: str,
        name: str,
        real_name: str,
        display_name: str,
        *,
        is_bot: bool = False,
        tz: str = "Asia/Shanghai",
    ) -> JSON:
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz,
            "tz_label": "China Standard Time",
            "tz_offset": 28800,
            "profile": {
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": display_name,
                "display_name_normalized": display_name,
                "title": "",
                "phone": "",
                "status_text": "",
                "status_emoji": "",
                "avatar_hash": "g0000000000",
                "image_48": f"https://secure.gravatar.com/avatar/{user_id}.jpg?s=48",
                "team": TEAM_ID,
            },
            "is_admin": False,
            "is_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1_690_000_000,
        }

    def _bot_profile(self, bot_id: str) -> JSON:
        return {
            "id": bot_id,
            "app_id": self.app_id if bot_id == self.bot_id else "A0OTHERAPP",
            "name": BOT_NAME if bot_id == self.bot_id else "other-bot",
            "icons": {"image_48": "https://a.slack-edge.com/bot_48.png"},
            "deleted": False,
            "updated": 1_690_000_000,
            "team_id": TEAM_ID,
        }

    def _ensure_channel(self, channel: str) -> JSON:
        return self.channels.get(channel) or self.add_channel(channel)

    def _ensure_user(self, user: str, channel: str | None = None) -> JSON:
        u = self.users.get(user) or self.add_user(user)
        if channel is not None and channel in self._members:
            self._members[channel].add(user)
        return u

    def _channel_obj(self, channel: str) -> JSON:
        ch = self.channels.get(channel)
        if ch is None:
            raise KeyError(f"unknown channel {channel}")
        return ch

    def _channel_type(self, channel: str) -> str:
        ch = self.channels[channel]
        return "im" if ch["is_im"] else "group" if ch["is_private"] else "channel"

    def _attach_to_thread(self, channel: str, msg: JSON, thread_ts: str) -> None:
        msg["thread_ts"] = thread_ts
        parent = self.messages.get((channel, thread_ts))
        if parent is None:
            return
        if parent.get("user"):
            msg["parent_user_id"] = parent["user"]
        parent["thread_ts"] = thread_ts
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = parent.setdefault("reply_users", [])
        author = msg.get("user") or msg.get("bot_id")
        if author and author not in users:
            users.append(author)
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = msg["ts"]

    def _resolve_channel(self, ref: Any, *, write: bool = True) -> str:
        """A channel id (or #name, or a user id -> DM) the bot may use, or an ApiError."""
        ref = str(ref or "").strip()
        if not ref:
            raise ApiError("channel_not_found")
        if ref.startswith("#"):
            found = [c for c, ch in self.channels.items() if ch["name"] == ref[1:]]
            if not found:
                raise ApiError("channel_not_found")
            ref = found[0]
        elif ref[0] in "UW" and ref in self.users and ref != self.bot_user_id:
            dm = "D" + ref[1:]
            if dm not in self.channels:
                self.add_channel(dm)
            ref = dm
        ch = self.channels.get(ref)
        if ch is None:
            raise ApiError("channel_not_found")
        if not self._bot_member.get(ref, True):
            raise ApiError("channel_not_found" if ch["is_private"] else "not_in_channel")
        if write and ch["is_archived"]:
            raise ApiError("is_archived")
        return ref

    def _bot_message(self, channel: str, text: str, blocks: list[JSON] | None, p: JSON) -> JSON:
        ts = self._next_ts()
        msg: JSON = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "ts": ts,
            "team": TEAM_ID,
            "bot_profile": self._bot_profile(self.bot_id),
        }
        if blocks is not None:
            msg["blocks"] = blocks
        thread_ts = p.get("thread_ts")
        if thread_ts:
            self._attach_to_thread(channel, msg, str(thread_ts))
            if _truthy(p.get("reply_broadcast")):
                msg["subtype"] = "thread_broadcast"
        if isinstance(p.get("metadata"), dict):
            msg["metadata"] = p["metadata"]
        return msg

    def _record_post(self, method: str, channel: str, msg: JSON, p: JSON) -> PostedMessage:
        self.messages[(channel, msg["ts"])] = msg
        posted = PostedMessage(method, channel, msg["ts"], p, msg)
        self._posted.append(posted)
        self._posted_by_ts[(channel, msg["ts"])] = posted
        self._bump()
        return posted

    def _stored_message(self, channel: str, ts: Any) -> JSON:
        msg = self.messages.get((channel, str(ts or "")))
        if msg is None:
            raise ApiError("message_not_found")
        return msg

    # ------------------------------------------------------------------ Web API methods
    # ``_m_<a>_<b>`` implements method ``a.b``; ``p`` are the request params.

    def _m_auth_test(self, p: JSON) -> JSON:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, p: JSON) -> JSON:
        channel = self._resolve_channel(p.get("channel"))
        text, blocks = _message_content(p)
        self._rate_check("chat.postMessage", channel)
        msg = self._bot_message(channel, text, blocks, p)
        self._record_post("chat.postMessage", channel, msg, p)
        return {"channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _m_chat_update(self, p: JSON) -> JSON:
        channel = self._resolve_channel(p.get("channel"))
        msg = self._stored_message(channel, p.get("ts"))
        if msg.get("bot_id") != self.bot_id:
            raise ApiError("cant_update_message")
        has_text = "text" in p or "blocks" in p or "attachments" in p
        if not has_text:
            raise ApiError("no_text")
        text, blocks = _message_content(p, require=False)
        if "text" in p:
            msg["text"] = text
        if "blocks" in p:
            if blocks:
                msg["blocks"] = blocks
            else:
                msg.pop("blocks", None)
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        posted = self._posted_by_ts.get((channel, msg["ts"]))
        if posted is not None:
            posted.edits.append(p)
        self._bump()
        return {
            "channel": channel,
            "ts": msg["ts"],
            "text": msg["text"],
            "message": copy.deepcopy(msg),
        }

    def _m_chat_delete(self, p: JSON) -> JSON:
        channel = self._resolve_channel(p.get("channel"))
        msg = self._stored_message(channel, p.get("ts"))
        if msg.get("bot_id") != self.bot_id:
            raise ApiError("cant_delete_message")
        self.deleted_messages[(channel, msg["ts"])] = self.messages.pop((channel, msg["ts"]))
        posted = self._posted_by_ts.get((channel, msg["ts"]))
        if posted is not None:
            posted.deleted = True
        self._bump()
        return {"channel": channel, "ts": msg["ts"]}

    def _m_chat_postEphemeral(self, p: JSON) -> JSON:
        channel = self._resolve_channel(p.get("channel"))
        user = str(p.get("user") or "")
        if user not in self.users:
            raise ApiError("user_not_found")
        if channel in self._members and user not in self._members[channel]:
            raise ApiError("user_not_in_channel")
        text, blocks = _message_content(p)
        ts = self._next_ts()
        thread = p.get("thread_ts")
        self.ephemeral.append(
            EphemeralMessage(
                "chat.postEphemeral",
                channel,
                user,
                text,
                blocks,
                str(thread) if thread else None,
                ts,
                p,
            )
        )
        self._bump()
        return {"message_ts": ts}

    def _m_chat_getPermalink(self, p: JSON) -> JSON:
        channel = self._resolve_channel(p.get("channel"), write=False)
        msg = self._stored_message(channel, p.get("message_ts"))
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{msg['ts'].replace('.', '')}"
        if msg.get("thread_ts") and msg["thread_ts"] != msg["ts"]:
            link += f"?thread_ts={msg['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _m_conversations_info(self, p: JSON) -> JSON:
        ref = str(p.get("channel") or "")
        ch = self.channels.get(ref)
        member = self._bot_member.get(ref, True)
        if ch is None or (ch["is_private"] and not member):
            raise ApiError("channel_not_found")
        info = copy.deepcopy(ch)
        info["is_member"] = member
        if ref in self._members and _truthy(p.get("include_num_members")):
            info["num_members"] = len(self._members[ref])
        return {"channel": info}

    def _m_users_info(self, p: JSON) -> JSON:
        user = self.users.get(str(p.get("user") or ""))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _reaction_target(self, p: JSON) -> tuple[JSON, str]:
        channel = self._resolve_channel(p.get("channel"))
        msg = self._stored_message(channel, p.get("timestamp"))
        name = str(p.get("name") or "").strip(":")
        if not name:
            raise ApiError("no_reaction")
        if not _REACTION_RE.match(name):
            raise ApiError("invalid_name")
        return msg, name

    def _m_reactions_add(self, p: JSON) -> JSON:
        msg, name = self._reaction_target(p)
        reactions = msg.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        if self.bot_user_id in entry["users"]:
            raise ApiError("already_reacted")
        entry["users"].append(self.bot_user_id)
        entry["count"] += 1
        self._bump()
        return {}

    def _m_reactions_remove(self, p: JSON) -> JSON:
        msg, name = self._reaction_target(p)
        reactions = msg.get("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None or self.bot_user_id not in entry["users"]:
            raise ApiError("no_reaction")
        entry["users"].remove(self.bot_user_id)
        entry["count"] -= 1
        if not entry["count"]:
            reactions.remove(entry)
        self._bump()
        return {}

    def _m_files_info(self, p: JSON) -> JSON:
        meta = self.files.get(str(p.get("file") or ""))
        if meta is None:
            raise ApiError("file_not_found")
        return {
            "file": copy.deepcopy(meta),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _m_apps_connections_open(self, p: JSON) -> JSON:
        ticket = f"{self._rng.getrandbits(128):032x}"
        self._tickets.add(ticket)
        host = self.base_url.replace("http://", "ws://", 1)
        return {"url": f"{host}/link/?ticket={ticket}&app_id={self.app_id}"}

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        record = RecordedCall(method, {})
        self.requests.append(record)
        record.content_type = request.content_type if request.can_read_body else None
        handler = self._methods.get(method)
        tier_scope = METHODS.get(method, (None, None))
        extra_headers = {
            "x-oauth-scopes": ",".join(sorted(self.scopes)),
            "x-accepted-oauth-scopes": tier_scope[1] or "",
        }
        try:
            if handler is None:
                raise ApiError("unknown_method", status=404, extra={"req_method": method})
            params, warnings = await self._read_params(request)
            record.params = params
            record.token = self._token(request, params)
            self._check_token(method, record.token)
            fault = self._take_fault(method)
            if fault is not None and fault.status == 0:
                assert request.transport is not None
                request.transport.abort()
                record.status, record.error = 0, "connection dropped"
                self._bump()
                return web.Response(status=500)
            if fault is not None:
                raise self._fault_error(fault)
            scope = tier_scope[1]
            if scope is not None and scope not in self.scopes:
                raise ApiError(
                    "missing_scope",
                    extra={"needed": scope, "provided": ",".join(sorted(self.scopes))},
                )
            if method != "chat.postMessage":  # postMessage checks after resolving the channel
                self._rate_check(method, None)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            record.status, record.error, record.response = exc.status, exc.error, exc.body()
            self._bump()
            return self._json(exc.body(), exc.status, {**extra_headers, **exc.headers})
        body: JSON = {"ok": True, **result}
        if warnings:
            body["warning"] = ",".join(warnings)
            body["response_metadata"] = {"warnings": warnings}
        record.status, record.response = 200, body
        self._bump()
        return self._json(body, 200, extra_headers)

    def _token(self, request: web.Request, params: JSON) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = params.pop("token", None)
        return str(token) if token else None

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise ApiError("invalid_auth")
        wants_app_token = method.startswith("apps.connections.")
        if (token == self.app_token) != wants_app_token:
            raise ApiError("not_allowed_token_type")
        if token == self.bot_token and self._token_error:
            raise ApiError(self._token_error)

    async def _read_params(self, request: web.Request) -> tuple[JSON, list[str]]:
        params: JSON = dict(request.query)
        warnings: list[str] = []
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                if request.charset is None:
                    warnings.append("missing_charset")
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError as exc:
                    raise ApiError("invalid_json") from exc
                if not isinstance(body, dict):
                    raise ApiError("json_not_object")
                body.pop("token", None)  # Slack ignores a token inside a JSON body
                params.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = value.file.read()
                    else:
                        params[key] = value
        return params, warnings

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        url = f"{self.base_url}{request.path}"
        target = self._response_urls.get(url)
        if target is None:
            return web.Response(status=404, text="no_service", content_type="text/plain")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return web.Response(status=400, text="invalid_payload", content_type="text/plain")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload", content_type="text/plain")
        target.uses += 1
        post = ResponsePost(
            url,
            target.origin,
            body,
            target.channel,
            target.user,
            target.message_ts,
            target.uses,
        )
        self.responses.append(post)
        self._apply_response(post)
        self._bump()
        return web.Response(text="ok", content_type="text/plain")

    def _apply_response(self, post: ResponsePost) -> None:
        channel, body = post.channel, post.body
        original = None
        if channel and post.message_ts:
            original = self.messages.get((channel, post.message_ts))
        text = str(body.get("text", ""))
        blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
        if post.delete_original and original is not None:
            self.deleted_messages[(channel, original["ts"])] = self.messages.pop(
                (channel, original["ts"])  # type: ignore[arg-type]
            )
            posted = self._posted_by_ts.get((channel, original["ts"]))  # type: ignore[arg-type]
            if posted is not None:
                posted.deleted = True
        elif post.replace_original and original is not None:
            original["text"] = text
            if blocks is not None:
                original["blocks"] = blocks
            else:
                original.pop("blocks", None)
            posted = self._posted_by_ts.get((channel, original["ts"]))  # type: ignore[arg-type]
            if posted is not None:
                posted.edits.append({"response_url": post.url, **body})
        elif post.response_type == "in_channel" and channel:
            msg = self._bot_message(channel, text, blocks, body)
            self._record_post("response_url", channel, msg, body)
        else:
            thread = body.get("thread_ts")
            self.ephemeral.append(
                EphemeralMessage(
                    "response_url",
                    channel,
                    post.user,
                    text,
                    blocks,
                    str(thread) if thread else None,
                    self._next_ts(),
                    body,
                )
            )

    async def _handle_file(self, request: web.Request) -> web.Response:
        tf = request.match_info["tf"]
        fid = tf.split("-", 1)[1] if "-" in tf else ""
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.bot_token}":
            # what Slack really does: a login page, status 200
            return web.Response(text=_LOGIN_PAGE, content_type="text/html")
        if fid not in self._file_bytes:
            return web.Response(status=404, text="file not found")
        meta = self.files[fid]
        return web.Response(body=self._file_bytes[fid], content_type=meta["mimetype"])

    @staticmethod
    def _json(body: JSON, status: int, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            body=json.dumps(body, ensure_ascii=False).encode(),
            status=status,
            headers=headers,
            content_type="application/json",
            charset="utf-8",
        )


# ---------------------------------------------------------------------- helpers


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _ratelimited(wait_s: float) -> ApiError:
    retry = max(1, math.ceil(wait_s))
    return ApiError("ratelimited", status=429, headers={"Retry-After": str(retry)})


def _event_key(event: JSON) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False)


def _message_content(p: JSON, *, require: bool = True) -> tuple[str, list[JSON] | None]:
    """Validate ``text`` / ``blocks`` of chat.* params like Slack."""
    text = p.get("text")
    text = "" if text is None else str(text)
    blocks = _parse_blocks(p.get("blocks"))
    has_attachments = bool(p.get("attachments"))
    if require and not text.strip() and not blocks and not has_attachments:
        raise ApiError("no_text")
    if len(text) > 40_000:
        raise ApiError("msg_too_long")
    return text, blocks


def _parse_blocks(raw: Any) -> list[JSON] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ApiError("invalid_blocks_format") from exc
    if not isinstance(raw, list):
        raise ApiError("invalid_blocks_format")
    if len(raw) > 50:
        raise ApiError("invalid_blocks", extra={"errors": ["too many blocks [json-pointer:/]"]})
    for i, block in enumerate(raw):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ApiError(
                "invalid_blocks",
                extra={"errors": [f"missing required field: type [json-pointer:/blocks/{i}]"]},
            )
        section_text = block.get("text")
        if (
            block["type"] == "section"
            and isinstance(section_text, dict)
            and len(str(section_text.get("text", ""))) > 3000
        ):
            raise ApiError(
                "invalid_blocks",
                extra={
                    "errors": [
                        f"must be less than 3001 characters [json-pointer:/blocks/{i}/text/text]"
                    ]
                },
            )
        for el in _block_actions([block]):
            if len(str(el.get("value", ""))) > 2000 or len(el["action_id"]) > 255:
                raise ApiError(
                    "invalid_blocks",
                    extra={"errors": [f"element too long [json-pointer:/blocks/{i}]"]},
                )
    return raw


def _block_texts(blocks: list[JSON]) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn", "text") and "text" in node:
                out.append(str(node["text"]))
                return
            for key, value in node.items():
                if key not in ("action_id", "block_id", "value", "url"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return out


def _block_actions(blocks: list[JSON]) -> list[JSON]:
    """Interactive elements with an action_id (``_block_id`` added: their block's id)."""
    found: list[JSON] = []

    def walk(node: Any, block_id: str | None) -> None:
        if isinstance(node, dict):
            block_id = node.get("block_id", block_id)
            if "action_id" in node:
                found.append({**node, "_block_id": block_id})
            for key, value in node.items():
                if key in ("elements", "accessory", "element", "fields"):
                    walk(value, block_id)
        elif isinstance(node, list):
            for item in node:
                walk(item, block_id)

    walk(blocks, None)
    return found


def _rich_text_blocks(text: str, rng: random.Random) -> list[JSON]:
    """The ``rich_text`` block Slack clients attach to user messages (mentions split out)."""
    elements: list[JSON] = []
    pos = 0
    for m in _MENTION_RE.finditer(text):
        if m.start() > pos:
            elements.append({"type": "text", "text": text[pos : m.start()]})
        elements.append({"type": "user", "user_id": m.group(1)})
        pos = m.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    block_id = "".join(rng.choice(alphabet) for _ in range(5))
    return [
        {
            "type": "rich_text",
            "block_id": block_id,
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]
