"""The Slack edge: slack-bolt's ``AsyncApp`` underneath, ``adapters.base.Adapter`` on top.

Inbound, Slack delivers Events API events, button presses (block_actions) and the ``/hisbot``
slash command either over Socket Mode (a WebSocket the bot opens; the default) or as signed
HTTP POSTs to our aiohttp listener. Every bolt listener hands the event to the core, whose
handlers return as soon as it is stored (handling follows in the core's per-chat lanes), and
only then lets bolt acknowledge it — well inside Slack's 3-second window. When the core cannot
store it (``InboxUnavailable``: database down) the listener raises: bolt answers 500 over HTTP
and sends no Socket Mode ack, so Slack delivers the event again.

Slack re-sends an event it believes was lost (``X-Slack-Retry-Num``; Socket Mode's
``retry_attempt``), possibly to another worker, and a message that @-mentions the bot arrives
twice, as ``message`` and as ``app_mention``. What makes them count once, across workers and
restarts, is the core's inbox: it stores an event once per key — channel + ts for a message
(both twins), the trigger id for a button press or slash command, the event id for a chat event
(``ChatEvent.event_id``). The ``_seen`` cache here (event ids and (channel, ts) pairs for
``dedupe_ttl`` seconds) only spares this worker the users.info look-up and the database write
of a redelivery it saw itself.

Exceptions of conversion end in ONE place (``_store``) that logs what it was (event id/type,
channel), the exception type and its stack — never the payload, its text or the exception's
message (which may quote the text): all of these may carry patient data. The
libraries' own loggers are pinned to WARNING (slack_sdk dumps request bodies at DEBUG) and bolt's
signature check is replaced by ours: bolt logs rejected bodies at INFO.

Outbound, ``send``/``edit``/``acknowledge`` turn ``Reply`` objects into chat.postMessage /
chat.update / chat.postEphemeral calls: posts are paced per channel (``post_interval``), a 429
is retried after its Retry-After by the Web API client's retry handler, timeouts/5xx are retried
with backoff (a post that may have gone through is looked up by its metadata marker first, so a
retry never duplicates it), and the rest is mapped to ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import re
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import (
    ButtonPress,
    ChatEvent,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    InboxUnavailable,
    IncomingMessage,
    MessageRef,
    OnRelease,
    Reply,
)
from adapters.budget import SendBudget

from .convert import (
    ACTION_PREFIX,
    CHAT_EVENT_TYPES,
    PLATFORM,
    command_user,
    escape,
    is_ts,
    message_user,
    render,
    render_ephemeral,
    render_update,
    to_button_press,
    to_chat_event,
    to_command,
    to_incoming,
    user_display_name,
)
from .settings import SlackSettings

__all__ = ["COMMAND_USAGE", "SlackAdapter"]

K = TypeVar("K")
V = TypeVar("V")

#: Answer to the slash command without a sub-command (shown to the invoking user only).
COMMAND_USAGE = (
    "用法：{command} <命令> [参数]，例如 {command} ticket 2026-000123 或 {command} tickets"
)
#: Slack rejects requests whose timestamp is further than this from now (replay protection).
MAX_REQUEST_AGE = 300
#: Error codes of a 200 answer that say "try again later" rather than "this will never work".
_TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: Marker put in every posted message's metadata, to find a post whose answer was lost.
_METADATA_EVENT = "hisbot_reply"
#: A slash command's response_url stays valid for 30 minutes.
_RESPONSE_URL_TTL = 1800.0
#: users.info for a sender's name runs before the event is stored and acknowledged: well
#: inside Slack's 3 s (a slow lookup leaves the user id as the name).
_LOOKUP_TIMEOUT = 1.5
#: Allowance for our clock being ahead of Slack's when looking for a post by its marker.
_CLOCK_SKEW = 600.0
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class _BoltApp(AsyncApp):
    """``AsyncApp`` whose "unhandled request" warning names the request type only: bolt's
    own quotes the request body (patient data) at WARNING."""

    def _handle_unmatched_requests(self, req: AsyncBoltRequest, resp: BoltResponse) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        kind = body.get("type") or ("slash_command" if "command" in body else "?")
        self._framework_logger.warning("slack: unhandled %s request ignored", kind)
        return resp


class _TtlCache(Generic[K, V]):
    """A bounded mapping whose entries expire ``ttl`` seconds after they were last put."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def _expire(self, now: float) -> None:
        while self._data:
            key, (expires, _) = next(iter(self._data.items()))
            if expires > now and len(self._data) <= self._size:
                break
            del self._data[key]

    def get(self, key: K) -> V | None:
        now = self._clock()
        item = self._data.get(key)
        if item is None or item[0] <= now:
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        now = self._clock()
        self._data.pop(key, None)
        self._data[key] = (now + self._ttl, value)
        self._expire(now)

    def add(self, key: K, value: V) -> bool:
        """Put ``key`` unless present; True if it was new."""
        if self.get(key) is not None:
            return False
        self.put(key, value)
        return True

    def discard(self, key: K) -> None:
        self._data.pop(key, None)


