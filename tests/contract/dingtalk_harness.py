"""The DingTalk harness of the adapter contract: the real ``DingTalkAdapter`` (dingtalk-stream,
aiohttp) on tests/fakes/dingtalk_api.py, Retry-After honoured on a virtual clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar

from adapters.base import ButtonPress, ChatRef, MessageRef
from adapters.dingtalk import convert as dingtalk_convert
from adapters.dingtalk.adapter import DingTalkAdapter
from adapters.dingtalk.settings import DingTalkSettings, DingTalkTenant
from adapters.dingtalk.settings import TenantCredentials as DingTalkCredentials
from tests.contract.core import RecordingCore
from tests.contract.harness import Capability, Platform, Shown
from tests.fakes.dingtalk_api import FakeDingTalk, VirtualClock
from tests.fakes.dingtalk_api import Sent as DingTalkSent

DT_TENANT, DT_GROUP, DT_USER = "h001", "cidH1group", "nurse01"


class DingTalkPlatform(Platform):
    name = "dingtalk"
    group = ChatRef("dingtalk", f"{DT_TENANT}/{DT_GROUP}")
    engineer = f"{DT_TENANT}/wanggong"
    lacks: ClassVar[Mapping[Capability, str]] = {
        Capability.UNADDRESSED: "a DingTalk group robot receives only messages that @ it",
        Capability.FILES: "a file message cannot @ a robot, so group robots never get files",
        Capability.TOAST: "DingTalk has no toast for a card press; the card's update shows it",
        Capability.QUOTE: "robots cannot quote; an answer @-mentions the asker instead",
    }

    def __init__(self, dt: FakeDingTalk, adapter: DingTalkAdapter, core: RecordingCore) -> None:
        self.dt, self.adapter, self.core = dt, adapter, core

    async def user_says(self, text: str, *, reply_to: MessageRef | None = None) -> str:
        quote = self._sent(reply_to) if reply_to else None
        data = self.dt.user_message(DT_TENANT, DT_GROUP, DT_USER, text, quote=quote)
        return str(data["msgId"])

    def _sent(self, ref: MessageRef) -> DingTalkSent:
        """The bot's message ``ref``: a card by its outTrackId, a text by the digest that
        names it (the robot APIs return no message id)."""
        (sent,) = [
            s
            for s in self.dt.sent_to(ref.chat_id)
            if s.card_id == ref.message_id
            or (not s.card_id and dingtalk_convert.text_message_id(ref.chat_id, s.text))
            == ref.message_id
        ]
        return sent

    def shown(self, ref: MessageRef) -> Shown:
        sent = self._sent(ref)
        text = sent.edits[-1] if sent.edits else sent.text
        actions = [str(b["params"]["action"]) for b in sent.buttons]
        mentions = [f"{sent.tenant}/{u}" for u in sent.at_user_ids]
        return Shown(text, actions, mentions, None)

    async def press(self, ref: MessageRef, action: str) -> None:
        card = self._sent(ref)
        (label,) = [b["text"] for b in card.buttons if b["params"]["action"] == action]
        self.dt.press(card, DT_USER, label)

    def acknowledged(self, press: ButtonPress) -> list[str]:
        return []  # nothing to look at: DingTalk shows a card press no text of its own

    def throttle_next_sends(self, times: int) -> None:
        self.dt.throttle_next(times)

    async def remove_bot(self) -> ChatRef:
        self.dt.remove_bot(DT_TENANT, "cidH2gone")
        return ChatRef("dingtalk", f"{DT_TENANT}/cidH2gone")

    def sends(self) -> int:
        return len(self.dt.sent)


@contextlib.asynccontextmanager
async def dingtalk() -> AsyncIterator[Platform]:
    async with FakeDingTalk() as fake:
        tenant = fake.add_tenant(DT_TENANT)
        settings = DingTalkSettings(
            api_base=fake.base_url,
            tenants=(DingTalkTenant(DT_TENANT, "DT_H001_ID", "DT_H001_SECRET"),),
            connect_timeout=5.0,
            reconnect_backoff=0.05,
            reconnect_max=0.2,
            network_backoff=0.01,
        )
        credentials = {
            DT_TENANT: DingTalkCredentials(tenant.client_id, tenant.secret, tenant.client_id)
        }
        # Retry-After is honoured on a virtual clock: the contract needs no real waiting
        adapter = DingTalkAdapter(settings, credentials, clock=VirtualClock())
        core = RecordingCore()
        await adapter.start(core.handlers())
        try:
            yield DingTalkPlatform(fake, adapter, core)
        finally:
            await adapter.stop()
