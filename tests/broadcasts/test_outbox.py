"""Notices through the one durable outbox: retries with backoff, permanent failures, and
exactly-once across a crash at any point (claim → limiter → platform call → record). The
outcome of each delivery is one ``outbox_message`` row; the delivery is its report."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import ChatRef, DeliveryError, MessageRef, OnRelease, Reply
from bot.broadcasts import Broadcasts, BroadcastSettings, DeliveryStatus, WaveKind, status
from bot.broadcasts.models import delivery_key
from bot.broadcasts.store import BroadcastStore
from bot.broadcasts.transport import Pacer
from bot.inbox.models import OutboxMessage
from bot.registry import RegistryStore
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    HOSPITAL_CHATS,
    FakeClock,
    FakeTransport,
    SimulatedCrash,
    patch_draft,
    press,
    pressed,
    send_now,
    settle,
)


def transient(chat: str) -> DeliveryError:
    return DeliveryError(ChatRef("telegram", chat), "NetworkError: Bad Gateway", permanent=False)


def statuses(bc: Broadcasts, notice_id: int) -> dict[str, str]:
    return {d.chat_id: d.status for d in bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN)}


def sends(bc: Broadcasts, notice_id: int) -> dict[str, tuple[str, str | None, str] | None]:
    """Per group, the notice's send in the one outbox: (state, message id, error)."""
    out: dict[str, tuple[str, str | None, str] | None] = {}
    for d in bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN):
        row = bc.store.sends.get(delivery_key(d))
        out[d.chat_id] = None if row is None else (row.state, row.message_id, row.error)
    return out


def notice_rows(bc: Broadcasts) -> list[str]:
    """Every notice key in ``outbox_message``."""
    with Session(bc.store.engine) as s:
        keys = s.exec(select(OutboxMessage.key)).all()
    return sorted(k for k in keys if k.startswith("notice:"))


async def created_and_confirmed(bc: Broadcasts) -> int:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    assert await bc.broadcaster.send_test(notice.id, BROADCASTER) == "sent"
    bc.store.confirm(notice.id, BROADCASTER)
    return notice.id


async def test_transient_failures_are_retried_with_backoff_then_given_up(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    transport.fail["-1001002"] = [transient("-1001002")]
    transport.fail["-1001003"] = [transient("-1001003") for _ in range(3)]
    notice_id = await created_and_confirmed(bc)
    await bc.broadcaster.process_once()
    assert statuses(bc, notice_id) == {
        "-1001001": "sent",
        "C001": "sent",
        "-1001002": "queued",
        "-1001003": "queued",
    }
    clock.advance(seconds=29)  # the first retry waits 30 s
    await bc.broadcaster.process_once()
    assert len(transport.chats()) == 2
    clock.advance(seconds=1)
    await bc.broadcaster.process_once()
    assert statuses(bc, notice_id)["-1001002"] == "sent"
    clock.advance(minutes=2)  # the second and last retry
    await bc.broadcaster.process_once()
    [row] = [
        d
        for d in bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN)
        if d.chat_id == "-1001003"
    ]
    assert (row.status, row.attempts, row.last_error) == ("gave_up", 3, "NetworkError: Bad Gateway")
    assert bc.store.get(notice_id).status == "sent"
    assert sorted(transport.chats()) == ["-1001001", "-1001002", "C001"]
    # one row per delivery in the one outbox: the retried send sent, the last failure recorded
    delivered = {s.ref.chat_id: s.ref.message_id for s in transport.sent}
    assert sends(bc, notice_id) == {
        "-1001001": ("sent", delivered["-1001001"], ""),
        "C001": ("sent", delivered["C001"], ""),
        "-1001002": ("sent", delivered["-1001002"], ""),
        "-1001003": ("failed", None, "NetworkError: Bad Gateway"),
    }
    assert len(notice_rows(bc)) == 5  # the four groups and the test copy


