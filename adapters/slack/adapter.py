"""The Slack edge: slack-bolt's ``AsyncApp`` underneath, ``adapters.base.Adapter`` on top.

Inbound (``inbound.Inbound``), Slack delivers Events API events, button presses (block_actions) and the ``/hisbot``
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
(``ChatEvent.event_id``). The inbound ``_seen`` cache (event ids and (channel, ts) pairs for
``dedupe_ttl`` seconds) only spares this worker the users.info look-up and the database write
of a redelivery it saw itself.

Exceptions of conversion end in ONE place (``Inbound._store``) that logs what it was (event id/type,
channel), the exception type and its stack — never the payload, its text or the exception's
message (which may quote the text): all of these may carry patient data. The
libraries' own loggers are pinned to WARNING (slack_sdk dumps request bodies at DEBUG) and bolt's
signature check is replaced by ours: bolt logs rejected bodies at INFO.

Outbound, ``send``/``edit``/``acknowledge`` turn ``Reply`` objects into chat.postMessage /
chat.update / chat.postEphemeral calls through ``web_api.WebApi``: posts are paced per channel (``post_interval``), a 429
is retried after its Retry-After by the Web API client's retry handler, timeouts/5xx are retried
with backoff (a post that may have gone through is looked up by its metadata marker first, so a
retry never duplicates it), and the rest is mapped to ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from adapters.base import (
    ButtonPress,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    MessageRef,
    OnRelease,
    Reply,
)
from adapters.budget import SendBudget

from .blocks import render, render_ephemeral, render_update
from .ids import PLATFORM, command_user, is_ts
from .inbound import COMMAND_USAGE, Inbound
from .mrkdwn import escape
from .settings import SlackSettings
from .web_api import RetryAfter, WebApi

__all__ = ["COMMAND_USAGE", "SlackAdapter"]


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
        self._auth: AuthorizeResult | None = None
        self._started = False
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None

        #: The Web API client the adapter calls (429s retried by ``RetryAfter``).
        self.client = AsyncWebClient(
            token=bot_token,
            base_url=settings.api_base_url,
            timeout=int(max(1, settings.request_timeout)),
            logger=self._lib_log,
            retry_handlers=[RetryAfter(settings.rate_limit_retries, self._log)],
        )
        #: Every Web API call goes through it: retries, pacing, lost posts found.
        self.api = WebApi(self.client, settings, self._log, self._lib_log)
        #: What Slack delivers, handed to the core before bolt acknowledges it.
        self.inbound = Inbound(
            settings,
            self.client,
            lambda: self._auth,
            signing_secret=signing_secret,
            log=self._log,
            lib_log=self._lib_log,
        )
        self.app = self.inbound.app

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
        self.inbound.attach(handlers)
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
            data = await self.api.call(ChatRef(PLATFORM, "-"), "auth.test", self.client.auth_test)
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
        web_app.router.add_post(s.http_path, self.inbound.http_post)
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
            data = await self.api.call(
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

    async def display_name(self, user_id: str) -> str | None:
        """The user's Slack display name (users.info, cached); None if it cannot be had."""
        return await self.inbound.display_name(user_id)

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
        data = await self.api.post(reply.chat, render(reply), on_release)
        return MessageRef(PLATFORM, str(data.get("channel") or reply.chat.chat_id), str(data["ts"]))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace the text and buttons of one of our messages (chat.update; no buttons in
        ``reply`` removes them)."""
        kwargs = render_update(message, reply)
        chat = ChatRef(PLATFORM, message.chat_id)
        await self.api.call(chat, "chat.update", lambda: self.client.chat_update(**kwargs))

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
            await self.api.call(
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
            data = await self.api.call(
                reply.chat, "chat.postEphemeral", lambda: self.client.chat_postEphemeral(**kwargs)
            )
        except DeliveryError as exc:
            url = self.inbound.response_urls.get(reply.reply_to)
            if not exc.permanent or url is None:
                raise
            await self.api.respond(reply.chat, url, kwargs, self._session)
            return MessageRef(PLATFORM, reply.chat.chat_id, reply.reply_to)
        message_ts = data.get("message_ts")
        return MessageRef(PLATFORM, reply.chat.chat_id, str(message_ts or reply.reply_to))
