"""The DingTalk adapter (the real dingtalk-stream frame model, websockets, aiohttp) against the
fake DingTalk on 127.0.0.1: frames, acks, webhooks, proactive sends, limits, zombies. What every
adapter owes the core (rendering, presses, quotes, retries) is in tests/contract."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from adapters.base import (  # noqa: E402
    ButtonPress,
    ChatEvent,
    ChatRef,
    Citation,
    CoreHandlers,
    IncomingMessage,
    Reply,
)
from adapters.dingtalk.adapter import DingTalkAdapter  # noqa: E402
from adapters.dingtalk.settings import (  # noqa: E402
    DingTalkSettings,
    DingTalkTenant,
    TenantCredentials,
)
from adapters.dingtalk.stream import State  # noqa: E402
from tests.fakes.dingtalk_api import FakeDingTalk, VirtualClock  # noqa: E402

H1, H2 = "cidH1group", "cidH2group"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.presses: list[ButtonPress] = []
        self.fail_next = 0
        self.failed = asyncio.Event()

    async def on_message(self, msg: IncomingMessage) -> None:
        if self.fail_next:
            self.fail_next -= 1
            self.failed.set()
            raise RuntimeError("the core failed")
        self.messages.append(msg)

    async def on_button(self, press: ButtonPress) -> None:
        self.presses.append(press)

    async def on_chat_event(self, event: ChatEvent) -> None:
        pass

    def handlers(self) -> CoreHandlers:
        return CoreHandlers(self.on_message, self.on_button, self.on_chat_event)


def tenant(name: str) -> DingTalkTenant:
    return DingTalkTenant(name, f"DT_{name.upper()}_ID", f"DT_{name.upper()}_SECRET")


def make_settings(fake: FakeDingTalk, *names: str, **overrides: object) -> DingTalkSettings:
    values: dict[str, object] = {
        "api_base": fake.base_url,
        "tenants": tuple(tenant(n) for n in names),
        "connect_timeout": 5.0,
        "reconnect_backoff": 0.05,
        "reconnect_max": 0.2,
        "network_backoff": 0.01,
    }
    values.update(overrides)
    return DingTalkSettings(**values)  # type: ignore[arg-type]


def creds(fake: FakeDingTalk, *names: str) -> dict[str, TenantCredentials]:
    out = {}
    for n in names:
        t = fake.tenants[n]
        out[n] = TenantCredentials(t.client_id, t.secret, t.client_id)
    return out


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as dt:
        dt.add_tenant("h001")
        dt.add_tenant("h002")
        yield dt


Started = Callable[..., Awaitable[tuple[DingTalkAdapter, Recorder]]]


@pytest.fixture
async def started(fake: FakeDingTalk) -> AsyncIterator[Started]:
    adapters: list[DingTalkAdapter] = []

    async def start(
        *names: str, clock: object = None, **overrides: object
    ) -> tuple[DingTalkAdapter, Recorder]:
        names = names or ("h001", "h002")
        adapter = DingTalkAdapter(
            make_settings(fake, *names, **overrides),
            creds(fake, *names),
            clock=clock,  # type: ignore[arg-type]
        )
        recorder = Recorder()
        await adapter.start(recorder.handlers())
        adapters.append(adapter)
        return adapter, recorder

    yield start
    for adapter in adapters:
        await adapter.stop()


async def test_a_reply_goes_through_the_sessionwebhook_and_ats_the_asker(
    fake: FakeDingTalk, started: Started
) -> None:
    """The DingTalk side of the contract's answer: the asking message's sessionWebhook, the
    asker @-ed in text and atUserIds, the frame acknowledged only once the core returned."""
    adapter, core = await started()
    data = fake.user_message("h001", H1, "nurse01", "医保结算报错2304", nick="护士小张")
    await fake.wait_until(lambda: core.messages)
    msg = core.messages[0]
    assert msg.message_id == data["msgId"] and msg.sender.display_name == "护士小张"
    await fake.wait_until(lambda: len(fake.acks) == 1)
    (ack,) = fake.acks.values()
    assert ack["code"] == 200

    ref = await adapter.send(
        Reply(
            chat=msg.chat,
            text="请按以下步骤处理",
            reply_to=msg.message_id,
            citation=Citation("hb-002", "医保结算", "http://kb/hb-002"),
        )
    )
    sent = await fake.wait_for_sent(lambda m: m.chat_id == f"h001/{H1}")
    assert sent.via == "webhook" and sent.at_user_ids == ["nurse01"]
    assert sent.text.startswith("@nurse01 请按以下步骤处理") and "http://kb/hb-002" in sent.text
    assert ref.chat_id == f"h001/{H1}"


async def test_a_redelivered_frame_is_acknowledged_again_and_failures_stay_unacknowledged(
    fake: FakeDingTalk, started: Started
) -> None:
    """The adapter passes every frame on (the core's inbox drops a second copy of a msgId)
    and acknowledges it once the core returned; a core that raised leaves it unacknowledged."""
    _, core = await started()
    data = fake.user_message("h001", H1, "nurse01", "打印机坏了")
    await fake.wait_until(lambda: len(fake.acks) == 1)
    again = fake.deliver("h001", "/v1.0/im/bot/messages/get", data)  # same msgId, new frame
    await fake.wait_until(lambda: again in fake.acks)
    assert [m.message_id for m in core.messages] == [data["msgId"]] * 2

    core.fail_next = 1
    failing = fake.user_message("h001", H1, "nurse02", "收费处打不开")
    await asyncio.wait_for(core.failed.wait(), 5)
    assert not any(m.message_id == failing["msgId"] for m in core.messages)
    assert len(fake.acks) == 2  # the failed frame was not acknowledged
    # the platform delivers it again (here: the same data re-sent); now it gets through
    retry = fake.deliver("h001", "/v1.0/im/bot/messages/get", failing)
    await fake.wait_until(lambda: retry in fake.acks)
    assert [m.message_id for m in core.messages].count(failing["msgId"]) == 1


async def test_expired_webhook_falls_back_to_the_proactive_api(
    fake: FakeDingTalk, started: Started
) -> None:
    adapter, core = await started()
    fake.webhook_ttl_ms = -1000  # the message arrives with an already expired webhook
    fake.user_message("h001", H1, "nurse01", "问题一")
    await fake.wait_until(lambda: core.messages)
    await adapter.send(
        Reply(chat=core.messages[0].chat, text="答复一", reply_to=core.messages[0].message_id)
    )
    sent = await fake.wait_for_sent(lambda m: "答复一" in m.text)
    assert sent.via == "group"
    assert not fake.calls_to("/robot/sendBySession")

    # valid by its timestamp, refused by DingTalk: also sent proactively
    fake.webhook_ttl_ms = 3_600_000
    fake.expire_webhooks = True
    fake.user_message("h001", H1, "nurse01", "问题二")
    await fake.wait_until(lambda: len(core.messages) == 2)
    await adapter.send(
        Reply(chat=core.messages[1].chat, text="答复二", reply_to=core.messages[1].message_id)
    )
    sent = await fake.wait_for_sent(lambda m: "答复二" in m.text)
    assert sent.via == "group" and len(fake.calls_to("/robot/sendBySession")) == 1


async def test_direct_messages_go_through_batch_send(fake: FakeDingTalk, started: Started) -> None:
    adapter, core = await started()
    await adapter.send(Reply(chat=ChatRef("dingtalk", "h001/eng07"), text="P1 工单待处理"))
    sent = await fake.wait_for_sent(lambda m: m.via == "dm")
    assert sent.chat_id == "h001/eng07" and sent.text == "P1 工单待处理"
    # the access token is cached; one revoked early is fetched anew once
    await adapter.send(Reply(chat=ChatRef("dingtalk", "h001/eng07"), text="第二条"))
    assert len(fake.calls_to("/v1.0/oauth2/accessToken")) == 1
    fake.tenants["h001"].tokens.clear()
    await adapter.send(Reply(chat=ChatRef("dingtalk", "h001/eng07"), text="第三条"))
    assert [c.status for c in fake.calls_to("/batchSend")] == [200, 200, 401, 200]
    assert len(fake.calls_to("/v1.0/oauth2/accessToken")) == 2
    # a DM from a user arrives as a private chat addressed to the bot
    fake.user_message("h001", None, "eng07", "收到")
    await fake.wait_until(lambda: core.messages)
    assert core.messages[0].chat.chat_id == "h001/eng07" and core.messages[0].mentions_bot


async def test_a_tenant_with_wrong_credentials_is_named_and_the_others_run(
    fake: FakeDingTalk, caplog: pytest.LogCaptureFixture
) -> None:
    names = ("h001", "h002")
    credentials = creds(fake, *names)
    credentials["h002"] = TenantCredentials("dingh002", "wrong-secret", "dingh002")
    adapter = DingTalkAdapter(make_settings(fake, *names), credentials)
    core = Recorder()
    await adapter.start(core.handlers())
    try:
        assert adapter.tenant_states() == {"h001": State.CONNECTED, "h002": State.REFUSED}
        assert "h002" in caplog.text and "refused" in caplog.text
        fake.user_message("h001", H1, "nurse01", "还能用吗")
        await fake.wait_until(lambda: core.messages)
    finally:
        await adapter.stop()


async def test_a_silent_connection_is_reconnected_by_the_watchdog(
    fake: FakeDingTalk, started: Started
) -> None:
    adapter, core = await started("h001", ping_interval=0.05, liveness_timeout=0.2)
    stream = adapter.stream("h001")
    fake.go_silent("h001")
    fake.user_message("h001", H1, "nurse01", "在吗")  # held back by the zombie
    await fake.wait_until(lambda: core.messages, timeout=5)
    assert stream.zombies == 1 and stream.connections == 2
    assert fake.live_connections("h001") == 1
    await adapter.stop()
    await fake.wait_until(lambda: fake.live_connections("h001") == 0)


async def test_server_pings_and_disconnects_are_answered(
    fake: FakeDingTalk, started: Started
) -> None:
    _, core = await started("h001")
    ping = fake.system("h001", "ping")
    await fake.wait_until(lambda: ping in fake.acks)
    assert '"opaque"' in fake.acks[ping]["data"]
    fake.system("h001", "disconnect")
    await fake.wait_until(lambda: len(fake.tenants["h001"].connections) == 2)
    fake.user_message("h001", H1, "nurse01", "重连后")
    await fake.wait_until(lambda: core.messages)


async def test_broadcast_across_tenants_keeps_the_limits(
    fake: FakeDingTalk, started: Started
) -> None:
    clock = VirtualClock()
    fake.clock = clock.monotonic
    fake.enforce_limits = True
    names = ("h001", "h002", "h003")
    fake.add_tenant("h003")
    adapter, _ = await started(*names, clock=clock)
    groups = [ChatRef("dingtalk", f"{names[i % 3]}/cidg{i:04d}") for i in range(300)]
    refs = await asyncio.gather(*(adapter.send(Reply(chat=g, text="升级通知")) for g in groups))
    assert len({r.chat_id for r in refs}) == 300
    delivered = [m.chat_id for m in fake.sent]
    assert sorted(delivered) == sorted(g.chat_id for g in groups)  # none lost, none twice
    assert fake.violations == 0
    # 100 groups a tenant at 20 calls/s: at least ~5 s of (virtual) time
    assert clock.now - 1000.0 >= 100 / 20 - 1

    # a group's 21st message within a minute waits for the window
    before = clock.now
    for i in range(21):
        await adapter.send(Reply(chat=groups[0], text=f"第{i}条"))
    assert clock.now - before >= 60 - 1e-6 and fake.violations == 0


async def test_429_is_retried_after_retry_after(fake: FakeDingTalk, started: Started) -> None:
    clock = VirtualClock()
    adapter, _ = await started("h001", clock=clock)
    fake.throttle_next(2)
    await adapter.send(Reply(chat=ChatRef("dingtalk", f"h001/{H1}"), text="限流后送达"))
    assert [m.text for m in fake.sent] == ["限流后送达"]
    assert [c.status for c in fake.calls_to("/groupMessages/send")] == [429, 429, 200]
    assert clock.now - 1000.0 >= 2.0


async def test_a_restarted_adapter_gets_what_the_stopped_one_left_unacknowledged(
    fake: FakeDingTalk,
) -> None:
    settings = make_settings(fake, "h001", stop_timeout=0.05)
    first = DingTalkAdapter(settings, creds(fake, "h001"))
    blocked = asyncio.Event()

    async def stuck(msg: IncomingMessage) -> None:
        blocked.set()
        await asyncio.Event().wait()  # the process "dies" while handling it

    stuck_core = Recorder()
    stuck_core.on_message = stuck  # type: ignore[method-assign]
    await first.start(stuck_core.handlers())
    data = fake.user_message("h001", H1, "nurse01", "处理中被重启")
    await asyncio.wait_for(blocked.wait(), 5)
    await first.stop()
    assert fake.live_connections("h001") == 0 and not fake.acks

    second = DingTalkAdapter(settings, creds(fake, "h001"))
    core = Recorder()
    await second.start(core.handlers())
    try:
        await fake.wait_until(lambda: len(fake.acks) == 1)
        assert [m.message_id for m in core.messages] == [data["msgId"]]
        assert fake.live_connections("h001") == 1
    finally:
        await second.stop()


async def test_frames_reach_the_core_in_arrival_order_each_acknowledged_after_it(
    fake: FakeDingTalk, started: Started
) -> None:
    """One tenant's frames are handed on one at a time, in the order they came (the inbox
    stores them in that order), and none is acknowledged before its handler returned."""
    adapter, core = await started("h001")
    release = asyncio.Event()
    handled: list[str] = []

    async def first_slow(msg: IncomingMessage) -> None:
        if not handled:
            await release.wait()
        handled.append(msg.text)

    core.on_message = first_slow  # type: ignore[method-assign]
    adapter._handlers = core.handlers()  # the recorder's handlers, now with the slow one
    sent = [
        fake.user_message("h001", group, "nurse01", f"{group}-{i}")
        for i in range(3)
        for group in (H1, H2)
    ]
    await fake.wait_until(lambda: fake.frames_sent >= len(sent))
    assert handled == [] and fake.acks == {}  # all wait behind the first, none acknowledged
    release.set()
    await fake.wait_until(lambda: len(fake.acks) == len(sent))
    assert handled == [f"{group}-{i}" for i in range(3) for group in (H1, H2)]