async def test_a_group_the_bot_was_removed_from_fails_with_the_reason_the_rest_go_on(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    transport.fail["-1001002"] = [
        DeliveryError(
            ChatRef("telegram", "-1001002"), "Forbidden: bot was kicked from the group chat"
        )
    ]
    notice_id = await created_and_confirmed(bc)
    await bc.broadcaster.process_once()
    [row] = [d for d in bc.store.deliveries.of_notice(notice_id) if d.chat_id == "-1001002"]
    assert (row.status, row.last_error, row.attempts) == (
        "failed",
        "Forbidden: bot was kicked from the group chat",
        1,
    )
    assert sorted(transport.chats()) == ["-1001001", "-1001003", "C001"]
    assert sends(bc, notice_id)["-1001002"] == (
        "failed",
        None,
        "Forbidden: bot was kicked from the group chat",
    )


async def test_a_crash_after_the_platform_accepted_does_not_duplicate(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport, clock: FakeClock
) -> None:
    """Killed between sending and recording: the group has the message, the outbox row says
    'sending' (the delivery, only the plan, is still queued). After the restart the send is
    'unknown' and is not sent again."""
    first = make_broadcasts()
    notice_id = await created_and_confirmed(first)
    transport.crash_after.add("-1001002")
    with pytest.raises(SimulatedCrash):
        await first.broadcaster.process_once()
    await settle()
    assert statuses(first, notice_id)["-1001002"] == "queued"
    assert sends(first, notice_id)["-1001002"] == ("sending", None, "")
    transport.crash_after.clear()

    second = make_broadcasts()
    assert await second.broadcaster.start(worker=False) == 1  # on the wire: unknown
    for _ in range(3):
        await second.broadcaster.process_once()
        clock.advance(minutes=5)
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)  # each exactly once
    assert statuses(second, notice_id)["-1001002"] == "unknown"
    assert sends(second, notice_id)["-1001002"] == (
        "unknown",
        None,
        "interrupted: its worker died during the send",
    )
    [alert] = [s.reply.text for s in transport.to(DESK.chat_id) if "无法确认" in s.reply.text]
    assert "无法确认是否送达" in alert and "-1001002" in alert  # told once

    # the hospital presses 已知悉 on it: proof of delivery, message id recorded (both rows)
    [msg] = transport.to("-1001002")
    assert await pressed(
        second, press("-1001002", msg.ref.message_id, msg.reply.buttons[0][0].action)
    )
    [row] = [d for d in second.store.deliveries.of_notice(notice_id) if d.chat_id == "-1001002"]
    assert (row.status, row.message_id) == ("sent", msg.ref.message_id)
    assert sends(second, notice_id)["-1001002"] == ("sent", msg.ref.message_id, "")


async def test_a_notice_waiting_in_the_limiter_when_its_worker_dies_is_sent_once_never_unknown(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport
) -> None:
    """Killed while the notice waited in the adapter's rate limiter: it provably never left,
    so the outbox keeps it queued (not 'unknown'), and the next worker sends it, once."""
    first = make_broadcasts()
    notice_id = await created_and_confirmed(first)
    transport.crash_before.add("-1001002")
    with pytest.raises(SimulatedCrash):
        await first.broadcaster.process_once()
    await settle()
    transport.crash_before.clear()
    assert sends(first, notice_id)["-1001002"] == ("queued", None, "")

    second = make_broadcasts()  # the restart (or another worker: the first one's rows are dead)
    assert await second.broadcaster.start(worker=False) == 0  # nothing was on the wire
    await second.broadcaster.process_once()
    await second.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)  # each exactly once
    [msg] = transport.to("-1001002")
    assert statuses(second, notice_id)["-1001002"] == "sent"
    assert sends(second, notice_id)["-1001002"] == ("sent", msg.ref.message_id, "")
    assert second.store.get(notice_id).status == "sent"
    assert not [a for a in second.store.audit_log(notice_id) if a.action == "unknown"]