class _RetryAfter(AsyncRateLimitErrorRetryHandler):
    """Retry a 429 after exactly its Retry-After (slack_sdk's own handler adds up to a second
    of jitter per attempt); logs each wait."""

    def __init__(self, max_retry_count: int, log: logging.Logger) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._log = log

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # pragma: no cover - only called for 429 answers
            raise error or RuntimeError("rate limit retry without a response")
        state.next_attempt_requested = True
        delay = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                with contextlib.suppress(ValueError):
                    delay = max(0.0, float(values[0]))
        method = request.url.rsplit("/", 1)[-1]
        self._log.info(
            "slack %s rate limited: retry %d in %.1fs", method, state.current_attempt + 1, delay
        )
        await asyncio.sleep(delay)
        state.increment_current_attempt()


@dataclass
class _Pace:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


class SlackAdapter:
    """``adapters.base.Adapter`` for Slack (platform ``"slack"``).

    ``bot_token`` (xoxb-…), ``signing_secret`` (HTTP mode) and ``app_token`` (xapp-…, Socket
    Mode) come from the environment (HISBOT_SLACK_BOT_TOKEN, HISBOT_SLACK_SIGNING_SECRET,
    HISBOT_SLACK_APP_TOKEN) via the composition root. HTTP mode refuses to run without a
    signing secret: an unauthenticated endpoint would let anyone inject messages.
    """

    platform = PLATFORM

    def __init__(
        self,
        bot_token: str,
        settings: SlackSettings,
        *,
        signing_secret: str | None = None,
        app_token: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not bot_token:
            raise ValueError("slack needs a bot token")
        if settings.mode == "http" and not signing_secret:
            raise ValueError("slack http mode needs the signing secret")
        if settings.mode == "socket" and not app_token:
            raise ValueError("slack socket mode needs an app-level token (xapp-…)")
        self.settings = settings
        self._log = logger or logging.getLogger("hisbot.adapters.slack")
        # slack_sdk/bolt log whole request and response bodies at DEBUG (and bolt some at
        # INFO): their logger is pinned to WARNING whatever the root level is.
        self._lib_log = logging.getLogger(self._log.name + ".lib")
        self._lib_log.setLevel(logging.WARNING)
        self._token = bot_token
        self._app_token = app_token
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None

        self._handlers: CoreHandlers | None = None
        self._auth: AuthorizeResult | None = None
        self._started = False
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._pace: dict[str, _Pace] = {}
        self._seen: _TtlCache[tuple[str, ...], bool] = _TtlCache(
            settings.dedupe_size, settings.dedupe_ttl
        )
        self._names: _TtlCache[str, str] = _TtlCache(4096, settings.user_cache_ttl)
        self._response_urls: _TtlCache[str, str] = _TtlCache(1024, _RESPONSE_URL_TTL)

        #: The Web API client the adapter calls (429s retried by ``_RetryAfter``).
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=settings.api_base_url,
            timeout=int(max(1, settings.request_timeout)),
            logger=self._lib_log,
            retry_handlers=[_RetryAfter(settings.rate_limit_retries, self._log)],
        )
        self.app = self._build_app()

    # ------------------------------------------------------------------ bolt app

    def _build_app(self) -> AsyncApp:
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            # from auth.test at start; before that None, and bolt rejects the request
            return cast(AuthorizeResult, self._auth)

        app = _BoltApp(
            # bolt names per-request loggers after the app (and copies our levels onto them):
            # keep them under our library logger
            name=self._lib_log.name + ".app",
            logger=self._lib_log,
            # bolt's own client is unused (listeners only ack); ours carries the token
            client=AsyncWebClient(base_url=self.settings.api_base_url, logger=self._lib_log),
            authorize=authorize,
            # our aiohttp handler verifies signatures (bolt would log rejected bodies)
            request_verification_enabled=False,
            # listeners only ack and spawn a task: run them before answering Slack
            process_before_response=True,
        )
        app.event("message")(self._on_message_event)
        app.event("app_mention")(self._on_message_event)
        for kind in CHAT_EVENT_TYPES:
            app.event(kind)(self._on_chat_event)
        app.event(re.compile(".*"))(self._on_other)  # everything else: ack, ignore
        app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(self._on_action)
        app.action(re.compile(".*"))(self._on_other)  # e.g. link buttons: ack, ignore
        app.command(self.settings.command)(self._on_command)
        app.error(self._on_bolt_error)
        return app

    # ------------------------------------------------------------------ lifecycle

    @property
    def bot_user_id(self) -> str:
        return (self._auth.bot_user_id if self._auth else None) or ""

    @property
    def http_port(self) -> int | None:
        """The port the HTTP listener is bound to (useful with ``http_port = 0``)."""
        if self._runner is None:
            return None
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return None

    @property
    def http_url(self) -> str | None:
        port = self.http_port
        if port is None:
            return None
        return f"http://{self.settings.http_listen}:{port}{self.settings.http_path}"

    async def start(self, handlers: CoreHandlers) -> None:
        if self._started:
            raise RuntimeError("SlackAdapter already started")
        self._handlers = handlers
        self._started = True
        try:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout)
            )
            self.client.session = self._session
            await self._authenticate()
            if self.settings.mode == "http":
                await self._start_http()
            else:
                await self._start_socket()
        except BaseException:
            await self.stop()
            raise
        self._log.info(
            "slack adapter started (%s) as %s", self.settings.mode, self.bot_user_id or "?"
        )

    async def stop(self) -> None:
        """Stop receiving, close the HTTP client. Idempotent. (Events are handled by the
        core's inbox, which has its own bounded drain.)"""
        if not self._started:
            return
        self._started = False
        if self._socket is not None:
            socket, self._socket = self._socket, None
            with contextlib.suppress(Exception):
                await socket.close_async()  # type: ignore[no-untyped-call]
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._session is not None:
            session, self._session = self._session, None
            self.client.session = None
            await session.close()

    async def _authenticate(self) -> None:
        try:
            data = await self._call(ChatRef(PLATFORM, "-"), "auth.test", self.client.auth_test)
        except DeliveryError as exc:
            # the reason is Slack's error code ("invalid_auth"), never the token
            raise RuntimeError(
                f"Slack auth.test failed ({exc.reason}); check HISBOT_SLACK_BOT_TOKEN"
            ) from None
        self._auth = AuthorizeResult(
            enterprise_id=data.get("enterprise_id"),
            team_id=data.get("team_id"),
            bot_user_id=data.get("user_id"),
            bot_id=data.get("bot_id"),
            bot_token=self._token,
        )

    async def _start_http(self) -> None:
        s = self.settings
        web_app = web.Application(client_max_size=1024 * 1024)
        web_app.router.add_post(s.http_path, self._http_post)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, s.http_listen, s.http_port).start()

    async def _start_socket(self) -> None:
        assert self._app_token is not None  # checked in __init__
        handler = AsyncSocketModeHandler(
            self.app, self._app_token, logger=self._lib_log, web_client=self.client
        )
        self._socket = handler
        # open the first connection URL ourselves: a bad app token fails start() at once
        # (the socket client would retry it forever), and it goes to api_base_url
        token = self._app_token
        try:
            data = await self._call(
                ChatRef(PLATFORM, "-"),
                "apps.connections.open",
                lambda: self.client.apps_connections_open(app_token=token),
            )
        except DeliveryError as exc:
            raise RuntimeError(
                f"Slack apps.connections.open failed ({exc.reason}); check HISBOT_SLACK_APP_TOKEN"
            ) from None
        handler.client.wss_uri = str(data["url"])
        try:
            await asyncio.wait_for(
                handler.client.connect(),  # type: ignore[no-untyped-call]
                self.settings.connect_timeout,
            )
        except TimeoutError:
            raise RuntimeError("Slack Socket Mode: could not connect the WebSocket") from None

    # ------------------------------------------------------------------ HTTP endpoint

    def _signature_problem(self, body: bytes, timestamp: str | None, signature: str | None) -> str:
        if not timestamp or not signature:
            return "no signature headers"
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            return "malformed timestamp"
        if age > MAX_REQUEST_AGE:
            return f"stale timestamp ({int(age)}s old)"
        assert self._verifier is not None  # http mode has a signing secret
        expected = self._verifier.generate_signature(timestamp=timestamp, body=body) or ""
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return "signature mismatch"
        return ""

    async def _http_post(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = self._signature_problem(
            body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
        )
        if problem:
            # never the body (patient data) nor the signature
            self._log.warning(
                "slack request rejected: %s (from %s, %d bytes)", problem, request.remote, len(body)
            )
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self._log.warning("slack request rejected: body is not UTF-8 (from %s)", request.remote)
            return web.Response(status=400)
        bolt_request = AsyncBoltRequest(
            body=text,
            query=request.query_string,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        bolt_response: BoltResponse = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    # ------------------------------------------------------------------ inbound

    def _core(self) -> CoreHandlers:
        if self._handlers is None:
            raise RuntimeError("SlackAdapter.start() was not called")
        return self._handlers

    def _first_sighting(
        self, body: Mapping[str, Any], event: Mapping[str, Any]
    ) -> list[tuple[str, ...]] | None:
        """The keys marking this event seen, or None when it was seen already (a retry, or the
        app_mention twin of a message event)."""
        keys: list[tuple[str, ...]] = []
        event_id = body.get("event_id")
        if isinstance(event_id, str) and event_id:
            keys.append(("event", event_id))
        channel, ts = event.get("channel"), event.get("ts")
        if event.get("type") in ("message", "app_mention") and isinstance(channel, str) and ts:
            keys.append(("message", channel, str(ts)))
        new = [self._seen.add(k, True) for k in keys]
        return None if keys and not all(new) else keys

    def _replayed(self, kind: str, body: Mapping[str, Any]) -> list[tuple[str, ...]] | None:
        """Like ``_first_sighting`` for an interaction or slash command: a request replayed
        within the signature's 5 minutes carries the same ``trigger_id`` (Slack issues one per
        user action)."""
        trigger = body.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            return []
        return [(kind, trigger)] if self._seen.add((kind, trigger), True) else None

    async def _store(
        self,
        channel: str,
        what: str,
        seen: list[tuple[str, ...]],
        work: Callable[[], Awaitable[None]],
    ) -> None:
        """Hand the event to the core before the listener returns (bolt acknowledges it then).
        ``InboxUnavailable`` propagates (no ack: Slack delivers it again; it is un-marked as
        seen so the redelivery is taken); any other exception is logged — ids, never text —
        and the event acknowledged (a conversion bug must not be redelivered for minutes)."""
        try:
            await work()
        except InboxUnavailable:
            for key in seen:
                self._seen.discard(key)
            raise
        except Exception as exc:
            self._log.error(
                "slack %s in channel %s failed: %s", what, channel, _traceback_without_text(exc)
            )

    async def _on_message_event(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        event = body.get("event")
        seen = self._first_sighting(body, event) if isinstance(event, dict) else None
        if isinstance(event, dict) and seen is not None:
            channel = str(event.get("channel") or "-")
            what = f"event {body.get('event_id', '?')} ({event.get('type')}/{event.get('subtype')})"
            await self._store(channel, what, seen, lambda: self._deliver_message(event))
        await ack()  # stored (or nothing to store): Slack may forget it

    async def _deliver_message(self, event: Mapping[str, Any]) -> None:
        auth = self._auth
        bot_id = auth.bot_id if auth else None
        message = to_incoming(event, self.bot_user_id, bot_id=bot_id)
        if message is None:
            return
        user = message_user(event)
        if user and not message.from_self and not message.sender.is_bot:
            name = await self.display_name(user)
            if name:
                sender = dataclasses.replace(message.sender, display_name=name)
                message = dataclasses.replace(message, sender=sender)
        await self._core().on_message(message)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        seen = self._replayed("interaction", body)
        if seen is None:
            self._log.warning("slack: replayed interaction %s ignored", body.get("trigger_id"))
            await ack()
            return
        try:
            press = to_button_press(body)
        except ValueError as exc:
            self._log.warning("slack: unusable block_actions payload ignored: %s", exc)
            await ack()
            return

        async def deliver() -> None:
            name = await self.display_name(press.sender.user_id)
            found = press
            if name:
                found = dataclasses.replace(
                    press, sender=dataclasses.replace(press.sender, display_name=name)
                )
            await self._core().on_button(found)

        what = f"button press {press.press_id or '?'}"
        await self._store(press.message.chat_id, what, seen, deliver)
        await ack()

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        message = to_command(body)
        if message is None:
            await ack(text=COMMAND_USAGE.format(command=self.settings.command))
            return
        seen = self._replayed("command", body)
        if seen is None:
            self._log.warning("slack: replayed slash command %s ignored", body.get("trigger_id"))
            await ack()
            return
        response_url = body.get("response_url")
        if isinstance(response_url, str) and response_url:
            self._response_urls.put(message.message_id, response_url)

        async def deliver() -> None:
            name = await self.display_name(message.sender.user_id)
            found: IncomingMessage = message
            if name:
                found = dataclasses.replace(
                    message, sender=dataclasses.replace(message.sender, display_name=name)
                )
            await self._core().on_message(found)

        await self._store(message.chat.chat_id, "slash command", seen, deliver)
        await ack()

    async def _on_chat_event(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        event = body.get("event")
        if not isinstance(event, dict):
            await ack()
            return
        seen = self._first_sighting(body, event)
        chat_event = to_chat_event(event, self.bot_user_id) if seen is not None else None
        if chat_event is None or seen is None:
            await ack()
            return
        event_id = body.get("event_id")
        if isinstance(event_id, str):
            chat_event = dataclasses.replace(chat_event, event_id=event_id)

        async def deliver(e: ChatEvent = chat_event) -> None:
            await self._core().on_chat_event(e)

        what = f"event {body.get('event_id', '?')} ({event.get('type')})"
        await self._store(chat_event.chat.chat_id, what, seen, deliver)
        await ack()

    async def _on_other(self, ack: AsyncAck) -> None:
        await ack()

    async def _on_bolt_error(self, error: Exception) -> None:
        """bolt's error handler: the exception type and traceback only, never the body."""
        self._log.error("slack request failed in bolt: %s", _traceback_without_text(error))

    async def display_name(self, user_id: str) -> str | None:
        """The user's Slack display name (users.info, cached); None if it cannot be had."""
        if not user_id:
            return None
        cached = self._names.get(user_id)
        if cached is not None:
            return cached
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id), _LOOKUP_TIMEOUT)
        except (SlackClientError, *_NETWORK_ERRORS) as exc:
            self._log.info("slack users.info for %s failed: %s", user_id, type(exc).__name__)
            return None
        user = response.get("user")
        name = user_display_name(user if isinstance(user, dict) else None)
        if name:
            self._names.put(user_id, name)
        return name

    # ------------------------------------------------------------------ outbound

    def send_budget(self, chat: ChatRef) -> SendBudget | None:
        """``adapters.base.DeclaresSendBudget``: one post per ``post_interval`` per channel
        (Slack allows about one a second); None when unpaced."""
        interval = self.settings.post_interval
        if interval <= 0:
            return None
        return SendBudget(max(1, round(60 / interval)), 60.0, 1)

    async def send(self, reply: Reply) -> MessageRef:
        """Post ``reply`` (in the thread of ``reply_to``); returns the posted message's ref.

        A reply to a slash command goes to the invoking user only (chat.postEphemeral; if the
        bot is not in that channel, through the command's response_url)."""
        return await self._send(reply, None)

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        """``adapters.base.ReleasesSends``: ``send``, awaiting ``on_release`` once the
        channel's pacing lets the post go, right before its first request."""
        return await self._send(reply, on_release)

    async def _send(self, reply: Reply, on_release: OnRelease | None) -> MessageRef:
        command_by = command_user(reply.reply_to)
        if command_by is not None:
            if on_release is not None:  # unpaced: it leaves at once
                await on_release()
            return await self._send_command_reply(reply, command_by)
        kwargs = render(reply)
        marker = uuid.uuid4().hex
        kwargs["metadata"] = {"event_type": _METADATA_EVENT, "event_payload": {"id": marker}}
        since = time.time() - _CLOCK_SKEW  # lower bound of the lookup after a lost answer
        data = await self._paced(
            reply.chat,
            lambda: self._call(
                reply.chat,
                "chat.postMessage",
                lambda: self.client.chat_postMessage(**kwargs),
                recover=lambda: self._find_post(kwargs, marker, since),
            ),
            on_release,
        )
        return MessageRef(PLATFORM, str(data.get("channel") or reply.chat.chat_id), str(data["ts"]))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace the text and buttons of one of our messages (chat.update; no buttons in
        ``reply`` removes them)."""
        kwargs = render_update(message, reply)
        chat = ChatRef(PLATFORM, message.chat_id)
        await self._call(chat, "chat.update", lambda: self.client.chat_update(**kwargs))

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """The press was acknowledged to Slack when it arrived (within its 3 s). A ``text`` is
        shown to the presser only, as an ephemeral message. Best effort: failures are logged."""
        if not text or not self.settings.ephemeral_acks or not press.sender.user_id:
            return
        kwargs: dict[str, Any] = {
            "channel": press.message.chat_id,
            "user": press.sender.user_id,
            "text": escape(text),
        }
        if is_ts(press.thread_id):
            kwargs["thread_ts"] = press.thread_id
        chat = ChatRef(PLATFORM, press.message.chat_id, press.thread_id)
        try:
            await self._call(
                chat, "chat.postEphemeral", lambda: self.client.chat_postEphemeral(**kwargs)
            )
        except DeliveryError as exc:
            self._log.warning(
                "slack: could not acknowledge button press in channel %s: %s",
                press.message.chat_id,
                exc.reason,
            )

    async def _send_command_reply(self, reply: Reply, user_id: str) -> MessageRef:
        kwargs = render_ephemeral(reply, user_id)
        assert reply.reply_to is not None  # a command reply has a command ref
        try:
            data = await self._call(
                reply.chat, "chat.postEphemeral", lambda: self.client.chat_postEphemeral(**kwargs)
            )
        except DeliveryError as exc:
            url = self._response_urls.get(reply.reply_to)
            if not exc.permanent or url is None:
                raise
            await self._respond(reply.chat, url, kwargs)
            return MessageRef(PLATFORM, reply.chat.chat_id, reply.reply_to)
        message_ts = data.get("message_ts")
        return MessageRef(PLATFORM, reply.chat.chat_id, str(message_ts or reply.reply_to))

    async def _respond(self, chat: ChatRef, url: str, kwargs: Mapping[str, Any]) -> None:
        """Answer a slash command through its response_url (works where the bot is not a
        member of the channel)."""
        hook = AsyncWebhookClient(url, session=self._session, logger=self._lib_log)
        try:
            response = await hook.send(
                text=kwargs["text"],
                blocks=kwargs["blocks"],
                response_type="ephemeral",
                replace_original=False,
            )
        except (SlackClientError, *_NETWORK_ERRORS) as exc:
            raise DeliveryError(
                chat, f"response_url: {type(exc).__name__}", permanent=False
            ) from exc
        if response.status_code != 200:
            raise DeliveryError(chat, f"response_url: HTTP {response.status_code}")

    # ------------------------------------------------------------------ delivery helpers

    async def _paced(
        self,
        chat: ChatRef,
        post: Callable[[], Awaitable[dict[str, Any]]],
        on_release: OnRelease | None = None,
    ) -> dict[str, Any]:
        """Run ``post`` at least ``post_interval`` after the previous post to the channel
        finished; posts to one channel go out one at a time, in order. ``on_release`` is
        awaited when the post's turn has come (raising: the post is not made)."""
        pace = self._pace.setdefault(chat.chat_id, _Pace())
        loop = asyncio.get_running_loop()
        async with pace.lock:
            wait = pace.next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if on_release is not None:
                await on_release()
            try:
                return await post()
            finally:
                pace.next_at = loop.time() + self.settings.post_interval

    async def _find_post(
        self, kwargs: Mapping[str, Any], marker: str, since: float
    ) -> dict[str, Any] | None:
        """After a lost answer: the message a post with ``marker`` created, if it exists."""
        channel = str(kwargs["channel"])
        thread = kwargs.get("thread_ts")
        try:
            if thread:
                response = await self.client.conversations_replies(
                    channel=channel,
                    ts=str(thread),
                    oldest=f"{since:.6f}",
                    include_all_metadata=True,
                    limit=200,
                )
            else:
                response = await self.client.conversations_history(
                    channel=channel, oldest=f"{since:.6f}", include_all_metadata=True, limit=200
                )
        except (SlackClientError, *_NETWORK_ERRORS):
            return None  # cannot tell: sending again beats losing the message
        for message in response.get("messages") or ():
            if not isinstance(message, dict):
                continue
            metadata = message.get("metadata")
            payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
            if isinstance(payload, dict) and payload.get("id") == marker and message.get("ts"):
                return {"ok": True, "channel": channel, "ts": message["ts"]}
        return None

    async def _call(
        self,
        chat: ChatRef,
        what: str,
        call: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        recover: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> dict[str, Any]:
        """One Web API call: timeouts, connection errors and 5xx are retried with backoff
        (before each retry, ``recover`` may find that the call had succeeded after all); a 429
        was already retried by the client. Everything else becomes ``DeliveryError``."""
        attempt = 0
        while True:
            try:
                response = await call()
                data = response.data
                return dict(data) if isinstance(data, dict) else {}
            except SlackApiError as exc:
                status, error = _status_and_error(exc)
                if status == 429 or error == "ratelimited":
                    raise DeliveryError(
                        chat, f"{what}: rate limited, gave up after retries", permanent=False
                    ) from exc
                if not (status >= 500 or error in _TRANSIENT_ERRORS):
                    # not_in_channel, channel_not_found, is_archived, message_not_found, …:
                    # the same call will fail the same way
                    raise DeliveryError(chat, f"{what}: {error}", permanent=True) from exc
                reason = f"HTTP {status} {error}".strip()
                failure: Exception = exc
            except SlackClientError as exc:
                raise DeliveryError(chat, f"{what}: {type(exc).__name__}", permanent=True) from exc
            except _NETWORK_ERRORS as exc:
                reason = type(exc).__name__
                failure = exc
            if attempt >= self.settings.network_retries:
                raise DeliveryError(
                    chat, f"{what} failed after {attempt + 1} attempts: {reason}", permanent=False
                ) from failure
            delay = self.settings.network_backoff * (2**attempt)
            attempt += 1
            self._log.warning(
                "slack %s to channel %s: %s, retry %d in %.2fs",
                what,
                chat.chat_id,
                reason,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
            if recover is not None:
                found = await recover()
                if found is not None:
                    self._log.info(
                        "slack %s to channel %s had gone through; not sent again",
                        what,
                        chat.chat_id,
                    )
                    return found


def _traceback_without_text(exc: BaseException) -> str:
    """The exception's type and where it was raised (file, line, function, source line, for
    it and its causes) — without its message, which may quote a patient's message."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = f"{type(current).__module__}.{type(current).__qualname__}"
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{name} (message withheld)\n{frames}".rstrip())
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n  caused by ".join(parts)


def _status_and_error(exc: SlackApiError) -> tuple[int, str]:
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    error = ""
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        error = str(data.get("error") or "")
    return int(status), error
