"""Sending through whichever adapter owns a chat's platform.

The core addresses chats as ``ChatRef``s; this routes each reply to the adapter of its platform,
so a ticket raised on Telegram can be carded on Slack and answered back without the core
knowing either. A failed delivery is logged (never with the message text: it may carry patient
data) and reported to the caller as ``None``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from adapters.base import (
    Adapter,
    ButtonPress,
    ChatRef,
    DeliveryError,
    MessageRef,
    Reply,
    ShowsTyping,
)
from bot.privacy.gate import RedactionGate

log = logging.getLogger(__name__)


class Messenger:
    """``retry_delays``: waits before re-sending after a transient failure (the adapter has
    already retried network errors and 429s; this covers longer outages of the platform).
    Every text passes the redaction gate on its way out, whoever wrote it."""

    def __init__(
        self, retry_delays: Sequence[float] = (2.0, 10.0), gate: RedactionGate | None = None
    ) -> None:
        self._adapters: dict[str, Adapter] = {}
        self._retry_delays = tuple(retry_delays)
        self._gate = gate or RedactionGate()

    def register(self, adapter: Adapter) -> None:
        self._adapters[adapter.platform] = adapter

    @property
    def platforms(self) -> frozenset[str]:
        """The platforms a message can be sent on (paging skips an engineer's others)."""
        return frozenset(self._adapters)

    def _adapter(self, platform: str) -> Adapter | None:
        adapter = self._adapters.get(platform)
        if adapter is None:
            log.warning("no adapter for platform %r: message dropped", platform)
        return adapter

    async def send(self, reply: Reply) -> MessageRef | None:
        adapter = self._adapter(reply.chat.platform)
        if adapter is None:
            return None
        reply = self._gate.outgoing(reply)
        for delay in (*self._retry_delays, None):
            try:
                return await adapter.send(reply)
            except DeliveryError as exc:
                where = f"{reply.chat.platform}:{reply.chat.chat_id}"
                if exc.permanent or delay is None:
                    log.warning("delivery to %s failed: %s", where, exc.reason)
                    return None
                log.info("delivery to %s failed (%s); retrying in %.0f s", where, exc.reason, delay)
                await asyncio.sleep(delay)
        return None

    async def edit(self, message: MessageRef, reply: Reply) -> bool:
        adapter = self._adapter(message.platform)
        if adapter is None:
            return False
        try:
            await adapter.edit(message, self._gate.outgoing(reply))
            return True
        except DeliveryError as exc:
            log.warning(
                "edit of %s:%s failed: %s", message.platform, message.message_id, exc.reason
            )
            return False

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        adapter = self._adapter(press.message.platform)
        if adapter is None:
            return
        try:
            await adapter.acknowledge(press, self._gate.mask(text))
        except DeliveryError as exc:
            log.info("button acknowledgement failed: %s", exc.reason)

    async def typing(self, chat: ChatRef) -> None:
        """Show "typing…" in a chat where the platform can (best effort, nothing if not)."""
        adapter = self._adapters.get(chat.platform)
        if isinstance(adapter, ShowsTyping):
            await adapter.typing(chat)
