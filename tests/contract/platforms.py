"""One harness per platform for the adapter contract: the real adapter (real client library)
started against its fake server on 127.0.0.1, plus the few platform-specific moves a
contract test needs (a user says something, presses a button; what the chat shows).

Adding a platform is one ``Platform`` subclass (the interface is tests/contract/harness.py;
DingTalk's harness is dingtalk_harness.py) and one entry in ``PLATFORMS``. What a platform
genuinely cannot do is declared in its ``lacks`` (``Capability`` → why); the contract then
checks the declared fallback instead of skipping silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

from adapters.base import ButtonPress, ChatRef, MessageRef
from adapters.slack.adapter import SlackAdapter
from adapters.slack.settings import SlackSettings
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSettings
from adapters.wecom.adapter import WeComAdapter
from adapters.wecom.convert import card_text, message_id_for
from adapters.wecom.settings import TenantCredentials, WeComSettings
from tests.contract.core import RecordingCore
from tests.contract.dingtalk_harness import dingtalk
from tests.contract.harness import Capability, Platform, Shown
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wecom_api import FakeWeCom

__all__ = ["PLATFORMS", "Capability", "Platform", "Shown"]


# ------------------------------------------------------------------ Telegram

TG_TOKEN = "123456:TEST-token_abc"
TG_GROUP, TG_OTHER, TG_USER, TG_ENGINEER = -1001234567890, -1000000000777, 4242, 777001


class TelegramPlatform(Platform):
    name = "telegram"
    group = ChatRef("telegram", str(TG_GROUP))
    engineer = str(TG_ENGINEER)

    def __init__(self, tg: FakeTelegram, adapter: TelegramAdapter, core: RecordingCore) -> None:
        self.tg, self.adapter, self.core = tg, adapter, core

    async def user_says(self, text: str, *, reply_to: MessageRef | None = None) -> str:
        msg = self.tg.user_message(
            TG_GROUP,
            TG_USER,
            f"@his_support_bot {text}",
            reply_to_message_id=int(reply_to.message_id) if reply_to else None,
        )
        return str(msg["message_id"])

    async def user_chats(self, text: str) -> str:
        return str(self.tg.user_message(TG_GROUP, TG_USER, text)["message_id"])

    async def user_sends_file(self, caption: str, name: str, content: bytes) -> str:
        msg = self.tg.user_message(
            TG_GROUP,
            TG_USER,
            caption=f"@his_support_bot {caption}",
            document={"file_name": name, "content": content},
        )
        return str(msg["message_id"])

    def shown(self, ref: MessageRef) -> Shown:
        (sent,) = [
            s
            for s in self.tg.sent_messages(int(ref.chat_id))
            if str(s.message_id) == ref.message_id
        ]
        mentions = [str(e["user"]["id"]) for e in sent.entities if e["type"] == "text_mention"]
        reply_to = str(sent.reply_to) if sent.reply_to else None
        return Shown(sent.text or "", sent.callback_data, mentions, reply_to)

    async def press(self, ref: MessageRef, action: str) -> None:
        self.tg.callback_query(int(ref.chat_id), TG_USER, int(ref.message_id), action)

    def acknowledged(self, press: ButtonPress) -> list[str]:
        answer = self.tg.callback_answers.get(press.press_id)
        return [answer["text"]] if answer and answer.get("text") else []

    def throttle_next_sends(self, times: int) -> None:
        self.tg.fail_next("sendMessage", times, error_code=429, retry_after=1)

    async def remove_bot(self) -> ChatRef:
        self.tg.add_chat(TG_OTHER, title="检验科")
        self.tg.bot_removed(TG_OTHER, enqueue=False)
        return ChatRef("telegram", str(TG_OTHER))

    def sends(self) -> int:
        return len(self.tg.sent_messages())


@contextlib.asynccontextmanager
async def telegram() -> AsyncIterator[Platform]:
    async with FakeTelegram(token=TG_TOKEN) as tg:
        tg.add_chat(TG_GROUP, title="门诊信息科")
        settings = TelegramSettings(
            base_url=tg.base_url,
            base_file_url=tg.base_file_url,
            poll_timeout=1,
            network_backoff=0.01,
            group_per_minute=600,  # a roomy group bucket: pacing is not the contract
        )
        adapter = TelegramAdapter(tg.token, settings, logging.getLogger("test.contract.tg"))
        core = RecordingCore()
        await adapter.start(core.handlers())
        try:
            yield TelegramPlatform(tg, adapter, core)
        finally:
            await adapter.stop()


# ------------------------------------------------------------------ Slack

SLACK_CHANNEL, SLACK_OTHER, SLACK_NURSE, SLACK_ENGINEER = (
    "C0HOSP001",
    "C0HOSP002",
    "U0NURSE1",
    "U0ENG0001",
)


class SlackPlatform(Platform):
    name = "slack"
    group = ChatRef("slack", SLACK_CHANNEL)
    engineer = SLACK_ENGINEER

    def __init__(self, slack: FakeSlack, adapter: SlackAdapter, core: RecordingCore) -> None:
        self.slack, self.adapter, self.core = slack, adapter, core
        assert adapter.http_url is not None
        self.url = adapter.http_url

    async def _deliver(self, text: str, thread: str | None) -> str:
        event = self.slack.message_event(SLACK_CHANNEL, SLACK_NURSE, text, thread_ts=thread)
        await self.slack.deliver_event(self.url, event)
        return str(event["ts"])

    async def user_says(self, text: str, *, reply_to: MessageRef | None = None) -> str:
        # Slack has no reply-to-message: answering means writing in the message's thread.
        thread = None
        if reply_to is not None:
            root = self._posted(reply_to).thread_ts
            thread = root or reply_to.message_id
        return await self._deliver(f"<@{self.slack.bot_user_id}> {text}", thread)

    async def user_chats(self, text: str) -> str:
        return await self._deliver(text, None)

    async def user_sends_file(self, caption: str, name: str, content: bytes) -> str:
        event = self.slack.message_event(
            SLACK_CHANNEL,
            SLACK_NURSE,
            f"<@{self.slack.bot_user_id}> {caption}",
            files=[{"name": name, "content": content}],
        )
        await self.slack.deliver_event(self.url, event)
        return str(event["ts"])

    def _posted(self, ref: MessageRef) -> Any:
        (posted,) = [p for p in self.slack.posted(ref.chat_id) if p.ts == ref.message_id]
        return posted

    def shown(self, ref: MessageRef) -> Shown:
        posted = self._posted(ref)
        text = posted.block_text or posted.text
        mentions = re.findall(r"<@(U[A-Z0-9]+)>", text)
        return Shown(text, [a["value"] for a in posted.actions], mentions, posted.thread_ts)

    async def press(self, ref: MessageRef, action: str) -> None:
        posted = self._posted(ref)
        (action_id,) = [a["action_id"] for a in posted.actions if a["value"] == action]
        payload = self.slack.block_actions_payload(
            ref.chat_id, SLACK_NURSE, ref.message_id, action_id
        )
        await self.slack.deliver_interaction(self.url, payload)

    def acknowledged(self, press: ButtonPress) -> list[str]:
        return [
            e.text
            for e in self.slack.ephemeral
            if e.user == press.sender.user_id and e.channel == press.message.chat_id
        ]

    def throttle_next_sends(self, times: int) -> None:
        self.slack.fail_next("chat.postMessage", times, status=429, retry_after=0)

    async def remove_bot(self) -> ChatRef:
        await self.slack.deliver_event(self.url, self.slack.member_left_channel(SLACK_OTHER))
        await self.core.wait_until(lambda: self.core.events, what="the bot-removed event")
        return ChatRef("slack", SLACK_OTHER)

    def sends(self) -> int:
        return len(self.slack.posted())


@contextlib.asynccontextmanager
async def slack() -> AsyncIterator[Platform]:
    async with FakeSlack() as fake:
        for channel in (SLACK_CHANNEL, SLACK_OTHER):
            fake.add_channel(channel)
        fake.add_user(SLACK_NURSE, name="li.na", real_name="李娜", display_name="李护士")
        fake.add_user(SLACK_ENGINEER, name="wang.gong", real_name="王工", display_name="王工")
        settings = SlackSettings(
            mode="http",
            api_base_url=fake.api_url,
            http_port=0,
            post_interval=0.0,
            network_backoff=0.01,
            stop_timeout=2.0,
            connect_timeout=5.0,
        )
        adapter = SlackAdapter(
            fake.bot_token,
            settings,
            signing_secret=fake.signing_secret,
            app_token=fake.app_token,
            logger=logging.getLogger("test.contract.slack"),
        )
        core = RecordingCore()
        await adapter.start(core.handlers())
        try:
            yield SlackPlatform(fake, adapter, core)
        finally:
            await adapter.stop()


# ------------------------------------------------------------------ WeCom

WECOM_CREDS = [TenantCredentials("h001", "B1", "s1")]
#: WeCom's "invalid chatid" (the bot is no longer in that group).
WECOM_CHAT_GONE = 93006


class WeComPlatform(Platform):
    name = "wecom"
    group = ChatRef("wecom", "h001/g1")
    engineer = "h001/wanggong"
    lacks: ClassVar[Mapping[Capability, str]] = {
        Capability.UNADDRESSED: "WeCom delivers a group message to a bot only when it @s it",
        Capability.FILES: "the WeCom adapter takes text messages only (media is not modelled)",
    }

    def __init__(self, wc: FakeWeCom, adapter: WeComAdapter, core: RecordingCore) -> None:
        self.wc, self.adapter, self.core = wc, adapter, core
        self._asked: dict[str, str] = {}  # callback req_id → the message id it delivered

    async def user_says(self, text: str, *, reply_to: MessageRef | None = None) -> str:
        quote = self.shown(reply_to).text if reply_to else None
        frame = await self.wc.user_message("B1", "nurse", text, chatid="g1", quote=quote)
        self._asked[frame["headers"]["req_id"]] = frame["body"]["msgid"]
        return str(frame["body"]["msgid"])

    def _parts(self, ref: MessageRef) -> list[Any]:
        raw = ref.chat_id.partition("/")[2]
        return [
            s
            for s in self.wc.sent_to(raw)
            if s.task_id == ref.message_id
            or (s.content and message_id_for(ref.chat_id, s.content) == ref.message_id)
        ]

    def shown(self, ref: MessageRef) -> Shown:
        parts = self._parts(ref)
        assert parts, f"nothing of {ref} in the chat: {self.wc.describe()}"
        texts = [p.content for p in parts if p.content]
        actions: list[str] = []
        for p in parts:
            shared = [u for u in p.updates if not u.get("userids")]
            card = shared[-1] if shared else p.card
            if card:
                texts.append(card_text(card))
                actions = [str(b["key"]) for b in card.get("button_list") or []]
        text = "\n".join(texts)
        mentions = [f"h001/{u}" for u in re.findall(r"<@([\w.-]+)>", text)]
        return Shown(text, actions, mentions, self._asked.get(parts[0].req_id))

    async def press(self, ref: MessageRef, action: str) -> None:
        (card,) = [p for p in self._parts(ref) if p.card]
        await self.wc.press("B1", "nurse", card, action)

    def acknowledged(self, press: ButtonPress) -> list[str]:
        return [
            str(u.get("sub_title_text"))
            for p in self._parts(press.message)
            for u in p.updates
            if u.get("userids")
        ]

    def throttle_next_sends(self, times: int) -> None:
        self.wc.fail_next("aibot_send_msg", 45009, times=times)

    async def remove_bot(self) -> ChatRef:
        self.wc.fail_next("aibot_send_msg", WECOM_CHAT_GONE)
        return ChatRef("wecom", "h001/g2")

    def sends(self) -> int:
        return len(self.wc.sent)


@contextlib.asynccontextmanager
async def wecom() -> AsyncIterator[Platform]:
    async with FakeWeCom() as fake:
        for c in WECOM_CREDS:
            fake.add_bot(c.bot_id, c.secret)
        settings = dataclasses.replace(
            WeComSettings(ws_url=fake.ws_url),
            reconnect_initial=0.02,
            reconnect_max=0.1,
            rate_limit_wait=0.01,
            chat_per_minute=6000,
            bot_per_minute=60000,
        )
        adapter = WeComAdapter(settings, WECOM_CREDS)
        core = RecordingCore()
        await adapter.start(core.handlers())
        try:
            yield WeComPlatform(fake, adapter, core)
        finally:
            await adapter.stop()


#: Every platform the contract runs against.
PLATFORMS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Platform]]] = {
    "telegram": telegram,
    "slack": slack,
    "wecom": wecom,
    "dingtalk": dingtalk,
}
