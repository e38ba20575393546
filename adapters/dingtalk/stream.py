"""One tenant's Stream-mode connection: gateway → websocket → frames → acknowledgements.

Built on the official ``dingtalk-stream`` SDK's frame model (``CallbackMessage``,
``SystemMessage``, ``AckMessage`` and the handlers that build the acks), with the connection
loop of our own, because the SDK's ``DingTalkStreamClient.start`` cannot be stopped, opens the
gateway with blocking ``requests`` on the event loop, reads the endpoint from a process-wide
environment variable and never notices a connection that went silent without closing.

Here: the gateway is opened with aiohttp at the configured base URL; callbacks are handed on
one at a time in arrival order and each is acknowledged only after the handler (the core's
inbox storing it) returned — an exception leaves it unacknowledged, and DingTalk delivers it
again; a watchdog pings and closes a connection that delivered nothing
— no frame, no pong — for ``liveness_timeout`` seconds; ``stop`` closes the socket so the
platform never holds two live connections of this bot for one tenant. Connection times run on
the loop's own clock (the send limits' ``Clock`` may be virtual in tests; a socket's life
never is).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import websockets
from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage, SystemMessage
from dingtalk_stream.card_callback import Card_Callback_Router_Topic
from dingtalk_stream.handlers import CallbackHandler, SystemHandler
from websockets.asyncio.client import ClientConnection

from adapters.base import InboxUnavailable

from .client import OpenApiError, TenantApi
from .settings import DingTalkSettings

log = logging.getLogger(__name__)

#: The topics this bot subscribes to: robot messages and interactive card button presses.
TOPICS = (ChatbotMessage.TOPIC, Card_Callback_Router_Topic)
#: A callback handler: awaits the core; raising leaves the frame unacknowledged.
OnCallback = Callable[[str, dict[str, Any]], Awaitable[None]]


class State(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    #: The gateway refused the tenant's AppKey/AppSecret (retried slowly: an admin may fix it).
    REFUSED = "refused"
    STOPPED = "stopped"


class _Callbacks(CallbackHandler):  # type: ignore[misc]
    """The SDK's callback handler: its ``raw_process`` builds the ack from our result."""

    def __init__(self, on_callback: OnCallback) -> None:
        super().__init__()
        self._on_callback = on_callback

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        await self._on_callback(str(message.headers.topic), message.data)
        return AckMessage.STATUS_OK, "OK"


