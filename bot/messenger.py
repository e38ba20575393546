"""Sending through whichever adapter owns a chat's platform.

The core addresses chats as ``ChatRef``s; this routes each reply to the adapter of its platform,
so a ticket raised on Telegram can be carded on Slack and answered back without the core
knowing either. A failed delivery is logged (never with the message text: it may carry patient
data) and reported to the caller as ``None``.
"""

from __future__ import annotations

import logging

from adapters.base import Adapter, ButtonPress, DeliveryError, MessageRef, Reply

log = logging.getLogger(__name__)


class Messenger:
    def __init__(self) -> None:
        self._adapters: dict[str, Adapter] = {}

    def register(self, adapter: Adapter) -> None:
        self._adapters[adapter.platform] = adapter

    @property
    def platforms(self) -> list[str]:
        return sorted(self._adapters)

    def _adapter(self, platform: str) -> Adapter | None:
        adapter = self._adapters.get(platform)
        if adapter is None:
            log.warning("no adapter for platform %r: message dropped", platform)
        return adapter

    async def send(self, reply: Reply) -> MessageRef | None:
        adapter = self._adapter(reply.chat.platform)
        if adapter is None:
            return None
        try:
            return await adapter.send(reply)
        except DeliveryError as exc:
            log.warning(
                "delivery to %s:%s failed: %s", reply.chat.platform, reply.chat.chat_id, exc.reason
            )
            return None

    async def edit(self, message: MessageRef, reply: Reply) -> bool:
        adapter = self._adapter(message.platform)
        if adapter is None:
            return False
        try:
            await adapter.edit(message, reply)
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
            await adapter.acknowledge(press, text)
        except DeliveryError as exc:
            log.info("button acknowledgement failed: %s", exc.reason)
