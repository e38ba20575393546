"""One tenant's long connection to WeCom: subscribe, heartbeat, watchdog, reconnect, requests.

Why our own client and not an SDK from PyPI: the official ``wecom-aibot-python-sdk`` (MIT,
WecomTeam) logs whole message bodies at DEBUG (patient data), gives up after 10 reconnects,
keeps an open connection whose subscribe was refused (no way to report wrong credentials at
start), reconnects after WeCom's ``disconnected_event`` (a reconnect fight with the process that
replaced it) and has no liveness watchdog beyond two missed pongs; the community forks share
most of this or are one-person projects. The protocol is a handful of JSON frames, so this is a
thin aiohttp client the adapter fully controls (see README, "WeCom").

Frames: ``{"cmd", "headers": {"req_id"}, "body"}`` from us; callbacks with ``cmd`` from WeCom;
answers to our requests without ``cmd`` but with our ``req_id``, ``errcode`` and ``errmsg``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from .convert import EVENT_CALLBACK, MSG_CALLBACK, PING, SUBSCRIBE
from .settings import TenantCredentials, WeComSettings

Frame = dict[str, Any]

#: errcodes that mean "too fast": wait and retry.
RATE_LIMIT_ERRCODES = frozenset({45009, 45033, 45047})
#: errcodes that mean "try again later".
TRANSIENT_ERRCODES = frozenset({-1, 6000})


class WeComError(RuntimeError):
    """WeCom answered a request with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def rate_limited(self) -> bool:
        return self.errcode in RATE_LIMIT_ERRCODES

    @property
    def transient(self) -> bool:
        return self.errcode in TRANSIENT_ERRCODES


class NotConnected(RuntimeError):
    """The tenant has no live connection at the moment (reconnecting, replaced or stopped)."""


class CredentialsRejected(RuntimeError):
    """The subscribe was refused: the tenant's BotID/Secret are wrong (or the bot is off)."""


def new_req_id(cmd: str) -> str:
    return f"{cmd}_{uuid.uuid4().hex}"


