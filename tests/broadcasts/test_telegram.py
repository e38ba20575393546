"""Broadcasts through the real ``TelegramAdapter`` (python-telegram-bot) against the fake Bot
API on 127.0.0.1: 429 storms and 5xx, a kill between sending and recording, a group the bot
was removed from, acknowledgement buttons pressed in Telegram, and a broadcast under
Telegram's real limits that leaves room for normal replies. (Slack: ``test_slack.py``.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from adapters.base import ChatRef, CoreHandlers, MessageRef, OnRelease, Reply
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSettings
from bot.broadcasts import (
    AdapterTransport,
    Broadcasts,
    BroadcastSettings,
    BroadcastStore,
    Targets,
    WaveKind,
)
from bot.broadcasts.models import delivery_key
from bot.inbox.sending import SendsReplies
from bot.registry import RegistryStore
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    FakeClock,
    SimulatedCrash,
    patch_draft,
    pressed,
)
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "123456:TEST-token"
GROUPS = [-1002000 - i for i in range(1, 13)]  # hospitals g01..g12, region 东北
NURSE = 7001


@pytest.fixture
def northeast(registry: RegistryStore) -> list[int]:
    for i, chat in enumerate(GROUPS, 1):
        registry.add_hospital(f"g{i:02d}", f"东北医院{i}", "东北", "5.2.1", ["门诊"])
        registry.add_chat("telegram", chat, f"g{i:02d}", f"东北{i}")
    return GROUPS


class Current:
    """The ``Broadcasts`` of the running "process" (replaced by a restart)."""

    bc: Broadcasts | None = None


async def _noop(_: Any) -> None:
    return None


async def start_adapter(tg: FakeTelegram, current: Current, **overrides: Any) -> TelegramAdapter:
    values: dict[str, Any] = {
        "base_url": tg.base_url,
        "base_file_url": tg.base_file_url,
        "poll_timeout": 1,
        "max_retries": 0,  # a 429 reaches the outbox at once (PTB's own retry sleeps retry_after)
        "network_retries": 1,
        "network_backoff": 0.01,
    }
    settings = TelegramSettings(**{**values, **overrides})
    adapter = TelegramAdapter(TOKEN, settings)

    async def on_button(press: Any) -> None:
        assert current.bc is not None
        await pressed(current.bc, press)

    await adapter.start(CoreHandlers(_noop, on_button, _noop))
    return adapter


@pytest.fixture
async def tg(northeast: list[int]) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        for chat in [int(DESK.chat_id), -1001001, -1001002, -1001003, *northeast]:
            fake.add_chat(chat, chat_type="supergroup")
        yield fake


@pytest.fixture
async def adapter(tg: FakeTelegram) -> AsyncIterator[tuple[TelegramAdapter, Current]]:
    current = Current()
    a = await start_adapter(tg, current)
    try:
        yield a, current
    finally:
        await a.stop()


def make(
    engine: Engine, registry: RegistryStore, clock: FakeClock, transport: Any, **settings: Any
) -> Broadcasts:
    s = BroadcastSettings(
        **{"telegram_chat_interval": 0.0, "retry_delays": ("30s", "2m"), **settings}
    )
    return Broadcasts(BroadcastStore(engine, registry, clock, s), transport, (DESK,))


async def confirmed(bc: Broadcasts, targets: str = "region=东北") -> int:
    notice = bc.store.create(patch_draft(Targets.parse(targets)), BROADCASTER)
    assert notice.id is not None
    assert await bc.broadcaster.send_test(notice.id, BROADCASTER) == "sent"
    bc.store.confirm(notice.id, BROADCASTER)
    return notice.id


def once_each(tg: FakeTelegram, chats: list[int]) -> dict[int, int]:
    """Chats that did not get exactly one message, with their counts."""
    counts = {c: len(tg.sent_messages(c)) for c in chats}
    return {c: n for c, n in counts.items() if n != 1}


async def test_429_storm_and_5xx_every_group_gets_it_exactly_once(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    tg: FakeTelegram,
    adapter: tuple[TelegramAdapter, Current],
) -> None:
    a, current = adapter
    bc = current.bc = make(engine, registry, clock, AdapterTransport([a]))
    notice_id = await confirmed(bc, "region=东北,华东")  # h001 also has a Slack channel
    tg.fail_next("sendMessage", 6, error_code=429, retry_after=1)
    tg.fail_next("sendMessage", 3, error_code=502)
    for _ in range(4):
        await bc.broadcaster.process_once()
        clock.advance(minutes=3)
    assert once_each(tg, [*GROUPS, -1001001, -1001003]) == {}
    rows = {d.chat_id: d for d in bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN)}
    assert (
        rows["C001"].status == "failed"
        and rows["C001"].last_error == "no adapter for platform slack"
    )
    retried = [d for d in rows.values() if d.attempts > 1]
    assert len(retried) >= 6 and all(d.status == "sent" for d in retried)
    assert sum(1 for c in tg.calls_to("sendMessage") if c.status == 429) == 6
    assert sum(1 for c in tg.calls_to("sendMessage") if c.status == 502) == 3
    assert bc.store.get(notice_id).status == "sent"


async def test_kill_between_sending_and_recording_does_not_duplicate(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    tg: FakeTelegram,
    adapter: tuple[TelegramAdapter, Current],
) -> None:
    a, current = adapter
    victim = str(GROUPS[4])

    class DiesAfterTheCall:
        """The adapter, but the process dies once Telegram accepted the victim's notice."""

        async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
            ref = await a.send_released(reply, on_release)  # Telegram has the message now...
            if reply.chat.chat_id == victim:
                raise SimulatedCrash(victim)  # ...and the process dies before recording it
            return ref

        async def send(self, reply: Reply) -> MessageRef:
            raise AssertionError("the adapter releases its sends: send_released is used")

    class Dying(AdapterTransport):
        def sender(self, chat: ChatRef) -> SendsReplies:
            return DiesAfterTheCall()

    first = current.bc = make(engine, registry, clock, Dying([a]))
    notice_id = await confirmed(first)
    with pytest.raises(SimulatedCrash):
        await first.broadcaster.process_once()
    assert len(tg.sent_messages(int(victim))) == 1
    rows = {d.chat_id: d for d in first.store.deliveries.of_notice(notice_id, WaveKind.MAIN)}
    key = delivery_key(rows[victim])

    def only_the_victim_unrecorded() -> bool:
        """Every other group's send recorded, the victim's on the wire in the one outbox (the
        delivery is only the plan: queued). Waiting for "nothing in flight but the victim" was
        not enough: a send still waiting in the limiter then claimed its row under load."""
        states = {
            chat: row.state if (row := first.store.sends.get(delivery_key(d))) else None
            for chat, d in rows.items()
        }
        others = [state for chat, state in states.items() if chat != victim]
        return states[victim] == "sending" and all(state == "sent" for state in others)

    # the test's "process" cannot stop its other tasks: let them land, so that only the
    # victim is caught mid-way (a real kill leaves every in-flight row so: the benchmark)
    await tg.wait_until(only_the_victim_unrecorded, what="only the victim unrecorded")

    second = current.bc = make(engine, registry, clock, AdapterTransport([a]))  # the restart
    assert await second.broadcaster.start(worker=False) == 1  # found on the wire: unknown
    assert first.store.sends.get(key).state == "unknown"  # type: ignore[union-attr]
    for _ in range(3):
        await second.broadcaster.process_once()
        clock.advance(minutes=5)
    assert once_each(tg, GROUPS) == {}  # the fake's record: nobody got it twice, nobody missed it
    assert "无法确认是否送达" in (tg.sent_messages(int(DESK.chat_id))[-1].text or "")

    # a nurse presses 已知悉 in Telegram: the delivery is proven and gets its message id
    [msg] = tg.sent_messages(int(victim))
    tg.callback_query(int(victim), NURSE, msg.message_id, msg.callback_data[0], first_name="护士")
    await tg.wait_for_call("answerCallbackQuery")
    [row] = [
        d
        for d in second.store.deliveries.of_notice(notice_id, WaveKind.MAIN)
        if d.chat_id == victim
    ]
    assert (row.status, row.message_id) == ("sent", str(msg.message_id))
    proven = second.store.sends.get(key)
    assert proven is not None and (proven.state, proven.message_id) == ("sent", row.message_id)


