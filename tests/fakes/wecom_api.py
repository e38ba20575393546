"""A fake WeCom 智能机器人 long-connection server on 127.0.0.1, speaking the real JSON frames.

Usage::

    async with FakeWeCom() as wc:
        wc.add_bot("BOT1", "secret1")
        settings = WeComSettings(ws_url=wc.ws_url, ...)
        ...
        frame = await wc.user_message("BOT1", "nurse", "yb结算报2304", chatid="grp1")
        reply = await wc.wait_for_sent(lambda m: m.chatid == "grp1")

What it plays (the frames of WeCom's 智能机器人长连接 API):

* ``aibot_subscribe`` ``{bot_id, secret}`` → ``{"headers": {"req_id"}, "errcode": 0}``, or
  errcode 40001 (wrong secret / unknown bot). One live connection per bot: a new subscribe
  sends the old one an ``aibot_event_callback`` with ``event.eventtype = disconnected_event``
  and closes it.
* ``ping`` → ``{"errcode": 0}``; every request is answered with its own ``req_id``.
* Callbacks to the bot: ``aibot_msg_callback`` (text, with an optional ``quote``) and
  ``aibot_event_callback`` (``template_card_event``), each with a fresh ``req_id``.
* ``aibot_respond_msg`` (stream / stream_with_template_card) bound to a message callback's
  req_id: refused with ``errcode 846607`` once the req_id has expired (``expire``) or was used.
* ``aibot_respond_update_msg`` bound to a template_card_event's req_id within
  ``card_window`` seconds (else 846607).
* ``aibot_send_msg`` ``{chatid, msgtype: markdown|template_card}``; limits enforced when set
  (``chat_per_minute`` / ``bot_per_minute`` over sliding 60 s windows, ×``time_scale``):
  beyond them errcode 45009.
* ``down = True``: new connections are refused (WeCom unreachable).
* ``silence(bot_id)``: the connection stays open but nothing is answered or delivered any more
  (a zombie); ``fail_next(cmd, errcode)`` injects errors.

Not modelled: media, stream updates (every stream arrives finished), welcome messages, the
feedback event; chat ids are opaque strings the tests choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes._common import FakeServer

EXPIRED = 846607
RATE_LIMITED = 45009
BAD_CREDENTIALS = 40001


@dataclass
class Call:
    bot: str
    cmd: str
    req_id: str
    body: dict[str, Any]
    status: int | None = None  # the errcode answered (None: not answered)


@dataclass
class Sent:
    """A message the bot got into a chat (by respond or proactive send)."""

    bot: str
    chatid: str
    via: str  # "respond" or "send"
    content: str  # markdown / stream content ("" for a bare card)
    card: dict[str, Any] | None
    at: float
    updates: list[dict[str, Any]] = field(default_factory=list)
    #: The callback req_id a respond was bound to ("" for a proactive send).
    req_id: str = ""

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return list((self.card or {}).get("button_list") or [])

    @property
    def task_id(self) -> str:
        return str((self.card or {}).get("task_id") or "")


@dataclass
class _Bot:
    bot_id: str
    secret: str
    ws: web.WebSocketResponse | None = None
    silent: bool = False
    connections: int = 0
    kicked: int = 0


@dataclass
class _Callback:
    bot: str
    chatid: str
    at: float
    kind: str  # "msg" or "event"
    used: bool = False
    task_id: str = ""


class FakeWeCom(FakeServer[Call]):
    fake_name = "FakeWeCom"

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        chat_per_minute: int | None = None,
        bot_per_minute: int | None = None,
        time_scale: float = 1.0,
        card_window: float = 5.0,
    ) -> None:
        super().__init__(host)
        self.bots: dict[str, _Bot] = {}
        self.requests: list[Call] = []
        self.sent: list[Sent] = []
        self._callbacks: dict[str, _Callback] = {}
        self._faults: dict[str, deque[int]] = {}
        self._chat_sends: dict[tuple[str, str], deque[float]] = {}
        self._bot_sends: dict[str, deque[float]] = {}
        self.chat_per_minute = chat_per_minute
        self.bot_per_minute = bot_per_minute
        self.time_scale = time_scale
        self.card_window = card_window
        self._ids = itertools.count(1)
        self.rate_limited = 0
        #: While set, every new connection is refused (HTTP 503 instead of the upgrade).
        self.down = False

    async def __aenter__(self) -> FakeWeCom:
        app = web.Application()
        app.router.add_get("/", self._socket)
        await self._start_server(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for bot in self.bots.values():
            if bot.ws is not None:
                with contextlib.suppress(Exception):
                    await bot.ws.close()
        await self._stop_server()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    def add_bot(self, bot_id: str, secret: str) -> None:
        self.bots[bot_id] = _Bot(bot_id, secret)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ the socket

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.down:  # WeCom unreachable: the websocket upgrade is refused
            return web.Response(status=503)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        bot: _Bot | None = None
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            cmd = frame.get("cmd", "")
            req_id = str((frame.get("headers") or {}).get("req_id") or "")
            body = frame.get("body") or {}
            if bot is not None and bot.silent and bot.ws is ws:
                continue  # a zombie: swallows everything, answers nothing
            if cmd == "aibot_subscribe":
                bot = await self._subscribe(ws, req_id, body)
                continue
            if bot is None or bot.ws is not ws:
                await self._answer(ws, req_id, BAD_CREDENTIALS, "not subscribed")
                continue
            call = Call(bot.bot_id, cmd, req_id, body)
            self.requests.append(call)
            call.status = self._handle(bot, cmd, req_id, body)
            await self._answer(ws, req_id, call.status, "ok" if call.status == 0 else "refused")
            self._bump()
        if bot is not None and bot.ws is ws:
            bot.ws = None
            self._bump()
        return ws

    async def _answer(self, ws: web.WebSocketResponse, req_id: str, errcode: int, msg: str) -> None:
        with contextlib.suppress(Exception):
            await ws.send_str(
                json.dumps({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": msg})
            )

    async def _subscribe(
        self, ws: web.WebSocketResponse, req_id: str, body: dict[str, Any]
    ) -> _Bot | None:
        bot = self.bots.get(str(body.get("bot_id")))
        if bot is None or body.get("secret") != bot.secret:
            await self._answer(ws, req_id, BAD_CREDENTIALS, "invalid bot_id or secret")
            await ws.close()
            return None
        old, bot.ws = bot.ws, ws
        bot.connections += 1
        bot.silent = False
        await self._answer(ws, req_id, 0, "ok")
        if old is not None and not old.closed:
            bot.kicked += 1
            event = {
                "cmd": "aibot_event_callback",
                "headers": {"req_id": self._req_id()},
                "body": {
                    "msgid": self._msgid(),
                    "aibotid": bot.bot_id,
                    "msgtype": "event",
                    "event": {"eventtype": "disconnected_event"},
                },
            }
            with contextlib.suppress(Exception):
                await old.send_str(json.dumps(event))
                await old.close()
        self._bump()
        return bot

    def _handle(self, bot: _Bot, cmd: str, req_id: str, body: dict[str, Any]) -> int:
        queued = self._faults.get(cmd)
        if queued:
            return queued.popleft()
        if cmd == "ping":
            return 0
        now = self._now()
        if cmd == "aibot_respond_msg":
            cb = self._callbacks.get(req_id)
            if cb is None or cb.kind != "msg" or cb.used:
                return EXPIRED
            cb.used = True
            stream = body.get("stream") or {}
            self.sent.append(
                Sent(
                    bot.bot_id,
                    cb.chatid,
                    "respond",
                    str(stream.get("content") or ""),
                    body.get("template_card"),
                    now,
                    req_id=req_id,
                )
            )
            return 0
        if cmd == "aibot_respond_update_msg":
            cb = self._callbacks.get(req_id)
            if cb is None or cb.kind != "event" or now - cb.at > self.card_window:
                return EXPIRED
            card = body.get("template_card") or {}
            target = next(
                (
                    m
                    for m in reversed(self.sent)
                    if m.chatid == cb.chatid and m.task_id == card.get("task_id")
                ),
                None,
            )
            if target is None:
                return 40058  # no such card
            target.updates.append({**card, "userids": body.get("userids")})
            return 0
        if cmd == "aibot_send_msg":
            chatid = str(body.get("chatid") or "")
            if not self._within_limits(bot.bot_id, chatid, now):
                self.rate_limited += 1
                return RATE_LIMITED
            kind = body.get("msgtype")
            content = str((body.get("markdown") or {}).get("content") or "")
            card = body.get("template_card") if kind == "template_card" else None
            self.sent.append(Sent(bot.bot_id, chatid, "send", content, card, now))
            return 0
        return 40008  # unknown command

    def _within_limits(self, bot: str, chatid: str, now: float) -> bool:
        window = 60.0 * self.time_scale
        checks = [
            (self._chat_sends.setdefault((bot, chatid), deque()), self.chat_per_minute),
            (self._bot_sends.setdefault(bot, deque()), self.bot_per_minute),
        ]
        for sends, limit in checks:
            while sends and now - sends[0] >= window:
                sends.popleft()
            if limit is not None and len(sends) >= limit:
                return False
        for sends, _ in checks:
            sends.append(now)
        return True

    # ------------------------------------------------------------------ driving the bot

    def _req_id(self) -> str:
        return f"wcreq_{uuid.uuid4().hex}"

    def _msgid(self) -> str:
        return f"msg{next(self._ids):08d}"

    async def deliver(self, bot_id: str, frame: dict[str, Any]) -> None:
        """Send a callback frame (again, for a re-delivery) on the bot's live connection."""
        bot = self.bots[bot_id]
        await self.wait_until(lambda: bot.ws is not None, what=f"{bot_id} connected")
        assert bot.ws is not None
        await bot.ws.send_str(json.dumps(frame))

    async def user_message(
        self,
        bot_id: str,
        userid: str,
        text: str,
        *,
        chatid: str | None = None,
        quote: str | None = None,
        mention: str = "@医院助手",
    ) -> dict[str, Any]:
        """A user @-mentions the bot in group ``chatid`` (or writes in a single chat)."""
        body: dict[str, Any] = {
            "msgid": self._msgid(),
            "aibotid": bot_id,
            "chattype": "group" if chatid else "single",
            "from": {"userid": userid},
            "msgtype": "text",
            "text": {"content": f"{mention} {text}" if chatid else text},
        }
        if chatid:
            body["chatid"] = chatid
        if quote is not None:
            body["quote"] = {"msgtype": "text", "text": {"content": quote}}
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": self._req_id()}, "body": body}
        self._callbacks[frame["headers"]["req_id"]] = _Callback(
            bot_id, chatid or userid, self._now(), "msg"
        )
        await self.deliver(bot_id, frame)
        return frame

    async def press(
        self, bot_id: str, userid: str, message: Sent, key: str, *, chatid: str | None = None
    ) -> dict[str, Any]:
        """A user presses the card button ``key`` of ``message``."""
        chat = chatid or message.chatid
        body = {
            "msgid": self._msgid(),
            "aibotid": bot_id,
            "chattype": "group" if chat != userid else "single",
            "chatid": chat,
            "from": {"userid": userid},
            "msgtype": "event",
            "event": {
                "eventtype": "template_card_event",
                "template_card_event": {
                    "card_type": "button_interaction",
                    "event_key": key,
                    "task_id": message.task_id,
                },
            },
        }
        frame = {"cmd": "aibot_event_callback", "headers": {"req_id": self._req_id()}, "body": body}
        self._callbacks[frame["headers"]["req_id"]] = _Callback(
            bot_id, chat, self._now(), "event", task_id=message.task_id
        )
        await self.deliver(bot_id, frame)
        return frame

    def expire(self, frame: dict[str, Any]) -> None:
        """The req_id of ``frame`` expires: respond with it is refused from now on."""
        self._callbacks.pop(frame["headers"]["req_id"], None)

    def silence(self, bot_id: str) -> None:
        """The bot's connection stops delivering and answering without closing."""
        self.bots[bot_id].silent = True

    def fail_next(self, cmd: str, errcode: int, times: int = 1) -> None:
        self._faults.setdefault(cmd, deque()).extend([errcode] * times)

    # ------------------------------------------------------------------ inspecting

    def notify(self) -> None:
        """Wake ``wait_until`` waiters: for conditions on state outside the fake (the bot's)."""
        self._bump()

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.requests if c.cmd == method]

    def sent_to(self, chatid: str) -> list[Sent]:
        return [m for m in self.sent if m.chatid == chatid]

    async def wait_for_sent(
        self,
        condition: int | Callable[[Sent], bool],
        *,
        chatid: str | None = None,
        timeout: float = 10.0,
    ) -> Any:
        def items() -> list[Sent]:
            return [m for m in self.sent if chatid is None or m.chatid == chatid]

        return await self._wait_for_items(items, condition, timeout=timeout, noun="sent message")

    def describe(self, last_calls: int = 15) -> str:
        lines = ["sent:"] + [
            f"  {m.bot} {m.chatid} {m.via} {m.content[:60]!r} card={bool(m.card)} "
            f"updates={len(m.updates)}"
            for m in self.sent[-20:]
        ]
        lines.append(f"last {last_calls} calls:")
        lines += [f"  {c.bot} {c.cmd} -> {c.status}" for c in self.requests[-last_calls:]]
        lines += [
            f"bot {b.bot_id}: live={b.ws is not None} connections={b.connections} "
            f"kicked={b.kicked} silent={b.silent}"
            for b in self.bots.values()
        ]
        return "\n".join(lines)