async def test_an_unknown_outcome_is_never_resent_and_heals(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    """The request left and no answer came (a read timeout): maybe delivered, so 'unknown' at
    once, never retried; the acknowledgement reminder (full text) reaches the group, or an
    engineer resends — a new send under a new key."""
    transport.fail["-1001002"] = [
        DeliveryError(
            ChatRef("telegram", "-1001002"), "TimedOut", permanent=False, outcome_unknown=True
        )
    ]
    notice_id = await created_and_confirmed(bc)
    await bc.broadcaster.process_once()
    assert statuses(bc, notice_id)["-1001002"] == "unknown"
    assert sends(bc, notice_id)["-1001002"] == ("unknown", None, "TimedOut")
    assert "-1001002" in transport.to(DESK.chat_id)[-1].reply.text
    shown = status.report_text(status.build_report(bc.store, notice_id), bc.store.settings)
    assert "待确认 1" in shown and "telegram:-1001002 待确认" in shown  # `notice status`
    clock.advance(minutes=10)
    await bc.broadcaster.process_once()
    assert "-1001002" not in transport.chats()
    assert bc.store.get(notice_id).status == "sent"  # nothing pending: unknown is an end

    clock.advance(hours=24)
    await bc.broadcaster.process_once()
    [reminder] = transport.to("-1001002")
    assert reminder.reply.text.startswith("【提醒】") and "下载地址" in reminder.reply.text
    assert reminder.reply.reply_to is None  # no message id to reply to

    assert bc.store.resend(notice_id, BROADCASTER, ["h002"]) == 1  # an engineer's choice
    await bc.broadcaster.process_once()
    assert len(transport.to("-1001002")) == 2
    assert statuses(bc, notice_id)["-1001002"] == "sent"
    main = bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN)
    [d] = [d for d in main if d.chat_id == "-1001002"]
    assert delivery_key(d).endswith(":1")  # the resend's own row; the unknown one stays
    assert bc.store.sends.get(delivery_key(d)).state == "sent"  # type: ignore[union-attr]
    assert bc.store.sends.get(f"notice:{d.id}").state == "unknown"  # type: ignore[union-attr]
    resend = [a for a in bc.store.audit_log(notice_id) if a.action == "resend"]
    assert [(a.actor, a.detail) for a in resend] == [("e05", "1 deliveries queued again (h002)")]


async def test_two_workers_never_send_the_same_row(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport
) -> None:
    a, b = make_broadcasts(), make_broadcasts()
    notice_id = await created_and_confirmed(a)
    await a.broadcaster.fire_due()
    await asyncio.gather(a.broadcaster.process_once(), b.broadcaster.process_once())
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)
    assert set(statuses(a, notice_id).values()) == {DeliveryStatus.SENT}


async def test_stop_lets_in_flight_sends_finish(bc: Broadcasts, transport: FakeTransport) -> None:
    notice_id = await created_and_confirmed(bc)
    await bc.start()
    await asyncio.wait_for(_until(lambda: bc.store.get(notice_id).status == "sent"), 5)
    await bc.stop()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)
    assert all(
        row is not None and row.state == "sent"
        for row in (
            bc.store.sends.get(delivery_key(d)) for d in bc.store.deliveries.of_notice(notice_id)
        )
    )


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_the_pacer_spaces_messages_even_after_a_stall_and_keeps_groups_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:  # wakes when the test moves the clock
        deadline = now[0] + seconds
        while now[0] < deadline:
            await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    settings = BroadcastSettings(telegram_per_second=4.0, telegram_chat_interval=3.0)
    pacer = Pacer(settings, clock=lambda: now[0])
    issued: list[float] = []

    async def send() -> None:
        await pacer.slot("telegram")
        issued.append(now[0])

    tasks = [asyncio.create_task(send()) for _ in range(6)]
    for _ in range(5):
        await real_sleep(0)
    assert issued == [100.0]  # then one every 0.25 s...
    now[0] += 2.0  # ...but the event loop stalls for 2 s: the turns that passed are not
    for _ in range(20):  # released at once; the next catches up at most half a turn
        await real_sleep(0)
    assert issued == [100.0, 102.0]
    for _ in range(8):
        now[0] += 0.125
        for _ in range(20):
            await real_sleep(0)
    await asyncio.gather(*tasks)
    # 102.125: half a turn (catching up); then one a turn; the sixth would be the fifth in
    # the second after 101.75, so it waits for 103.0
    assert issued == [100.0, 102.0, 102.125, 102.25, 102.5, 103.0]

    pacer.reserve_chat("telegram", "a")
    assert pacer.chat_wait("telegram", "a") == 3.0
    now[0] += 1.0
    assert pacer.chat_wait("telegram", "a") == 2.0
    assert pacer.chat_wait("telegram", "z") == 0.0
    assert pacer.chat_wait("slack", "a") == 0.0


