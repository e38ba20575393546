"""The WeCom edge: ``adapters.base.Adapter`` over one long connection per tenant.

Inbound, each tenant's ``TenantConnection`` hands message and event callbacks here, and they
go to the core's inbox in arrival order (``Arrivals``); the inbox drops a re-delivered
``msgid`` and orders each chat's handling. Transport only.

Several workers: WeCom allows one live connection per bot, and every send (a reply by
``req_id``, a proactive ``aibot_send_msg``, a card update) goes over it. Built with
``receive_on_start=False``, the adapter opens its connections only between
``start_receiving`` and ``stop_receiving`` — while this worker holds the ``receive:wecom``
lease. On a worker without them ``send_here`` raises ``NotConnectedHere`` (nothing was sent)
and ``send`` hands the reply to the core's ``send_elsewhere``, which relays it to the holder.

Outbound, a reply to a message uses the message's ``req_id`` (``aibot_respond_msg``) while it is
fresh (``reply_window``) and not used yet; otherwise, or when WeCom refuses it, the reply goes
out as a proactive ``aibot_send_msg``, paced by ``SendPacer``. Buttons are a
``button_interaction`` template card whose ``task_id`` is the message id; a press arrives as a
``template_card_event`` whose ``req_id`` updates the card (``aibot_respond_update_msg``) for
``card_update_window`` seconds — WeCom has no other way to change a sent card.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.base import (
    ButtonPress,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    IncomingMessage,
    MessageRef,
    NotConnectedHere,
    OnRelease,
    Reply,
)
from adapters.budget import SendBudget
from adapters.release import released, releasing

from .arrivals import Arrivals, Recent
from .client import Frame, NotConnected, TenantConnection, WeComError
from .convert import (
    EVENT_CALLBACK,
    MSG_CALLBACK,
    PLATFORM,
    RESPOND,
    RESPOND_UPDATE,
    SEND,
    Asked,
    button_card,
    card_text,
    fingerprint_text,
    markdown_parts,
    markdown_text,
    message_id_for,
    notice_card,
    quoted_text,
    split_scoped,
    to_button_press,
    to_incoming,
)
from .limits import SendPacer
from .settings import TenantCredentials, WeComSettings
from .tenants import Tenants

__all__ = ["WeComAdapter"]


@dataclass
class _Handle:
    """A callback's ``req_id`` while it can still be answered."""

    req_id: str
    received: float
    asked: Asked | None = None
    used: bool = False


