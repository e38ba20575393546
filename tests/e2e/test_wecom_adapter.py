"""The WeCom adapter alone against the fake WeCom server: connection life (watchdog, being
replaced, clean stop), arrival order, rate limits. Short configurable timeouts; every
wait is event-driven (``wait_until``), nothing asserts on wall-clock time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from adapters.base import (
    Button,
    ButtonPress,
    ChatEvent,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    InboxUnavailable,
    IncomingMessage,
    Reply,
)
from adapters.wecom.adapter import WeComAdapter
from adapters.wecom.settings import TenantCredentials, WeComSettings
from tests.fakes.wecom_api import RATE_LIMITED, FakeWeCom

CREDS = [
    TenantCredentials("h001", "B1", "s1"),
    TenantCredentials("h002", "B2", "s2"),
    TenantCredentials("h003", "B3", "s3"),
]


class Core:
    """Records what the adapter hands the core (and wakes the fake's waiters); ``fail`` makes
    on_message raise."""

    def __init__(self, wc: FakeWeCom) -> None:
        self.messages: list[IncomingMessage] = []
        self.presses: list[ButtonPress] = []
        #: on_message raises ``InboxUnavailable`` this many times (the database is away)
        self.unavailable = 0
        self._wc = wc

    async def on_message(self, message: IncomingMessage) -> None:
        self._wc.notify()
        if self.unavailable:
            self.unavailable -= 1
            raise InboxUnavailable("database away")
        self.messages.append(message)

    async def on_button(self, press: ButtonPress) -> None:
        self.presses.append(press)
        self._wc.notify()

    async def on_chat_event(self, event: ChatEvent) -> None:
        pass

    def handlers(self) -> CoreHandlers:
        return CoreHandlers(self.on_message, self.on_button, self.on_chat_event)


@pytest.fixture
async def wc() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as fake:
        for c in CREDS:
            fake.add_bot(c.bot_id, c.secret)
        yield fake


def wecom_settings(wc: FakeWeCom, **kw: object) -> WeComSettings:
    base = WeComSettings(
        ws_url=wc.ws_url,
        heartbeat_seconds=5.0,
        liveness_timeout=30.0,
        reconnect_initial=0.02,
        reconnect_max=0.1,
        rate_limit_wait=0.01,
        chat_per_minute=6000,
        bot_per_minute=60000,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def started(wc: FakeWeCom) -> AsyncIterator[tuple[WeComAdapter, Core]]:
    adapter, core = WeComAdapter(wecom_settings(wc), CREDS), Core(wc)
    await adapter.start(core.handlers())
    try:
        yield adapter, core
    finally:
        await adapter.stop()


async def test_a_silent_connection_is_reopened_by_the_watchdog(wc: FakeWeCom) -> None:
    # a watchdog of 0.3 s, heartbeats every 0.05 s
    settings = wecom_settings(wc, heartbeat_seconds=0.05, liveness_timeout=0.3)
    adapter, core = WeComAdapter(settings, CREDS), Core(wc)
    await adapter.start(core.handlers())
    try:
        wc.silence("B1")  # open, but nothing comes back: no pong, no callbacks
        await wc.wait_until(lambda: wc.bots["B1"].connections == 2, what="B1 reconnected")
        await wc.user_message("B1", "nurse", "还在吗，床位费多算了", chatid="g1")
        await wc.wait_until(lambda: core.messages, what="message after the reconnect")
        assert core.messages[0].chat == ChatRef("wecom", "h001/g1")
        assert adapter.connections["h001"].connects == 2
        assert wc.bots["B2"].kicked == 0  # the other tenants were not touched
    finally:
        await adapter.stop()


async def test_a_second_process_replaces_the_first_without_a_reconnect_fight(
    started: tuple[WeComAdapter, Core], wc: FakeWeCom
) -> None:
    first, _ = started
    second_core = Core(wc)
    second = WeComAdapter(wecom_settings(wc), CREDS[:1])
    await second.start(second_core.handlers())
    try:
        conn = first.connections["h001"]
        runner = conn._runner
        assert runner is not None
        await asyncio.wait_for(runner, 10)  # the first gave up the bot instead of reconnecting
        assert conn.replaced
        await wc.user_message("B1", "nurse", "床位费多算了", chatid="g1")
        await wc.wait_until(lambda: second_core.messages, what="delivered to the second")
        assert wc.bots["B1"].connections == 2 and wc.bots["B1"].kicked == 1
        with pytest.raises(DeliveryError):  # the first cannot send for the bot any more
            await first.send(Reply(ChatRef("wecom", "h001/g1"), "x"))
    finally:
        await second.stop()
    await wc.wait_until(lambda: wc.bots["B1"].ws is None, what="closed cleanly on stop")


async def test_callbacks_reach_the_core_in_arrival_order_and_wait_while_it_cannot_store(
    started: tuple[WeComAdapter, Core], wc: FakeWeCom
) -> None:
    """WeCom has no acknowledgement to withhold: a callback the inbox could not store waits in
    the adapter, ahead of the later ones, until it is stored; a re-delivery is passed on
    (the core's inbox drops it by msgid)."""
    _, core = started
    core.unavailable = 1  # the database is away for one attempt (the next is 0.5 s later)
    frame = await wc.user_message("B2", "nurse", "打印机报错", chatid="g2")
    await wc.user_message("B2", "nurse", "标记", chatid="g2")
    await wc.wait_until(lambda: len(core.messages) == 2, what="both, once stored")
    assert [m.text for m in core.messages] == ["打印机报错", "标记"]
    assert core.messages[0].message_id == frame["body"]["msgid"]
    await wc.deliver("B2", frame)  # WeCom re-delivers: the inbox's key is the msgid
    await wc.wait_until(lambda: len(core.messages) == 3, what="the re-delivery")
    assert core.messages[2].message_id == frame["body"]["msgid"]


async def test_rate_limit_errcodes_are_waited_out(
    started: tuple[WeComAdapter, Core], wc: FakeWeCom
) -> None:
    adapter, _ = started
    wc.fail_next("aibot_send_msg", RATE_LIMITED, times=2)
    ref = await adapter.send(Reply(ChatRef("wecom", "h003/wanggong"), "工单 #2026-000001 已受理"))
    assert [c.status for c in wc.calls_to("aibot_send_msg")] == [RATE_LIMITED, RATE_LIMITED, 0]
    assert wc.sent_to("wanggong")[0].content.endswith("已受理")  # a DM: chatid is the userid
    assert ref.chat_id == "h003/wanggong"
    wc.fail_next("aibot_send_msg", RATE_LIMITED, times=9)
    with pytest.raises(DeliveryError) as info:
        await adapter.send(Reply(ChatRef("wecom", "h003/wanggong"), "再试"))
    assert not info.value.permanent


async def test_a_broadcast_across_tenants_stays_within_the_limits(wc: FakeWeCom) -> None:
    # the fake refuses more than 20 sends per chat or 40 per bot in any 1-second window; the
    # adapter is set a little under it (30/s + a burst of 5): set exactly at the limit, a send
    # delayed on a loaded machine lands in the next window beside its successors
    wc.chat_per_minute, wc.bot_per_minute, wc.time_scale = 20, 40, 1 / 60
    settings = wecom_settings(wc, bot_per_minute=30 * 60, bot_burst=5, chat_per_minute=60 * 10)
    adapter, core = WeComAdapter(settings, CREDS), Core(wc)
    await adapter.start(core.handlers())
    try:
        groups = [(c.tenant, f"grp{c.tenant}-{i}") for c in CREDS for i in range(50)]
        results = await asyncio.gather(
            *(
                adapter.send(Reply(ChatRef("wecom", f"{t}/{g}"), "【通知】本周五 22:00 升级"))
                for t, g in groups
            )
        )
    finally:
        await adapter.stop()
    assert len(results) == 150 and wc.rate_limited == 0
    delivered = sorted(m.chatid for m in wc.sent)
    assert delivered == sorted(g for _, g in groups)  # every group exactly once


async def test_malformed_frames_are_ignored_and_the_connection_lives_on(
    started: tuple[WeComAdapter, Core], wc: FakeWeCom
) -> None:
    adapter, core = started
    for body in (
        {"msgid": "bad1", "from": "nurse", "msgtype": "text", "text": "not a table"},
        {"msgid": "bad2", "chattype": "group", "from": {"userid": 7}, "msgtype": "text"},
        [1, 2, 3],
        {"msgid": "bad3", "msgtype": "event", "event": {"eventtype": "template_card_event"}},
    ):
        await wc.deliver(
            "B1", {"cmd": "aibot_msg_callback", "headers": {"req_id": "r"}, "body": body}
        )
        await wc.deliver("B1", {"cmd": "aibot_event_callback", "headers": {}, "body": body})
    await wc.user_message("B1", "nurse", "床位费多算了", chatid="g1")
    await wc.wait_until(lambda: core.messages, what="the valid message")
    assert [m.text for m in core.messages] == ["床位费多算了"] and not core.presses
    assert adapter.connections["h001"].connects == 1


async def test_past_the_reply_window_replies_go_proactively_and_cards_stay(
    wc: FakeWeCom,
) -> None:
    # windows of a nanosecond: every req_id is too old by the time the core answers
    settings = wecom_settings(wc, reply_window=1e-9, card_update_window=1e-9)
    adapter, core = WeComAdapter(settings, CREDS[:1]), Core(wc)
    await adapter.start(core.handlers())
    try:
        frame = await wc.user_message("B1", "nurse", "床位费多算了", chatid="g1")
        await wc.wait_until(lambda: core.messages, what="the question")
        question = core.messages[0]
        ref = await adapter.send(
            Reply(
                question.chat,
                "请核对入院时间",
                reply_to=question.message_id,
                buttons=((Button("已解决", "s:1"),),),
            )
        )
        assert wc.calls_to("aibot_respond_msg") == []  # not even tried
        text, card = wc.sent_to("g1")
        assert text.via == "send" and "<@nurse>" in text.content  # the asker is quoted anyway
        assert card.task_id == ref.message_id  # a press names the message the core knows
        await wc.press("B1", "nurse", card, "s:1")
        await wc.wait_until(lambda: core.presses, what="the press")
        with pytest.raises(DeliveryError, match="5 s"):
            await adapter.edit(core.presses[0].message, Reply(question.chat, "✔ 已解决"))
        assert card.updates == [] and frame["body"]["msgid"] == question.message_id
    finally:
        await adapter.stop()


async def test_wecom_unreachable_at_start_is_retried_in_the_background(wc: FakeWeCom) -> None:
    wc.down = True
    adapter, core = WeComAdapter(wecom_settings(wc), CREDS[:2]), Core(wc)
    await adapter.start(core.handlers())  # does not hang, does not fail the bot
    try:
        assert adapter.failed == {} and sorted(adapter.connections) == ["h001", "h002"]
        with pytest.raises(DeliveryError) as info:  # not connected yet: worth retrying
            await adapter.send(Reply(ChatRef("wecom", "h001/g1"), "x"))
        assert not info.value.permanent
        wc.down = False
        for conn in adapter.connections.values():
            await asyncio.wait_for(conn.wait_connected(), 10)
        await wc.user_message("B2", "nurse", "床位费多算了", chatid="g2")
        await wc.wait_until(lambda: core.messages, what="the message")
    finally:
        await adapter.stop()