async def test_a_notice_waiting_in_the_limiter_at_a_kill_is_sent_once_by_the_restart(
    engine: Engine, registry: RegistryStore, clock: FakeClock, tg: FakeTelegram
) -> None:
    """The victim group had a message moments ago, so its notice waits in the adapter's rate
    limiter (one message a minute to a group) when the process is killed. It never left:
    queued in the outbox, not 'unknown'; the restart sends it, exactly once."""
    victim = GROUPS[4]
    current = Current()
    a = await start_adapter(tg, current, group_per_minute=1, group_burst=1)
    try:
        await a.send(Reply(ChatRef("telegram", str(victim)), "稍早的一条消息"))
        first = current.bc = make(engine, registry, clock, AdapterTransport([a]))
        notice_id = await confirmed(first)
        assert await first.broadcaster.fire_due() == 1
        rows = {d.chat_id: d for d in first.store.deliveries.of_notice(notice_id, WaveKind.MAIN)}
        key = delivery_key(rows[str(victim)])
        killed = asyncio.create_task(first.broadcaster.process_once())

        def states() -> dict[str, str | None]:
            found = {c: first.store.sends.get(delivery_key(d)) for c, d in rows.items()}
            return {c: row.state if row else None for c, row in found.items()}

        # the test's "process" cannot stop its other tasks: let them land first
        expected = {c: "queued" if c == str(victim) else "sent" for c in rows}
        await tg.wait_until(
            lambda: states() == expected,
            what="every other group sent, the victim's notice in the limiter",
        )
        killed.cancel()  # kill -9: nothing after this point of the round runs
        with contextlib.suppress(asyncio.CancelledError):
            await killed
    finally:
        await a.stop()
    assert len(tg.sent_messages(victim)) == 1  # only the earlier message

    b = await start_adapter(tg, current)  # the restarted process, its limiter empty
    try:
        second = current.bc = make(engine, registry, clock, AdapterTransport([b]))
        assert await second.broadcaster.start(worker=False) == 0  # nothing was on the wire
        await second.broadcaster.process_once()
    finally:
        await b.stop()
    assert once_each(tg, [g for g in GROUPS if g != victim]) == {}
    _earlier, notice = tg.sent_messages(victim)
    assert "5.2.4" in (notice.text or "")
    [row] = [
        d
        for d in second.store.deliveries.of_notice(notice_id, WaveKind.MAIN)
        if d.chat_id == str(victim)
    ]
    assert (row.status, row.message_id) == ("sent", str(notice.message_id))
    sent = second.store.sends.get(key)
    assert sent is not None and (sent.state, sent.message_id) == ("sent", row.message_id)
    assert not [x for x in second.store.audit_log(notice_id) if x.action == "unknown"]


