"""What Slack delivers, handed to the core: Events API events, button presses (block_actions)
and the slash command, over Socket Mode or as signed HTTP POSTs (``SlackAdapter``'s inbound
half; ``adapters.slack.adapter`` explains the whole edge).

Every bolt listener hands the event to the core, whose handlers return as soon as it is stored,
and only then lets bolt acknowledge it; when the core cannot store it (``InboxUnavailable``)
the listener raises, so Slack delivers it again. The ``_seen`` cache spares this worker the
look-up and the write of a redelivery it saw itself; what makes an event count once across
workers is the inbox's key. Exceptions end in ``_store``, logged by ids and stack only
(``traceback_without_text``): never the payload, its text or an exception's message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import ChatEvent, CoreHandlers, InboxUnavailable, IncomingMessage

from .events import (
    CHAT_EVENT_TYPES,
    message_user,
    to_button_press,
    to_chat_event,
    to_command,
    to_incoming,
    user_display_name,
)
from .ids import ACTION_PREFIX
from .settings import SlackSettings
from .ttl_cache import TtlCache
from .web_api import NETWORK_ERRORS

#: Answer to the slash command without a sub-command (shown to the invoking user only).
COMMAND_USAGE = (
    "用法：{command} <命令> [参数]，例如 {command} ticket 2026-000123 或 {command} tickets"
)
#: Slack rejects requests whose timestamp is further than this from now (replay protection).
MAX_REQUEST_AGE = 300
#: A slash command's response_url stays valid for 30 minutes.
_RESPONSE_URL_TTL = 1800.0
#: users.info for a sender's name runs before the event is stored and acknowledged: well
#: inside Slack's 3 s (a slow lookup leaves the user id as the name).
_LOOKUP_TIMEOUT = 1.5


class _BoltApp(AsyncApp):
    """``AsyncApp`` whose "unhandled request" warning names the request type only: bolt's
    own quotes the request body (patient data) at WARNING."""

    def _handle_unmatched_requests(self, req: AsyncBoltRequest, resp: BoltResponse) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        kind = body.get("type") or ("slash_command" if "command" in body else "?")
        self._framework_logger.warning("slack: unhandled %s request ignored", kind)
        return resp


class Inbound:
    """Slack's deliveries to this worker: the bolt app and its listeners, the HTTP endpoint's
    signature check, and the senders' display names."""

    def __init__(
        self,
        settings: SlackSettings,
        client: AsyncWebClient,
        identity: Callable[[], AuthorizeResult | None],
        *,
        signing_secret: str | None,
        log: logging.Logger,
        lib_log: logging.Logger,
    ) -> None:
        """``client``: the adapter's Web API client (users.info); ``identity``: the bot's
        auth.test result once the adapter started (None before: bolt rejects requests)."""
        self.settings = settings
        self.client = client
        self._identity = identity
        self._log = log
        self._lib_log = lib_log
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._handlers: CoreHandlers | None = None
        self._seen: TtlCache[tuple[str, ...], bool] = TtlCache(
            settings.dedupe_size, settings.dedupe_ttl
        )
        self._names: TtlCache[str, str] = TtlCache(4096, settings.user_cache_ttl)
        #: A slash command's response_url by the command's message id (its reply may go there).
        self.response_urls: TtlCache[str, str] = TtlCache(1024, _RESPONSE_URL_TTL)
        self.app = self._build_app()

    def attach(self, handlers: CoreHandlers) -> None:
        """From now on every delivery goes to ``handlers`` (the core's inbox)."""
        self._handlers = handlers

    @property
    def bot_user_id(self) -> str:
        auth = self._identity()
        return (auth.bot_user_id if auth else None) or ""

    def _build_app(self) -> AsyncApp:
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            # from auth.test at start; before that None, and bolt rejects the request
            return cast(AuthorizeResult, self._identity())

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

    async def http_post(self, request: web.Request) -> web.Response:
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
                "slack %s in channel %s failed: %s", what, channel, traceback_without_text(exc)
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
        auth = self._identity()
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
            self.response_urls.put(message.message_id, response_url)

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
        self._log.error("slack request failed in bolt: %s", traceback_without_text(error))

    async def display_name(self, user_id: str) -> str | None:
        """The user's Slack display name (users.info, cached); None if it cannot be had."""
        if not user_id:
            return None
        cached = self._names.get(user_id)
        if cached is not None:
            return cached
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id), _LOOKUP_TIMEOUT)
        except (SlackClientError, *NETWORK_ERRORS) as exc:
            self._log.info("slack users.info for %s failed: %s", user_id, type(exc).__name__)
            return None
        user = response.get("user")
        name = user_display_name(user if isinstance(user, dict) else None)
        if name:
            self._names.put(user_id, name)
        return name


def traceback_without_text(exc: BaseException) -> str:
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
