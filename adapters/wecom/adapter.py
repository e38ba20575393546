"""The WeCom edge: ``adapters.base.Adapter`` over one long connection per tenant.

Inbound, each tenant's ``TenantConnection`` hands message and event callbacks here. A callback
is passed on once per WeCom ``msgid``: one already handled (or being handled) is dropped when
WeCom delivers it again; one whose handler *failed* is taken again, because it only counts as
handled once ``handlers.on_message`` returned. One chat's callbacks run in arrival order,
different chats concurrently.

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
    CHAT_OVERFLOW_TEXT,
    ButtonPress,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    IncomingMessage,
    MessageRef,
    Reply,
)
from adapters.budget import SendBudget

from .client import CredentialsRejected, Frame, NotConnected, TenantConnection, WeComError
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
from .lanes import CallbackLanes, Recent
from .limits import SendPacer
from .settings import TenantCredentials, WeComSettings

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
    ) -> None:
        self.settings = settings
        self._credentials = list(credentials)
        self._log = logger or logging.getLogger("hisbot.adapters.wecom")
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._handlers: CoreHandlers | None = None
        self._session: aiohttp.ClientSession | None = None
        self.connections: dict[str, TenantConnection] = {}
        #: Tenants that could not start, with the reason (named in the log at start).
        self.failed: dict[str, str] = {}
        self._pacer = SendPacer(
            settings.chat_per_minute,
            settings.chat_burst,
            settings.bot_per_minute,
            settings.bot_burst,
        )
        self._lanes = CallbackLanes(
            settings.max_pending_per_chat,
            settings.dedupe_size,
            settings.dedupe_ttl,
            self._overflow_notice,
            self._log,
        )
        self._handles: Recent[_Handle] = Recent(settings.dedupe_size)  # "chat|msgid" → _Handle
        self._presses: Recent[_Handle] = Recent(4096)  # "chat|task_id" → _Handle
        self._cards: Recent[dict[str, Any]] = Recent(4096)  # "chat|task_id" → the card last shown
        self._quotes: Recent[str] = Recent(20_000)  # "chat|fingerprint" → message id

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handlers: CoreHandlers) -> None:
        """Open every tenant's connection at once. A tenant that cannot (wrong credentials,
        endpoint unreachable) is reported by name; the others run."""
        self._handlers = handlers
        self._session = aiohttp.ClientSession()
        conns = [
            TenantConnection(c, self.settings, self._session, self._on_callback, self._log)
            for c in self._credentials
        ]
        results = await asyncio.gather(*(c.start() for c in conns), return_exceptions=True)
        for conn, result in zip(conns, results, strict=True):
            if isinstance(result, CredentialsRejected):
                self.failed[conn.tenant] = str(result)
                self._log.error("wecom tenant %s not started: %s", conn.tenant, result)
                continue
            if isinstance(result, BaseException):  # unreachable now: retried in the background
                self._log.error(
                    "wecom tenant %s: cannot connect to %s yet (%s); retrying in the background",
                    conn.tenant,
                    self.settings.ws_url,
                    type(result).__name__,
                )
            self.connections[conn.tenant] = conn
        self._log.info(
            "wecom: %d of %d tenants connected%s",
            len(self.connections),
            len(conns),
            f" (not: {', '.join(sorted(self.failed))})" if self.failed else "",
        )

    async def stop(self) -> None:
        """Close every connection cleanly, let in-flight handlers finish. Idempotent."""
        conns, self.connections = self.connections, {}
        await asyncio.gather(*(c.stop() for c in conns.values()), return_exceptions=True)
        await self._lanes.drain(self.settings.stop_timeout)
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
        if not msgid or self._lanes.seen(msgid):
            return  # a re-delivery of something handled or being handled: once is enough
        loop = asyncio.get_running_loop()
        if frame.get("cmd") == MSG_CALLBACK:
            message = self._incoming(tenant, body)
            if message is None:
                return
            self._handles.remember(
                f"{message.chat.chat_id}|{msgid}",
                _Handle(req_id, loop.time(), Asked(message.sender.display_name, message.text)),
            )
            self._lanes.queue(message.chat.chat_id, msgid, lambda: self._core().on_message(message))
        elif frame.get("cmd") == EVENT_CALLBACK:
            press = to_button_press(tenant, req_id, body)
            if press is None:
                return  # enter_chat, feedback_event …: nothing for the core
            self._presses.remember(
                f"{press.message.chat_id}|{press.message.message_id}", _Handle(req_id, loop.time())
            )
            self._lanes.queue(press.message.chat_id, msgid, lambda: self._core().on_button(press))

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

    async def _overflow_notice(self, chat: str) -> None:
        try:
            await self.send(Reply(ChatRef(PLATFORM, chat), CHAT_OVERFLOW_TEXT))
        except DeliveryError as exc:
            self._log.warning("wecom chat %s: overflow notice not sent: %s", chat, exc.reason)

    # ------------------------------------------------------------------ outbound

    def _connection(self, chat: ChatRef) -> tuple[TenantConnection, str]:
        try:
            tenant, raw = split_scoped(chat.chat_id)
        except ValueError as exc:
            raise DeliveryError(chat, str(exc)) from None
        conn = self.connections.get(tenant)
        if conn is None:
            reason = self.failed.get(tenant, "no such tenant configured")
            raise DeliveryError(chat, f"WeCom tenant {tenant} is not running: {reason}")
        return conn, raw

    def send_budget(self, chat: ChatRef) -> SendBudget:
        """``adapters.base.DeclaresSendBudget``: the per-chat pace ``SendPacer`` applies."""
        count = self.settings.chat_per_minute
        return SendBudget(count, 60.0, min(self.settings.chat_burst, count))

    async def send(self, reply: Reply) -> MessageRef:
        """Say ``reply``: bound to the question's ``req_id`` when that is still possible, else
        proactively. Returns the ref the core links; its id is derived from the text, so a
        quote of this message finds it again."""
        chat = reply.chat
        conn, raw = self._connection(chat)
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
        conn, _ = self._connection(chat)
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
            conn, _ = self._connection(chat)
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