async def test_a_group_that_removed_the_bot_fails_with_the_reason(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    tg: FakeTelegram,
    adapter: tuple[TelegramAdapter, Current],
) -> None:
    a, current = adapter
    gone = GROUPS[2]
    tg.chat_removed(gone, reason="kicked")
    bc = current.bc = make(engine, registry, clock, AdapterTransport([a]))
    notice_id = await confirmed(bc)
    await bc.broadcaster.process_once()
    [row] = [
        d for d in bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN) if d.chat_id == str(gone)
    ]
    assert row.status == "failed" and row.attempts == 1
    assert "bot was kicked from the supergroup chat" in (row.last_error or "")
    assert once_each(tg, [g for g in GROUPS if g != gone]) == {}


async def test_acknowledgement_buttons_in_telegram(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    tg: FakeTelegram,
    adapter: tuple[TelegramAdapter, Current],
) -> None:
    a, current = adapter
    bc = current.bc = make(engine, registry, clock, AdapterTransport([a]))
    notice_id = await confirmed(bc, "hospital=g01")
    await bc.broadcaster.process_once()
    [msg] = tg.sent_messages(GROUPS[0])
    assert [b["text"] for b in msg.buttons] == ["已知悉", "已升级"]
    query = tg.callback_query(
        GROUPS[0], NURSE, msg.message_id, msg.callback_data[0], first_name="护士小王"
    )
    await tg.wait_until(lambda: query["id"] in tg.callback_answers, what="the toast")
    assert tg.callback_answers[query["id"]]["text"] == "已记录：本院已知悉，谢谢！"
    await tg.wait_until(lambda: msg.edits, what="the edited notice")
    assert "✅ 已知悉：护士小王" in (msg.text or "")
    assert [b["text"] for b in msg.buttons] == ["已升级"]
    [receipt] = bc.store.receipts.receipts(notice_id)
    assert (receipt.hospital_id, receipt.kind, receipt.user_id) == ("g01", "ack", str(NURSE))