class TenantStream:
    def __init__(
        self,
        api: TenantApi,
        settings: DingTalkSettings,
        on_callback: OnCallback,
    ) -> None:
        self.api = api
        self.name = api.name
        self._settings = settings
        self._callbacks = _Callbacks(on_callback)
        self._system = SystemHandler()
        self._ws: ClientConnection | None = None
        self._last_activity = 0.0
        self._task: asyncio.Task[None] | None = None
        self._frames: set[asyncio.Task[None]] = set()  # frames in flight (and pong waits)
        #: Callbacks reach the handler one at a time, in the order their frames arrived.
        self._arrivals = asyncio.Lock()
        self.state = State.STOPPED
        self.problem = ""
        self._stopping = False
        #: Set once the first connection is up, or the credentials were refused.
        self.settled = asyncio.Event()
        #: How many times a connection was (re)opened; the watchdog's zombies counted apart.
        self.connections = 0
        self.zombies = 0

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._stopping = False
        self.state, self.problem = State.CONNECTING, ""
        self.settled.clear()
        self._task = asyncio.create_task(self._run(), name=f"dingtalk-stream-{self.name}")

    async def stop(self) -> None:
        """Stop taking frames (those arriving now stay unacknowledged: DingTalk gives them to
        the next connection), let the ones in flight finish and be acknowledged for up to
        ``stop_timeout``, then close the socket, so the platform never holds two live
        connections of this bot for one tenant."""
        self._stopping = True
        if self._frames:
            _, pending = await asyncio.wait(self._frames, timeout=self._settings.stop_timeout)
            for frame in pending:
                frame.cancel()
        runner, self._task = self._task, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self.state = State.STOPPED

    # ---- the connection loop -------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._settings.reconnect_backoff
        while True:
            try:
                endpoint, ticket = await self.api.open_connection(
                    [{"type": "CALLBACK", "topic": t} for t in TOPICS]
                )
            except OpenApiError as exc:
                if exc.permanent:
                    self._refused(str(exc))
                    delay = self._settings.reconnect_max
                else:
                    log.warning("dingtalk %s: gateway unreachable: %s", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.reconnect_max)
                continue
            try:
                await self._connected(f"{endpoint}?ticket={quote_plus(ticket)}")
                delay = self._settings.reconnect_backoff  # it was up: start the backoff anew
            except (OSError, websockets.exceptions.WebSocketException) as exc:
                log.warning("dingtalk %s: connection lost: %s", self.name, exc)
            self.state = State.CONNECTING
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max)

    def _refused(self, reason: str) -> None:
        if self.state is not State.REFUSED:
            log.error(
                "dingtalk tenant %s: the gateway refused its credentials (%s); check its "
                "AppKey/AppSecret — the other tenants keep running",
                self.name,
                reason,
            )
        self.state, self.problem = State.REFUSED, reason
        self.settled.set()

    async def _connected(self, uri: str) -> None:
        async with websockets.connect(uri, ping_interval=None, close_timeout=1) as ws:
            self._ws = ws
            self.connections += 1
            self.state, self.problem = State.CONNECTED, ""
            self.settled.set()
            self._last_activity = asyncio.get_running_loop().time()
            log.info("dingtalk %s: stream connected", self.name)
            watchdog = asyncio.create_task(self._watch(ws))
            try:
                async for raw in ws:
                    self._last_activity = asyncio.get_running_loop().time()
                    self._dispatch(ws, raw)
            finally:
                watchdog.cancel()
                self._ws = None

    async def _watch(self, ws: ClientConnection) -> None:
        """Ping; a connection silent (no frame, no pong) past the timeout is a zombie."""
        interval = self._settings.ping_interval
        while True:
            await asyncio.sleep(min(interval, self._settings.liveness_timeout / 2))
            silent = asyncio.get_running_loop().time() - self._last_activity
            if silent > self._settings.liveness_timeout:
                self.zombies += 1
                log.warning(
                    "dingtalk %s: nothing received for %.0f s: reconnecting", self.name, silent
                )
                ws.transport.abort()  # a zombie never answers a closing handshake
                return
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                pong = await ws.ping()
                task = asyncio.create_task(self._pong(pong))
                self._frames.add(task)
                task.add_done_callback(self._frames.discard)

    async def _pong(self, pong: Awaitable[float]) -> None:
        with contextlib.suppress(websockets.exceptions.ConnectionClosed, asyncio.CancelledError):
            await pong
            self._last_activity = asyncio.get_running_loop().time()

    # ---- frames --------------------------------------------------------------------------

    def _dispatch(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("dingtalk %s: a frame that is not JSON was ignored", self.name)
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == SystemMessage.TYPE:
            message = SystemMessage.from_dict(frame)
            if message.headers.topic == SystemMessage.TOPIC_DISCONNECT:
                log.info("dingtalk %s: the server asked to reconnect", self.name)
                task = asyncio.create_task(ws.close())
            else:  # "ping": answered with its own data
                task = asyncio.create_task(self._ack(ws, self._system.raw_process(message)))
        elif kind == CallbackMessage.TYPE:
            if self._stopping:
                return  # not acknowledged: delivered again to the next connection
            task = asyncio.create_task(self._callback(ws, CallbackMessage.from_dict(frame)))
        else:
            log.info("dingtalk %s: frame of type %r ignored", self.name, kind)
            return
        self._frames.add(task)
        task.add_done_callback(self._frames.discard)

    async def _callback(self, ws: ClientConnection, message: CallbackMessage) -> None:
        try:
            async with self._arrivals:  # a FIFO lock: taken in the order the frames came
                ack = await self._callbacks.raw_process(message)
        except InboxUnavailable:  # not acknowledged: DingTalk delivers it again
            log.warning("dingtalk %s: callback frame not stored; left unacknowledged", self.name)
            return
        except Exception:  # not acknowledged either: a later delivery may get through
            log.exception("dingtalk %s: handling a callback frame failed", self.name)
            return
        await self._ack(ws, ack)

    async def _ack(self, ws: ClientConnection, ack: Awaitable[AckMessage] | AckMessage) -> None:
        if not isinstance(ack, AckMessage):
            ack = await ack
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await ws.send(json.dumps(ack.to_dict()))