class WeComAdapter:
    """``adapters.base.Adapter`` for WeCom (platform ``"wecom"``), all tenants in one."""

    platform = PLATFORM

    def __init__(
        self,
        settings: WeComSettings,
        credentials: Sequence[TenantCredentials],
        *,
        logger: logging.Logger | None = None,
        now: Callable[[], dt.datetime] | None = None,
        receive_on_start: bool = True,
    ) -> None:
        """``receive_on_start=False``: one worker of several — the connections wait for
        ``start_receiving`` (this worker holds the ``receive:wecom`` lease)."""
        self.settings = settings
        self._receive_on_start = receive_on_start
        self._log = logger or logging.getLogger("hisbot.adapters.wecom")
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._handlers: CoreHandlers | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tenants = Tenants(settings, credentials, self._on_callback, self._log)
        self._pacer = SendPacer(
            settings.chat_per_minute,
            settings.chat_burst,
            settings.bot_per_minute,
            settings.bot_burst,
        )
        self._arrivals = {c.tenant: Arrivals(c.tenant, self._log) for c in credentials}
        self._handles: Recent[_Handle] = Recent(20_000)  # "chat|msgid" → _Handle
        self._presses: Recent[_Handle] = Recent(4096)  # "chat|task_id" → _Handle
        self._cards: Recent[dict[str, Any]] = Recent(4096)  # "chat|task_id" → the card last shown
        self._quotes: Recent[str] = Recent(20_000)  # "chat|fingerprint" → message id

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handlers: CoreHandlers) -> None:
        """Ready the adapter and, unless waiting for the lease, open the connections."""
        self._handlers = handlers
        self._session = aiohttp.ClientSession()
        if self._receive_on_start:
            await self._tenants.start(self._session)

    @property
    def waits_for_lease(self) -> bool:
        """One live connection per bot: with several workers, only the lease's holder."""
        return not self._receive_on_start

    async def start_receiving(self) -> None:
        """Open every tenant's connection (a tenant that cannot is named; the others run) and
        return at once: the lease's renewal must not wait out a connect timeout."""
        if not self._tenants.open and self._session is not None:
            await self._tenants.start(self._session, wait=False)

    async def stop_receiving(self) -> None:
        """Close every connection (the lease went elsewhere, or stop) and store the callbacks
        that arrived for up to ``stop_timeout``. The req_ids of those connections die with
        them. Idempotent."""
        await self._tenants.stop()
        await asyncio.gather(
            *(a.drain(self.settings.stop_timeout) for a in self._arrivals.values())
        )
        for memo in (self._handles, self._presses):
            memo.clear()

    @property
    def connections(self) -> dict[str, TenantConnection]:
        return self._tenants.connections

    @property
    def failed(self) -> dict[str, str]:
        """Tenants that could not start, with the reason (named in the log at start)."""
        return self._tenants.failed

    async def stop(self) -> None:
        """Close every connection cleanly, store what arrived. Idempotent."""
        await self.stop_receiving()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # ------------------------------------------------------------------ inbound

    def _core(self) -> CoreHandlers:
        if self._handlers is None:
            raise RuntimeError("WeComAdapter.start() was not called")
        return self._handlers

    def _on_callback(self, tenant: str, frame: Frame) -> None:
        body = frame.get("body")
        headers = frame.get("headers")
        if not isinstance(body, Mapping) or not isinstance(headers, Mapping):
            return
        msgid = str(body.get("msgid") or "")
        req_id = str(headers.get("req_id") or "")
        if not msgid:
            return
        core, arrivals = self._core(), self._arrivals[tenant]
        loop = asyncio.get_running_loop()
        if frame.get("cmd") == MSG_CALLBACK:
            message = self._incoming(tenant, body)
            if message is None:
                return
            self._handles.remember(
                f"{message.chat.chat_id}|{msgid}",
                _Handle(req_id, loop.time(), Asked(message.sender.display_name, message.text)),
            )
            arrivals.put(msgid, lambda: core.on_message(message))
        elif frame.get("cmd") == EVENT_CALLBACK:
            press = to_button_press(tenant, body)
            if press is None:
                return  # enter_chat, feedback_event …: nothing for the core
            self._presses.remember(
                f"{press.message.chat_id}|{press.message.message_id}", _Handle(req_id, loop.time())
            )
            arrivals.put(msgid, lambda: core.on_button(press))

    def _incoming(self, tenant: str, body: Mapping[str, Any]) -> IncomingMessage | None:
        message = to_incoming(tenant, body, self._now(), None)
        if message is None:
            return None
        quoted = quoted_text(body)
        if quoted:
            chat = message.chat.chat_id
            known = self._quotes.get(f"{chat}|{fingerprint_text(quoted)}")
            message = dataclasses.replace(
                message, reply_to_message_id=known or message_id_for(chat, quoted)
            )
        return message

    # ------------------------------------------------------------------ outbound

    def send_budget(self, chat: ChatRef) -> SendBudget:
        """``adapters.base.DeclaresSendBudget``: the per-chat pace ``SendPacer`` applies."""
        count = self.settings.chat_per_minute
        return SendBudget(count, 60.0, min(self.settings.chat_burst, count))

    async def send(self, reply: Reply) -> MessageRef:
        """``send_here``, or on a worker without the tenant's connection (another holds the
        ``receive:wecom`` lease) the core's ``send_elsewhere``, which relays it there."""
        try:
            return await self.send_here(reply)
        except NotConnectedHere:
            elsewhere = self._handlers.send_elsewhere if self._handlers else None
            if elsewhere is None:
                raise
        await released()  # the holder's pacer is out of sight: under way from here
        return await elsewhere(reply)

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        """``adapters.base.ReleasesSends``: ``send``, awaiting ``on_release`` when the pacer
        lets its first request go (a reply by req_id: at once; relayed to the connection's
        holder: before the relay)."""
        with releasing(on_release):
            return await self.send(reply)

    async def send_here(self, reply: Reply) -> MessageRef:
        """Say ``reply``: bound to the question's ``req_id`` when that is still possible, else
        proactively. Returns the ref the core links; its id is derived from the text, so a
        quote of this message finds it again."""
        chat = reply.chat
        conn, raw = await self._tenants.opened(chat)
        asked = self._handles.get(f"{chat.chat_id}|{reply.reply_to}") if reply.reply_to else None
        handle = self._reply_handle(chat.chat_id, reply.reply_to)
        # WeCom shows no threads: every reply to a question quotes its asker, bound or not
        text = markdown_text(reply, asked.asked if asked else None, conn.tenant)
        message_id = message_id_for(chat.chat_id, text)
        parts = markdown_parts(text)
        for part in parts:
            self._quotes.remember(f"{chat.chat_id}|{fingerprint_text(part)}", message_id)
        card = button_card(reply, message_id) if reply.buttons else None
        if card is not None:
            self._cards.remember(f"{chat.chat_id}|{message_id}", card)
            self._quotes.remember(f"{chat.chat_id}|{fingerprint_text(card_text(card))}", message_id)
        first = 0
        if handle is not None:
            handle.used = True
            body: dict[str, Any] = {
                "msgtype": "stream",
                "stream": {"id": message_id, "finish": True, "content": parts[0]},
            }
            if card is not None and len(parts) == 1:
                body = {**body, "msgtype": "stream_with_template_card", "template_card": card}
            if await self._respond(conn, chat, handle.req_id, body):
                first = 1
                if card is not None and len(parts) == 1:
                    card = None
        for part in parts[first:]:
            await self._proactive(
                conn, chat, raw, {"msgtype": "markdown", "markdown": {"content": part}}
            )
        if card is not None:
            await self._proactive(
                conn, chat, raw, {"msgtype": "template_card", "template_card": card}
            )
        return MessageRef(PLATFORM, chat.chat_id, message_id)

    def _reply_handle(self, chat_id: str, reply_to: str | None) -> _Handle | None:
        """The question's req_id if it is fresh and unused (each req_id answers once)."""
        if reply_to is None:
            return None
        handle = self._handles.get(f"{chat_id}|{reply_to}")
        if handle is None or handle.used:
            return None
        age = asyncio.get_running_loop().time() - handle.received
        if age > self.settings.reply_window:
            return None
        return handle

    async def _respond(
        self, conn: TenantConnection, chat: ChatRef, req_id: str, body: Mapping[str, Any]
    ) -> bool:
        """Answer with the callback's req_id; False when WeCom refused it (expired, used up,
        connection gone), so the caller sends proactively instead."""
        await released()  # unpaced: it leaves now
        try:
            await conn.request(RESPOND, body, req_id=req_id)
            return True
        except (WeComError, NotConnected, TimeoutError) as exc:
            self._log.info(
                "wecom chat %s: reply by req_id refused (%s); sending proactively",
                chat.chat_id,
                exc,
            )
            return False

    async def _proactive(
        self, conn: TenantConnection, chat: ChatRef, raw: str, body: Mapping[str, Any]
    ) -> None:
        """``aibot_send_msg`` within the client-side limits; a rate-limit errcode waits and
        retries, the rest becomes ``DeliveryError``."""
        s = self.settings
        for attempt in range(s.rate_limit_retries + 1):
            await self._pacer.wait_turn(conn.tenant, chat.chat_id)
            await released()
            try:
                await conn.request(SEND, {"chatid": raw, **body})
                return
            except WeComError as exc:
                if exc.rate_limited and attempt < s.rate_limit_retries:
                    self._log.warning(
                        "wecom tenant %s rate limited (errcode %d); retry in %.0f s",
                        conn.tenant,
                        exc.errcode,
                        s.rate_limit_wait,
                    )
                    await asyncio.sleep(s.rate_limit_wait)
                    continue
                permanent = not (exc.rate_limited or exc.transient)
                raise DeliveryError(chat, f"aibot_send_msg: {exc}", permanent=permanent) from exc
            except (NotConnected, TimeoutError) as exc:
                raise DeliveryError(
                    chat, f"aibot_send_msg: {type(exc).__name__}", permanent=False
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _press_handle(self, chat_id: str, task_id: str) -> _Handle | None:
        handle = self._presses.get(f"{chat_id}|{task_id}")
        if handle is None:
            return None
        age = asyncio.get_running_loop().time() - handle.received
        return handle if age <= self.settings.card_update_window else None

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Update a card we sent. WeCom allows it only in answer to a press on it, within 5 s
        (``aibot_respond_update_msg``); otherwise ``DeliveryError`` (nothing is sent twice)."""
        chat = ChatRef(PLATFORM, message.chat_id)
        conn, _ = self._tenants.connection(chat)
        handle = self._press_handle(message.chat_id, message.message_id)
        if handle is None:
            raise DeliveryError(
                chat, "a WeCom card can only be updated within 5 s of a press on it"
            )
        card = (
            button_card(reply, message.message_id)
            if reply.buttons
            else notice_card(reply, message.message_id)
        )
        await self._update_card(conn, chat, handle, card, None)
        handle.used = True
        key = f"{message.chat_id}|{message.message_id}"
        self._cards.remember(key, dict(card))
        self._quotes.remember(
            f"{message.chat_id}|{fingerprint_text(card_text(card))}", message.message_id
        )

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """WeCom has no toast: a ``text`` is shown to the presser alone on the card (an update
        for their userid only). Best effort, and only while the press's req_id is fresh and the
        card was not updated for everyone already."""
        if not text:
            return
        chat = ChatRef(PLATFORM, press.message.chat_id)
        handle = self._press_handle(press.message.chat_id, press.message.message_id)
        if handle is None or handle.used:
            return
        try:
            conn, _ = self._tenants.connection(chat)
            known = self._cards.get(f"{press.message.chat_id}|{press.message.message_id}")
            card = (
                dict(known) if known else notice_card(Reply(chat, text), press.message.message_id)
            )
            card["sub_title_text"] = text[:112]
            _, user = split_scoped(press.sender.user_id)
            await self._update_card(conn, chat, handle, card, [user])
        except (DeliveryError, ValueError) as exc:
            self._log.info("wecom: acknowledgement in chat %s not shown: %s", chat.chat_id, exc)

    async def _update_card(
        self,
        conn: TenantConnection,
        chat: ChatRef,
        handle: _Handle,
        card: Mapping[str, Any],
        userids: list[str] | None,
    ) -> None:
        body: dict[str, Any] = {"response_type": "update_template_card", "template_card": card}
        if userids:
            body["userids"] = userids
        try:
            await conn.request(RESPOND_UPDATE, body, req_id=handle.req_id)
        except WeComError as exc:
            raise DeliveryError(chat, f"aibot_respond_update_msg: {exc}") from exc
        except (NotConnected, TimeoutError) as exc:
            raise DeliveryError(
                chat, f"card update: {type(exc).__name__}", permanent=False
            ) from exc