async def test_a_broadcast_under_real_limits_leaves_room_for_replies(
    engine: Engine, registry: RegistryStore, clock: FakeClock, tmp_path: Path
) -> None:
    many = [-1003000 - i for i in range(45)]
    for i, chat in enumerate(many):
        registry.add_hospital(f"m{i:02d}", f"医院{i}", "西北", "5.2", ["门诊"])
        registry.add_chat("telegram", chat, f"m{i:02d}")
    async with FakeTelegram(token=TOKEN, enforce_limits=True) as tg:
        for chat in [int(DESK.chat_id), -1009999, *many]:
            tg.add_chat(chat, chat_type="supergroup")
        current = Current()
        a = await start_adapter(tg, current, max_retries=5)
        try:
            bc = current.bc = make(
                engine, registry, clock, AdapterTransport([a]), telegram_per_second=28.0
            )
            await confirmed(bc, "region=西北")
            await bc.start()

            def broadcast_sent() -> int:
                return sum(1 for c in many if tg.sent_messages(c))

            # the broadcast is under way (counted, not timed: a loaded machine only slows it)
            await tg.wait_until(lambda: broadcast_sent() >= 5, timeout=10)
            before = broadcast_sent()
            await a.send(
                Reply(chat=ChatRef("telegram", "-1009999"), text="您好，这个问题已经转给工程师。")
            )
            await tg.wait_until(lambda: all(tg.sent_messages(c) for c in many), timeout=20)
            await bc.stop()
        finally:
            await a.stop()
        assert once_each(tg, many) == {}
        # Paced under the limits. The fake stamps each request when it arrives, as Telegram
        # does, so a starved machine (CI's three workers on two cores) can squeeze two
        # requests the client spaced out into one window: one such 429 is transport jitter
        # (and is retried: every chat got its message once, above); more than one means the
        # pace is wrong.
        refused = [c for c in tg.requests if c.status == 429]
        assert len(refused) <= 1, refused
        # A reply waits behind a few broadcast messages, not all 45 (order, not wall clock); the
        # pace itself is the fake's to enforce: the 429s above.
        delivered = [
            str(c.params["chat_id"]) for c in tg.calls_to("sendMessage") if c.status == 200
        ]
        # behind at most the few the broadcaster keeps inside the adapter and its pacer's next
        assert delivered.index("-1009999") <= before + 10, (before, delivered)