async def test_a_held_up_send_is_counted_when_it_really_went_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PTB holds every send for retry_after after a 429 and then lets them go together: the
    pacer counts them at completion, so the sends after them do not make a second burst."""
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    pacer = Pacer(BroadcastSettings(telegram_per_second=4.0), clock=lambda: now[0])
    stamps = [await pacer.slot("telegram") for _ in range(4)]
    assert stamps == [0.0, 0.25, 0.5, 0.75]
    now[0] = 2.0  # they were held up; all four went out just now
    for stamp in stamps:
        pacer.done("telegram", stamp)
    assert await pacer.slot("telegram") == 3.0  # not 2.0: the second after them is full


def test_delivery_times_are_timezone_aware(bc: Broadcasts, clock: FakeClock) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    fresh = bc.store.get(notice.id or 0)
    assert fresh.created_at.tzinfo is not None and fresh.created_at == clock.now
    assert fresh.deadline == clock.now + dt.timedelta(days=7)


async def test_send_now_helper_sends_once(bc: Broadcasts, transport: FakeTransport) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    await send_now(bc, notice.id or 0)
    await bc.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)


@dataclass
class HeldDesk(FakeTransport):
    """The desk's first send is let go by the limiter, then held on the wire until ``go``."""

    on_the_wire: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        if reply.chat.chat_id != DESK.chat_id or self.on_the_wire.is_set():
            return await super().send_released(reply, on_release)
        await on_release()
        self.on_the_wire.set()
        await self.go.wait()
        return await self.deliver(reply)


async def test_a_test_copy_the_loop_is_sending_is_reported_sent_not_pending(
    bc: Broadcasts, engine: Engine, registry: RegistryStore, clock: FakeClock
) -> None:
    """The loop's round reserved the test copy first and has it on the wire when the engineer's
    /notice send asks for it: the answer waits for that send's outcome."""
    desk = HeldDesk()
    bc = Broadcasts(BroadcastStore(engine, registry, clock, bc.store.settings), desk, (DESK,))
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    bc.store.request_test(notice.id, BROADCASTER, [DESK])
    round_ = asyncio.create_task(bc.broadcaster.process_once())
    await desk.on_the_wire.wait()
    looked, loop = asyncio.Event(), asyncio.get_running_loop()
    test_state = bc.store.test_state

    def looking(notice_id: int) -> str:  # runs on the database gateway's thread
        state = test_state(notice_id)
        loop.call_soon_threadsafe(looked.set)
        return state

    bc.store.test_state = looking  # type: ignore[method-assign]
    asked = asyncio.create_task(bc.broadcaster.send_test(notice.id, BROADCASTER))
    await looked.wait()  # the engineer's send found the copy in flight and looked at its state
    desk.go.set()
    assert await asked == "sent"
    await round_
    assert len(desk.to(DESK.chat_id)) == 1  # sent once, by the round