class TenantConnection:
    """Exactly one live connection for one bot. ``on_callback(tenant, frame)`` gets every
    message and event callback; it must not block (the adapter queues the work)."""

    def __init__(
        self,
        credentials: TenantCredentials,
        settings: WeComSettings,
        session: aiohttp.ClientSession,
        on_callback: Callable[[str, Frame], None],
        logger: logging.Logger,
    ) -> None:
        self.tenant = credentials.tenant
        self._creds = credentials
        self._settings = settings
        self._session = session
        self._on_callback = on_callback
        self._log = logger
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future[Frame]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        #: WeCom sent ``disconnected_event``: another process holds the bot now.
        self.replaced = False
        self._last_frame = 0.0
        #: How often the connection was (re)opened; tests and logs read it.
        self.connects = 0
        self._connected = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open and subscribe once, then keep it alive. ``CredentialsRejected`` is raised to
        the caller (reported by name; retrying cannot fix it). Any other failure — WeCom
        unreachable at this moment — is raised too, after the connection was handed to the
        background, which keeps trying with backoff."""
        try:
            ws = await self._open()
        except CredentialsRejected:
            raise
        except BaseException:
            self._runner = asyncio.create_task(self._keep_alive(None), name=f"wecom {self.tenant}")
            raise
        self._runner = asyncio.create_task(self._keep_alive(ws), name=f"wecom {self.tenant}")

    async def stop(self) -> None:
        self._stopping = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        await self._close_ws()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        s = self._settings
        ws = await asyncio.wait_for(
            self._session.ws_connect(
                s.ws_url, autoping=True, heartbeat=None, max_msg_size=4 * 1024 * 1024
            ),
            s.connect_timeout,
        )
        req_id = new_req_id(SUBSCRIBE)
        frame = {
            "cmd": SUBSCRIBE,
            "headers": {"req_id": req_id},
            "body": {"bot_id": self._creds.bot_id, "secret": self._creds.secret},
        }
        try:
            await ws.send_str(json.dumps(frame))
            answer = await asyncio.wait_for(self._subscribe_answer(ws, req_id), s.connect_timeout)
        except BaseException:
            await ws.close()
            raise
        errcode = int(answer.get("errcode") or 0)
        if errcode != 0:
            await ws.close()
            raise CredentialsRejected(
                f"WeCom tenant {self.tenant}: subscribe refused (errcode {errcode}: "
                f"{answer.get('errmsg', '')}); check its BotID/Secret environment variables"
            )
        self._ws = ws
        self._last_frame = asyncio.get_running_loop().time()
        self.connects += 1
        self._connected.set()
        return ws

    async def _subscribe_answer(self, ws: aiohttp.ClientWebSocketResponse, req_id: str) -> Frame:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            frame = _parse(msg.data)
            if frame is not None and _req_id(frame) == req_id:
                return frame
        raise ConnectionError("connection closed before the subscribe was answered")

    async def _close_ws(self) -> None:
        ws, self._ws = self._ws, None
        self._connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NotConnected(f"WeCom tenant {self.tenant}: connection lost"))
        self._pending.clear()
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse | None) -> None:
        """Read and beat until the connection dies or goes quiet, then reopen it with backoff —
        unless we are stopping or WeCom said another connection replaced this one. Without a
        connection (``None``: the first open failed) it starts by reopening."""
        s = self._settings
        delay = s.reconnect_initial
        if ws is None:
            ws = await self._reopen(delay)
        while True:
            reader = asyncio.create_task(self._read(ws))
            beat = asyncio.create_task(self._beat(ws))
            try:
                done, _ = await asyncio.wait({reader, beat}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when stop() cancels us: no reader or heartbeat outlives the loop
                for task in (reader, beat):
                    task.cancel()
                await asyncio.gather(reader, beat, return_exceptions=True)
            finished = next(iter(done))
            try:
                why = finished.result()
            except Exception as exc:  # a read or send failed: the connection is gone
                why = f"connection failed ({type(exc).__name__})"
            await self._close_ws()
            if self._stopping:
                return
            if self.replaced:
                self._log.error(
                    "wecom tenant %s: WeCom moved the bot to a newer connection "
                    "(disconnected_event); not reconnecting — is a second hisbot running with "
                    "these credentials?",
                    self.tenant,
                )
                return
            self._log.warning("wecom tenant %s: %s; reconnecting", self.tenant, why)
            ws = await self._reopen(delay)

    async def _reopen(self, delay: float) -> aiohttp.ClientWebSocketResponse:
        """Open again after ``delay`` (±20 %), doubling the wait up to ``reconnect_max``."""
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                ws = await self._open()
            except (
                CredentialsRejected,
                OSError,
                TimeoutError,
                aiohttp.ClientError,
                ConnectionError,
            ) as exc:
                delay = min(delay * 2, self._settings.reconnect_max)
                self._log.warning(
                    "wecom tenant %s: connecting failed (%s); next try in %.1f s",
                    self.tenant,
                    type(exc).__name__,
                    delay,
                )
                continue
            self._log.info("wecom tenant %s: connected", self.tenant)
            return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        loop = asyncio.get_running_loop()
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            self._last_frame = loop.time()
            frame = _parse(msg.data)
            if frame is None:
                self._log.warning("wecom tenant %s: unreadable frame ignored", self.tenant)
                continue
            self._dispatch(frame)
            if self.replaced:
                return "replaced by a newer connection"
        return f"connection closed ({ws.close_code})"

    def _dispatch(self, frame: Frame) -> None:
        cmd = frame.get("cmd")
        if cmd in (MSG_CALLBACK, EVENT_CALLBACK):
            body = frame.get("body")
            event = body.get("event") if isinstance(body, Mapping) else None
            if isinstance(event, Mapping) and event.get("eventtype") == "disconnected_event":
                self.replaced = True
                return
            try:
                self._on_callback(self.tenant, frame)
            except Exception as exc:  # one bad frame must not end the connection's reader
                self._log.error(
                    "wecom tenant %s: callback not handled: %s", self.tenant, type(exc).__name__
                )
            return
        future = self._pending.pop(_req_id(frame), None)
        if future is not None and not future.done():
            future.set_result(frame)

    async def _beat(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Ping every ``heartbeat_seconds``; return once nothing at all (not even a pong) came
        for ``liveness_timeout``: the connection is a zombie.

        Quiet time is counted tick by tick, each tick at most 1.5 ticks long: when our own
        event loop stalls (a busy machine), frames wait unread in the socket, and that is not
        the connection's fault — a stall counts as one tick, not as seconds of silence."""
        s = self._settings
        loop = asyncio.get_running_loop()
        tick = min(s.heartbeat_seconds, s.liveness_timeout / 4)
        next_ping = loop.time() + s.heartbeat_seconds
        seen, quiet, before = self._last_frame, 0.0, loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            if self._last_frame != seen:
                seen, quiet = self._last_frame, 0.0
            else:
                quiet += min(now - before, tick * 1.5)
            before = now
            if quiet > s.liveness_timeout:
                return f"no frame for {quiet:.1f} s (liveness watchdog)"
            if now >= next_ping:
                next_ping = now + s.heartbeat_seconds
                with contextlib.suppress(Exception):
                    await ws.send_str(
                        json.dumps({"cmd": PING, "headers": {"req_id": new_req_id(PING)}})
                    )

    # ------------------------------------------------------------------ requests

    async def request(self, cmd: str, body: Mapping[str, Any], req_id: str | None = None) -> Frame:
        """Send one request frame and wait for its answer; ``WeComError`` for a non-zero
        errcode, ``NotConnected`` when there is no live connection or it dies meanwhile."""
        ws = self._ws
        if ws is None or ws.closed:
            raise NotConnected(f"WeCom tenant {self.tenant} is not connected")
        req_id = req_id or new_req_id(cmd)
        loop = asyncio.get_running_loop()
        while req_id in self._pending:  # one request per req_id on the wire at a time
            with contextlib.suppress(Exception):
                await asyncio.shield(self._pending[req_id])
        future: asyncio.Future[Frame] = loop.create_future()
        self._pending[req_id] = future
        try:
            await ws.send_str(json.dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}))
            answer = await asyncio.wait_for(future, self._settings.request_timeout)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise NotConnected(f"WeCom tenant {self.tenant}: {type(exc).__name__}") from exc
        finally:
            if self._pending.get(req_id) is future:
                del self._pending[req_id]
        errcode = int(answer.get("errcode") or 0)
        if errcode != 0:
            raise WeComError(errcode, str(answer.get("errmsg") or ""))
        return answer


def _parse(data: object) -> Frame | None:
    try:
        frame = json.loads(data) if isinstance(data, str | bytes) else None
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def _req_id(frame: Mapping[str, Any]) -> str:
    headers = frame.get("headers")
    return str(headers.get("req_id") or "") if isinstance(headers, Mapping) else ""
