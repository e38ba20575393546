"""``DingTalkAdapter``: many tenants' Stream-mode robots behind one ``Adapter``.

Each tenant (a hospital's DingTalk organisation, or the vendor's) has its own credentials,
access token, limits and stream connection; a tenant whose credentials are refused is reported
by name and the others run on. Replies go through the asking message's sessionWebhook while it
is valid and fall back to the proactive APIs (``groupMessages/send``, ``oToMessages/batchSend``);
messages with buttons are interactive cards whose presses come back on the stream.

Transport only: every message and press goes to the core's inbox as it arrives (the inbox
orders each chat's events and drops a re-delivered ``msgId``), and its frame is acknowledged
once the inbox stored it. One of several workers (``receive_on_start=False``) sends through
the OpenAPI from ``start`` on, but opens the tenants' streams only between ``start_receiving``
and ``stop_receiving``, while it holds the ``receive:dingtalk`` lease
(``adapters.base.LeasedReceiver``): one stream per tenant across all workers.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from dingtalk_stream import ChatbotMessage
from dingtalk_stream.card_callback import Card_Callback_Router_Topic

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
from adapters.release import releasing

from . import convert
from .client import OpenApiError, TenantApi
from .convert import PLATFORM, Target
from .limits import Clock, SystemClock
from .settings import DingTalkSettings, TenantCredentials
from .stream import OnCallback, State, TenantStream

log = logging.getLogger(__name__)

#: A sessionWebhook this close to its expiry is not used (the send itself takes time).
_WEBHOOK_MARGIN_MS = 5_000


@dataclass(frozen=True)
class _Origin:
    """What a reply to a received message needs: its webhook and whom to @."""

    webhook: str
    expires_ms: int
    staff_id: str


class _Tenant:
    def __init__(self, api: TenantApi, stream: TenantStream) -> None:
        self.api = api
        self.stream = stream
        self.name = api.name


class DingTalkAdapter:
    platform = PLATFORM

    def __init__(
        self,
        settings: DingTalkSettings,
        credentials: Mapping[str, TenantCredentials],
        clock: Clock | None = None,
        *,
        receive_on_start: bool = True,
    ) -> None:
        """``credentials``: tenant name → its secrets (tenants without any are not run).
        ``receive_on_start=False``: one worker of several — the streams wait for
        ``start_receiving`` (this worker holds the ``receive:dingtalk`` lease)."""
        self.settings = settings
        self._credentials = dict(credentials)
        self._clock = clock or SystemClock()
        self._receive_on_start = receive_on_start
        self._tenants: dict[str, _Tenant] = {}
        self._handlers: CoreHandlers | None = None
        self._session: aiohttp.ClientSession | None = None
        #: Logs which tenants came up once their streams settled.
        self._settling: asyncio.Task[None] | None = None
        self._origins: collections.OrderedDict[str, _Origin] = collections.OrderedDict()
        self._latest: dict[str, str] = {}  # chat id → id of its latest message with a webhook
        #: digest of a card's text → its outTrackId: a quoted card comes back as its text
        self._cards: collections.OrderedDict[str, str] = collections.OrderedDict()

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self, handlers: CoreHandlers) -> None:
        """Ready every tenant's OpenAPI (sending works from here on) and, unless waiting for
        the lease, connect its stream: returns when each is connected or refused (or after
        ``connect_timeout``), naming the tenants that are not up."""
        self._handlers = handlers
        self._session = aiohttp.ClientSession()
        for name, creds in self._credentials.items():
            api = TenantApi(name, creds, self.settings, self._session, self._clock)
            stream = TenantStream(api, self.settings, self._callback_of(name))
            self._tenants[name] = _Tenant(api, stream)
        if self._receive_on_start:
            await self.start_receiving()
            if self._settling is not None:
                await self._settling

    @property
    def waits_for_lease(self) -> bool:
        """A tenant's stream must be open on one worker only: with several, the lease's."""
        return not self._receive_on_start

    async def start_receiving(self) -> None:
        """Open every tenant's stream and return at once (the lease's renewal must not wait
        out a connect timeout); which tenants came up is logged once settled."""
        streams = [t.stream for t in self._tenants.values() if not t.stream.running]
        if not streams:
            return
        for stream in streams:
            stream.start()
        self._settling = asyncio.create_task(self._settled(streams), name="dingtalk-settling")

    async def _settled(self, streams: list[TenantStream]) -> None:
        waits = [asyncio.create_task(s.settled.wait()) for s in streams]
        _, pending = await asyncio.wait(waits, timeout=self.settings.connect_timeout)
        for task in pending:
            task.cancel()
        for name, state in self.tenant_states().items():
            if state is State.REFUSED:
                log.error("dingtalk tenant %s is NOT running: %s", name, self.problem(name))
            elif state is not State.CONNECTED:
                log.warning("dingtalk tenant %s is not connected yet (retrying)", name)
        up = [n for n, s in self.tenant_states().items() if s is State.CONNECTED]
        log.info("dingtalk: %d of %d tenants connected", len(up), len(self._tenants))

    async def stop_receiving(self) -> None:
        """Close every stream (the lease went elsewhere): frames in flight are stored and
        acknowledged within ``stop_timeout``, the rest DingTalk gives to the next stream.
        Sending goes on."""
        settling, self._settling = self._settling, None
        if settling is not None:
            settling.cancel()
            await asyncio.gather(settling, return_exceptions=True)
        streams = [t.stream for t in self._tenants.values() if t.stream.running]
        await asyncio.gather(*(stream.stop() for stream in streams))
        if streams:
            log.info("dingtalk: %d stream(s) closed", len(streams))

    async def stop(self) -> None:
        await self.stop_receiving()
        self._tenants.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def tenant_states(self) -> dict[str, State]:
        return {name: t.stream.state for name, t in self._tenants.items()}

    def problem(self, tenant: str) -> str:
        return self._tenants[tenant].stream.problem

    def stream(self, tenant: str) -> TenantStream:
        return self._tenants[tenant].stream

    # ---- incoming ------------------------------------------------------------------------

    def _callback_of(self, tenant: str) -> OnCallback:
        async def on_callback(topic: str, data: dict[str, Any]) -> None:
            if topic == ChatbotMessage.TOPIC:
                await self._on_message(tenant, data)
            elif topic == Card_Callback_Router_Topic:
                await self._on_card(tenant, data)
            else:
                log.info("dingtalk %s: callback topic %r ignored", tenant, topic)

        return on_callback

    async def _on_message(self, tenant: str, data: dict[str, Any]) -> None:
        assert self._handlers is not None
        incoming, raw = convert.to_incoming(tenant, data)
        card = self._cards.get(incoming.reply_to_message_id or "")
        if card is not None:  # a quote of one of our cards: the reply is to the card
            incoming = dataclasses.replace(incoming, reply_to_message_id=card)
        chat_id = incoming.chat.chat_id
        if raw.session_webhook:
            self._remember(
                incoming.message_id,
                _Origin(
                    raw.session_webhook,
                    int(raw.session_webhook_expired_time or 0),
                    raw.sender_staff_id or "",
                ),
            )
            self._latest[chat_id] = incoming.message_id
        await self._handlers.on_message(incoming)

    async def _on_card(self, tenant: str, data: dict[str, Any]) -> None:
        assert self._handlers is not None
        press = convert.to_button_press(tenant, data)
        if press is None:
            log.info("dingtalk %s: a card callback that is not ours was ignored", tenant)
            return
        await self._handlers.on_button(press)

    def _remember_card(self, digest: str, card_id: str) -> None:
        self._cards[digest] = card_id
        while len(self._cards) > self.settings.remembered_messages:
            self._cards.popitem(last=False)

    def _remember(self, message_id: str, origin: _Origin) -> None:
        self._origins[message_id] = origin
        while len(self._origins) > self.settings.remembered_messages:
            self._origins.popitem(last=False)

    # ---- outgoing ------------------------------------------------------------------------

    def _tenant_for(self, chat: ChatRef) -> tuple[_Tenant, Target]:
        try:
            target = convert.parse_chat_id(chat.chat_id)
        except ValueError as exc:
            raise DeliveryError(chat, str(exc)) from exc
        tenant = self._tenants.get(target.tenant)
        if tenant is None:
            raise DeliveryError(chat, f"DingTalk tenant {target.tenant!r} is not running")
        return tenant, target

    def _webhook_for(self, chat_id: str, reply_to: str | None) -> _Origin | None:
        """The sessionWebhook to answer through, when one is still valid."""
        for message_id in (reply_to, self._latest.get(chat_id)):
            origin = self._origins.get(message_id) if message_id else None
            if origin and origin.expires_ms > self._clock.wall() * 1000 + _WEBHOOK_MARGIN_MS:
                return origin
        return None

    def send_budget(self, chat: ChatRef) -> SendBudget:
        """``adapters.base.DeclaresSendBudget``: DingTalk's messages per minute in one group
        (a robot over it is muted for 10 minutes), a few back to back."""
        count = self.settings.group_messages_per_minute
        return SendBudget(count, 60.0 + self.settings.limit_margin, min(3, count))

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        """``adapters.base.ReleasesSends``: ``send``, awaiting ``on_release`` when the tenant's
        and the group's limits let its first request go (``client.py``)."""
        with releasing(on_release):
            return await self.send(reply)

    async def send(self, reply: Reply) -> MessageRef:
        tenant, target = self._tenant_for(reply.chat)
        asker = self._origins.get(reply.reply_to) if reply.reply_to else None
        mentions = convert.staff_ids(tenant.name, reply.mention_user_ids)
        if asker is not None and asker.staff_id and asker.staff_id not in mentions:
            mentions = (asker.staff_id, *mentions)  # quote the asker: @ them in the reply
        if not target.is_group:
            mentions = ()  # nobody to @ in a one-to-one chat
        # a card @s through its delivery model, a webhook text by "@userId" in the text plus
        # atUserIds; a proactive text cannot @ anyone, so it carries no "@userId" either
        content = convert.message_text(reply)
        group = target.target if target.is_group else None
        try:
            if reply.buttons:
                card_id = convert.new_card_id(target)
                await self._deliver_card(tenant, target, card_id, reply, content, mentions)
                self._remember_card(convert.text_message_id(target.chat_id, content), card_id)
                return MessageRef(PLATFORM, target.chat_id, card_id)
            origin = self._webhook_for(target.chat_id, reply.reply_to)
            if origin is not None:
                content = convert.message_text(reply, mentions)
                body = convert.webhook_body(content, mentions)
                if await tenant.api.webhook(origin.webhook, body, group):
                    return MessageRef(
                        PLATFORM, target.chat_id, convert.text_message_id(target.chat_id, content)
                    )
                content = convert.message_text(reply)
            await self._send_proactive(tenant, target, content)
        except OpenApiError as exc:
            raise DeliveryError(reply.chat, str(exc), permanent=exc.permanent) from exc
        return MessageRef(
            PLATFORM, target.chat_id, convert.text_message_id(target.chat_id, content)
        )

    async def _send_proactive(self, tenant: _Tenant, target: Target, content: str) -> None:
        key, param = convert.proactive_text(content)
        robot = tenant.api.credentials.robot_code
        body: dict[str, Any]
        if target.is_group:
            body = {
                "robotCode": robot,
                "openConversationId": target.target,
                "msgKey": key,
                "msgParam": param,
            }
            await tenant.api.call(
                "POST", "/v1.0/robot/groupMessages/send", body, group=target.target
            )
            return
        body = {
            "robotCode": robot,
            "userIds": [target.target],
            "msgKey": key,
            "msgParam": param,
        }
        data = await tenant.api.call("POST", "/v1.0/robot/oToMessages/batchSend", body)
        if target.target in (data.get("invalidStaffIdList") or []):
            raise OpenApiError(200, "invalidStaffId", f"{target.target} is not a user here")
        if target.target in (data.get("flowControlledStaffIdList") or []):
            raise OpenApiError(200, "flowControlled", "the user's DMs are flow-controlled", False)

    async def _deliver_card(
        self,
        tenant: _Tenant,
        target: Target,
        card_id: str,
        reply: Reply,
        content: str,
        mentions: tuple[str, ...],
    ) -> None:
        robot = tenant.api.credentials.robot_code
        body: dict[str, Any] = {
            "cardTemplateId": self.settings.card_template_id,
            "outTrackId": card_id,
            "cardData": {"cardParamMap": convert.card_data(reply, content)},
            "callbackType": "STREAM",
            "openSpaceId": convert.card_space(target),
            "userIdType": 1,
        }
        if target.is_group:
            body["imGroupOpenSpaceModel"] = {"supportForward": True}
            body["imGroupOpenDeliverModel"] = {
                "robotCode": robot,
                "atUserIds": {m: m for m in mentions},
            }
        else:
            body["imRobotOpenSpaceModel"] = {"supportForward": True}
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": robot}
        data = await tenant.api.call(
            "POST",
            "/v1.0/card/instances/createAndDeliver",
            body,
            group=target.target if target.is_group else None,
        )
        results = (data.get("result") or {}).get("deliverResults") or []
        failed = [r for r in results if not r.get("success", True)]
        if failed:
            raise OpenApiError(200, "deliverFailed", str(failed[0].get("errorMsg", "")))

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """A card is updated in place; a plain text cannot be edited on DingTalk, so the new
        text is sent as a new message."""
        if not convert.is_card(message.message_id):
            await self.send(reply)
            return
        tenant, target = self._tenant_for(ChatRef(message.platform, message.chat_id))
        content = convert.message_text(reply)
        body = {
            "outTrackId": message.message_id,
            "cardData": {"cardParamMap": convert.card_data(reply, content)},
        }
        try:
            await tenant.api.call("PUT", "/v1.0/card/instances", body)
        except OpenApiError as exc:
            raise DeliveryError(reply.chat, str(exc), permanent=exc.permanent) from exc
        self._remember_card(convert.text_message_id(target.chat_id, content), message.message_id)

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """A card press is answered by acknowledging its frame (after the core returned);
        DingTalk has no toast for it, and the card's update shows what happened."""
        if text:
            log.debug("dingtalk: button acknowledgement %r not shown (no toast on DingTalk)", text)
