"""A fake DingTalk that the real ``dingtalk-stream`` frame model and our OpenAPI calls talk to.

Usage::

    async with FakeDingTalk() as dt:
        dt.add_tenant("h001", client_id="dingh001", secret="s1")
        settings = DingTalkSettings(api_base=dt.base_url, tenants=...)
        msg = dt.user_message("h001", "cidH1", "user1", "医保结算报错", nick="护士小张")
        reply = await dt.wait_for_sent(lambda m: m.chat_id == "h001/cidH1")

The wire protocol, as the SDK (``dingtalk_stream/stream.py``, ``frames.py``, ``chatbot.py``)
and the OpenAPI docs define it:

* ``POST /v1.0/gateway/connections/open`` with ``{clientId, clientSecret, subscriptions, ua,
  localIp}`` → ``{"endpoint": "ws://…/connect", "ticket": "…"}``; wrong credentials: HTTP 401
  ``{"code": "InvalidAuthentication", "message": …}``.
* The websocket ``GET /connect?ticket=…`` carries frames ``{"specVersion": "1.0", "type":
  "SYSTEM"|"CALLBACK", "headers": {"appId", "connectionId", "contentType", "messageId",
  "time", "topic"}, "data": "<JSON string>"}``; the client answers each with an ACK ``{"code":
  200, "headers": {"messageId", "contentType"}, "message", "data": "<JSON string>"}``. SYSTEM
  topics: ``ping`` (data ``{"opaque": …}``, echoed in the ack) and ``disconnect``. CALLBACK
  topics: ``/v1.0/im/bot/messages/get`` (the robot message JSON) and
  ``/v1.0/card/instances/callback`` (a card button press). A callback frame not acknowledged
  when its connection ends is delivered again (same data, new frame id) on the next one.
* ``POST /v1.0/oauth2/accessToken`` ``{appKey, appSecret}`` → ``{accessToken, expireIn}``;
  OpenAPI calls carry ``x-acs-dingtalk-access-token`` (else 401).
* ``POST /v1.0/robot/groupMessages/send``, ``POST /v1.0/robot/oToMessages/batchSend`` →
  ``{"processQueryKey": …}``; ``POST /robot/sendBySession?session=…`` (a message's
  sessionWebhook) → ``{"errcode": 0, "errmsg": "ok"}``, or a non-zero errcode once expired.
* ``POST /v1.0/card/instances/createAndDeliver`` and ``PUT /v1.0/card/instances`` (update).

Switches: ``throttle_next(n)`` (the next n sends answer 429 with ``Retry-After``),
``remove_bot(tenant, group)`` (the robot is no longer in that group: sends to it answer 400
``invalidParameter.robotCode.empty``, DingTalk's "check that the robot is in the group"),
``expire_webhooks`` (every sessionWebhook answers "expired"), ``webhook_ttl_ms`` (the expiry
stamped on new messages; negative: already expired), ``go_silent(tenant)`` (the live
connection stops delivering frames and answering pings, but stays open: a zombie),
``enforce_limits`` (20 messages/min per group, ``app_qps`` per tenant, timed by ``clock``:
excess calls answer 429 and are counted in ``violations``).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes._common import FakeServer

MESSAGE_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    tenant: str | None
    status: int | None = None


@dataclass
class Sent:
    """A message the bot got delivered (through any API)."""

    tenant: str
    chat_id: str  # "<tenant>/<cid or staffId>"
    text: str
    via: str  # "webhook" | "group" | "dm" | "card"
    at_user_ids: list[str] = field(default_factory=list)
    card_id: str = ""
    buttons: list[dict[str, Any]] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    #: ``time.monotonic()`` when the fake accepted it (benchmarks measure with it)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Tenant:
    name: str
    client_id: str
    secret: str
    corp_id: str
    bot_user_id: str
    tokens: set[str] = field(default_factory=set)
    connections: list[_Connection] = field(default_factory=list)
    backlog: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)

    @property
    def live(self) -> list[_Connection]:
        return [c for c in self.connections if not c.ws.closed]


@dataclass
class _Connection:
    id: str
    ws: web.WebSocketResponse
    silent: bool = False
    #: frame id → frame, callback frames sent and not acknowledged yet
    unacked: dict[str, dict[str, Any]] = field(default_factory=dict)


class VirtualClock:
    """A clock for the adapter (and the fake's limits) whose time passes only when someone
    sleeps: Retry-After and the send windows run without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1.7e9 + self.now

    async def sleep(self, seconds: float) -> None:
        """Wakes at (at least) now + seconds; sleepers at the same time overlap, as in life."""
        target = self.now + max(0.0, seconds)
        await asyncio.sleep(0)
        self.slept = max(self.slept, target - 1000.0)
        self.now = max(self.now, target)


class FakeDingTalk(FakeServer[Call]):
    fake_name = "FakeDingTalk"

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        clock: Callable[[], float] = time.monotonic,
        app_qps: float = 20.0,
        group_per_minute: int = 20,
    ) -> None:
        super().__init__(host)
        self.tenants: dict[str, Tenant] = {}
        self.requests: list[Call] = []
        self.sent: list[Sent] = []
        self.acks: dict[str, dict[str, Any]] = {}  # frame id → the client's ack
        self.frames_sent = 0
        self.webhook_ttl_ms = 90 * 60 * 1000
        self.expire_webhooks = False
        self.enforce_limits = False
        self.violations = 0
        self.clock = clock
        self.app_qps = app_qps
        self.group_per_minute = group_per_minute
        self._throttle = 0
        self.removed: set[str] = set()  # "<tenant>/<cid>" the robot was removed from
        self._ids = itertools.count(1)
        self._sessions: dict[str, tuple[str, str, int]] = {}  # session → tenant, chat, expiry
        self._tickets: dict[str, str] = {}  # ticket → tenant
        self._cards: dict[str, Sent] = {}
        self._tenant_calls: dict[str, collections.deque[float]] = {}
        self._group_calls: dict[str, collections.deque[float]] = {}

    async def __aenter__(self) -> FakeDingTalk:
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._connect)
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/robot/sendBySession", self._webhook)
        app.router.add_route("*", "/v1.0/{path:.+}", self._openapi)
        await self._start_server(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for tenant in self.tenants.values():
            for conn in tenant.live:
                await conn.ws.close()
        await self._stop_server()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- set-up and switches -------------------------------------------------------------

    def add_tenant(self, name: str, client_id: str = "", secret: str = "") -> Tenant:
        tenant = Tenant(
            name,
            client_id or f"ding{name}",
            secret or f"secret-{name}",
            corp_id=f"dingcorp{name}",
            bot_user_id=f"$:LWCP_v1:$bot{name}",
        )
        self.tenants[name] = tenant
        return tenant

    def throttle_next(self, calls: int) -> None:
        """The next ``calls`` message sends answer HTTP 429 (``Retry-After: 1``)."""
        self._throttle = calls

    def remove_bot(self, tenant: str, group: str) -> None:
        """The robot is removed from ``group``: sends to it are refused from now on."""
        self.removed.add(f"{tenant}/{group}")

    def go_silent(self, tenant: str) -> None:
        """The tenant's live connection stops delivering and answering pings (not closed)."""
        for conn in self.tenants[tenant].live:
            conn.silent = True

    def live_connections(self, tenant: str) -> int:
        return len(self.tenants[tenant].live)

    # ---- what users do -------------------------------------------------------------------

    def user_message(
        self,
        tenant: str,
        group: str | None,
        user: str,
        text: str,
        *,
        nick: str = "",
        mention_bot: bool = True,
        quote: Sent | None = None,
        msg_id: str | None = None,
    ) -> dict[str, Any]:
        """A user's message to the robot: in ``group`` (an @-mention; only those reach a
        robot) or, with ``group=None``, in a one-to-one chat. Returns the message JSON."""
        t = self.tenants[tenant]
        n = next(self._ids)
        session = f"s{n}"
        chat = f"{tenant}/{group or user}"
        expiry = int(time.time() * 1000) + self.webhook_ttl_ms
        self._sessions[session] = (tenant, chat, expiry)
        content: dict[str, Any] = {"content": f" {text}" if group else text}
        if quote is not None:
            content["isReplyMsg"] = True
            content["repliedMsg"] = {
                "msgId": f"msgbot{n}",
                "senderId": t.bot_user_id,
                "msgType": "text",
                "content": {"text": quote.edits[-1] if quote.edits else quote.text},
                "createdAt": int(time.time() * 1000),
            }
        data: dict[str, Any] = {
            "conversationId": group or f"cidsingle{user}",
            "atUsers": [{"dingtalkId": t.bot_user_id}] if group and mention_bot else [],
            "chatbotCorpId": t.corp_id,
            "chatbotUserId": t.bot_user_id,
            "msgId": msg_id or f"msg{n:06d}",
            "senderNick": nick or user,
            "isAdmin": False,
            "senderStaffId": user,
            "sessionWebhookExpiredTime": expiry,
            "createAt": int(time.time() * 1000),
            "senderCorpId": t.corp_id,
            "conversationType": "2" if group else "1",
            "senderId": f"$:LWCP_v1:${user}",
            "sessionWebhook": f"{self.base_url}/robot/sendBySession?session={session}",
            "text": content,
            "robotCode": t.client_id,
            "msgtype": "text",
        }
        if group:
            data["conversationTitle"] = group
            data["isInAtList"] = mention_bot
        self.deliver(tenant, MESSAGE_TOPIC, data)
        return data

    def press(self, card: Sent, user: str, label: str) -> str:
        """``user`` presses the button labelled ``label`` on a card; returns the frame id."""
        button = next(b for b in card.buttons if b["text"] == label)
        tenant, _, target = card.chat_id.partition("/")
        data = {
            "extension": "{}",
            "corpId": self.tenants[tenant].corp_id,
            "type": "actionCallback",
            "userId": user,
            "content": json.dumps(
                {"cardPrivateData": {"actionIds": [button["id"]], "params": button["params"]}}
            ),
            "outTrackId": card.card_id,
            "spaceType": "IM_GROUP" if target.startswith("cid") else "IM_ROBOT",
            "spaceId": target,
            "userIdType": 1,
        }
        return self.deliver(tenant, CARD_TOPIC, data)

    def deliver(self, tenant: str, topic: str, data: dict[str, Any]) -> str:
        """Push a CALLBACK frame (a copy with the same data re-delivers it); returns its id."""
        frame_id = f"frame{next(self._ids)}"
        frame = {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {
                "appId": self.tenants[tenant].client_id,
                "contentType": "application/json",
                "messageId": frame_id,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
            },
            "data": json.dumps(data, ensure_ascii=False),
        }
        self.tenants[tenant].backlog.append(frame)
        self._pump(tenant)
        return frame_id

    def system(self, tenant: str, topic: str) -> str:
        """Push a SYSTEM frame (``ping`` or ``disconnect``)."""
        frame_id = f"sys{next(self._ids)}"
        frame = {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {"contentType": "application/json", "messageId": frame_id, "topic": topic},
            "data": json.dumps({"opaque": f"opaque-{frame_id}"}),
        }
        self.tenants[tenant].backlog.append(frame)
        self._pump(tenant)
        return frame_id

    def _pump(self, tenant: str) -> None:
        t = self.tenants[tenant]
        live = [c for c in t.live if not c.silent]
        if not live:
            return  # kept until a connection that delivers comes
        conn = live[-1]
        while t.backlog:
            frame = t.backlog.popleft()
            if frame["type"] == "CALLBACK":
                conn.unacked[frame["headers"]["messageId"]] = frame
            self.frames_sent += 1
            task = asyncio.ensure_future(conn.ws.send_str(json.dumps(frame, ensure_ascii=False)))
            task.add_done_callback(lambda f: f.exception())

    # ---- what the bot sees ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.requests if c.path.endswith(method)]

    def sent_to(self, chat_id: str) -> list[Sent]:
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_for_sent(
        self, predicate: Callable[[Sent], bool], *, timeout: float = 10.0
    ) -> Sent:
        return await self._wait_for_items(  # type: ignore[no-any-return]
            lambda: self.sent, predicate, timeout=timeout, noun="sent message"
        )

    def describe(self, last_calls: int = 15) -> str:
        lines = [f"{c.status} {c.path} tenant={c.tenant}" for c in self.requests[-last_calls:]]
        lines += [f"sent {m.via} {m.chat_id}: {m.text[:60]!r}" for m in self.sent[-last_calls:]]
        return "\n".join(lines)

    # ---- gateway and stream --------------------------------------------------------------

    async def _open(self, request: web.Request) -> web.Response:
        call, tenant = await self._signed_in(request, "clientId", "clientSecret")
        if tenant is None:
            return self._answer(call, 401, {"code": "InvalidAuthentication", "message": "bad"})
        ticket = f"ticket-{next(self._ids)}"
        self._tickets[ticket] = tenant.name
        return self._answer(
            call, 200, {"endpoint": f"ws://{self.host}:{self.port}/connect", "ticket": ticket}
        )

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        name = self._tickets.pop(request.query.get("ticket", ""), None)
        if name is None:
            return web.json_response({"code": "InvalidTicket"}, status=401)
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        tenant = self.tenants[name]
        conn = _Connection(f"conn{next(self._ids)}", ws)
        tenant.connections.append(conn)
        self._bump()
        self._pump(name)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if not conn.silent:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    ack = json.loads(msg.data)
                    frame_id = ack.get("headers", {}).get("messageId", "")
                    conn.unacked.pop(frame_id, None)
                    self.acks[frame_id] = ack
                    self._bump()
        finally:
            # callbacks this connection never acknowledged are delivered again
            tenant.backlog.extendleft(reversed(list(conn.unacked.values())))
            conn.unacked.clear()
            self._bump()
            if tenant.backlog:
                self._pump(name)
        return ws

    async def _signed_in(
        self, request: web.Request, id_key: str, secret_key: str
    ) -> tuple[Call, Tenant | None]:
        """The call, recorded, and the tenant whose credentials its body carries (or None)."""
        body = await request.json()
        given = (body.get(id_key), body.get(secret_key))
        tenant = next((t for t in self.tenants.values() if (t.client_id, t.secret) == given), None)
        call = Call(request.path, body, tenant.name if tenant else None)
        self.requests.append(call)
        return call, tenant

    # ---- OpenAPI -------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        call, tenant = await self._signed_in(request, "appKey", "appSecret")
        if tenant is None:
            return self._answer(call, 400, {"code": "invalidClientIdOrSecret", "message": "bad"})
        token = f"tok-{tenant.name}-{next(self._ids)}"
        tenant.tokens.add(token)
        return self._answer(call, 200, {"accessToken": token, "expireIn": 7200})

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        session = self._sessions.get(request.query.get("session", ""))
        call = Call(request.path, body, session[0] if session else None)
        self.requests.append(call)
        if session is None or self.expire_webhooks or session[2] < time.time() * 1000:
            return self._answer(call, 200, {"errcode": 300005, "errmsg": "session 已过期"})
        tenant, chat, _ = session
        refused = self._limited(call, tenant, chat.partition("/")[2])
        if refused is not None:
            return refused
        at = list(body.get("at", {}).get("atUserIds", []))
        self._record(Sent(tenant, chat, body["text"]["content"], "webhook", at))
        return self._answer(call, 200, {"errcode": 0, "errmsg": "ok"})

    async def _openapi(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = request.headers.get("x-acs-dingtalk-access-token", "")
        tenant = next((t for t in self.tenants.values() if token in t.tokens), None)
        call = Call(request.path, body, tenant.name if tenant else None)
        self.requests.append(call)
        if tenant is None:
            return self._answer(call, 401, {"code": "InvalidAuthentication", "message": "token"})
        path = request.path
        if path == "/v1.0/robot/groupMessages/send":
            group = body["openConversationId"]
            refused = self._limited(call, tenant.name, group)
            if refused is not None:
                return refused
            text = json.loads(body["msgParam"])["content"]
            self._record(Sent(tenant.name, f"{tenant.name}/{group}", text, "group"))
            return self._answer(call, 200, {"processQueryKey": f"pq{next(self._ids)}"})
        if path == "/v1.0/robot/oToMessages/batchSend":
            refused = self._limited(call, tenant.name, None)
            if refused is not None:
                return refused
            text = json.loads(body["msgParam"])["content"]
            for user in body["userIds"]:
                self._record(Sent(tenant.name, f"{tenant.name}/{user}", text, "dm"))
            return self._answer(
                call,
                200,
                {
                    "processQueryKey": f"pq{next(self._ids)}",
                    "invalidStaffIdList": [],
                    "flowControlledStaffIdList": [],
                },
            )
        if path == "/v1.0/card/instances/createAndDeliver" and request.method == "POST":
            return self._card(call, tenant, body)
        if path == "/v1.0/card/instances" and request.method == "PUT":
            card = self._cards.get(body.get("outTrackId", ""))
            if card is None:
                return self._answer(call, 400, {"code": "cardNotFound", "message": "no card"})
            params = body["cardData"]["cardParamMap"]
            card.edits.append(params["markdown"])
            card.buttons = json.loads(params["sys_full_json_obj"])["msgButtons"]
            self._bump()
            return self._answer(call, 200, {"success": True, "result": True})
        return self._answer(call, 404, {"code": "NotFound", "message": path})

    def _card(self, call: Call, tenant: Tenant, body: dict[str, Any]) -> web.Response:
        space = body["openSpaceId"]  # dtv1.card//IM_GROUP.<cid> or IM_ROBOT.<staffId>
        kind, _, target = space.removeprefix("dtv1.card//").partition(".")
        refused = self._limited(call, tenant.name, target if kind == "IM_GROUP" else None)
        if refused is not None:
            return refused
        params = body["cardData"]["cardParamMap"]
        deliver = body.get("imGroupOpenDeliverModel") or {}
        card = Sent(
            tenant.name,
            f"{tenant.name}/{target}",
            params["markdown"],
            "card",
            list((deliver.get("atUserIds") or {}).keys()),
            card_id=body["outTrackId"],
            buttons=json.loads(params["sys_full_json_obj"])["msgButtons"],
        )
        self._cards[card.card_id] = card
        self._record(card)
        result = {"spaceType": kind, "spaceId": target, "success": True}
        return self._answer(
            call,
            200,
            {"success": True, "result": {"outTrackId": card.card_id, "deliverResults": [result]}},
        )

    def _limited(self, call: Call, tenant: str, group: str | None) -> web.Response | None:
        """429 for a switched-on throttle or (``enforce_limits``) a call over the limits;
        400 for a group the robot was removed from."""
        if group is not None and f"{tenant}/{group}" in self.removed:
            return self._answer(
                call,
                400,
                {
                    "code": "invalidParameter.robotCode.empty",
                    "message": "机器人robotCode无效，请检查机器人是否在群内",
                },
            )
        if self._throttle > 0:
            self._throttle -= 1
            return self._answer(
                call, 429, {"code": "Throttling", "message": "too fast"}, {"Retry-After": "1"}
            )
        if not self.enforce_limits:
            return None
        now = self.clock()
        calls = self._tenant_calls.setdefault(tenant, collections.deque())
        while calls and calls[0] <= now - 1.0:
            calls.popleft()
        over = len(calls) >= self.app_qps
        if group is not None:
            sent = self._group_calls.setdefault(f"{tenant}/{group}", collections.deque())
            while sent and sent[0] <= now - 60.0:
                sent.popleft()
            over = over or len(sent) >= self.group_per_minute
            if not over:
                sent.append(now)
        if over:
            self.violations += 1
            return self._answer(
                call, 429, {"code": "Throttling", "message": "limit"}, {"Retry-After": "1"}
            )
        calls.append(now)
        return None

    def _record(self, sent: Sent) -> None:
        self.sent.append(sent)
        self._bump()

    def _answer(
        self,
        call: Call,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        call.status = status
        self._bump()
        return web.json_response(body, status=status, headers=headers)
