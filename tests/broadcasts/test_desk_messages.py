"""The broadcaster's messages to the engineers' chat go through the one keyed outbox: the
unknown-delivery alert and the missed-wave alert survive a crash between their cause being
recorded and the alert (the next round or the restart sends it) and are never sent twice;
``/notice`` answers are keyed as the inbox event's sends; ``notice status`` reads 发送中
from the outbox row."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine

from adapters.base import ChatRef, DeliveryError, IncomingMessage, Sender
from bot.broadcasts import Broadcasts, BroadcastSettings, WaveKind, status
from bot.inbox.scope import Handling, current
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    E05_USER,
    START,
    FakeClock,
    FakeTransport,
    SimulatedCrash,
    patch_draft,
    send_now,
    settle,
)
from tests.broadcasts.test_outbox import created_and_confirmed


@pytest.fixture
def engine(make_db: Callable[..., Engine]) -> Engine:
    """SQLite, and PostgreSQL when ``HISBOT_TEST_PG_URL`` names one (the owed alerts are
    keyed under a row lock)."""
    return make_db()


def timed_out(chat: str) -> DeliveryError:
    return DeliveryError(ChatRef("telegram", chat), "TimedOut", outcome_unknown=True)


def unknown_alerts(transport: FakeTransport) -> list[str]:
    return [s.reply.text for s in transport.to(DESK.chat_id) if "无法确认是否送达" in s.reply.text]


def audited(bc: Broadcasts, notice_id: int, action: str) -> int:
    return sum(1 for a in bc.store.audit_log(notice_id) if a.action == action)


@pytest.mark.parametrize("crash", ["before_the_alert_left", "after_the_platform_took_it"])
async def test_the_unknown_delivery_alert_is_sent_once_across_a_crash(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport, crash: str
) -> None:
    """The delivery's unknown outcome is recorded, then the process dies on the alert: the
    restart's round sends it if it never left, and never again if the platform had it."""
    first = make_broadcasts()
    notice_id = await created_and_confirmed(first)
    transport.fail["-1001002"] = [timed_out("-1001002")]
    crash_at = transport.crash_before if crash == "before_the_alert_left" else transport.crash_after
    crash_at.add(DESK.chat_id)
    with pytest.raises(SimulatedCrash):
        await first.broadcaster.process_once()
    await settle()
    crash_at.clear()
    delivered = 0 if crash == "before_the_alert_left" else 1
    assert len(unknown_alerts(transport)) == delivered
    [row] = [d for d in first.store.deliveries.of_notice(notice_id) if d.chat_id == "-1001002"]
    assert row.status == "unknown"  # recorded; the alert is still owed

    second = make_broadcasts()  # the restart
    await second.broadcaster.start(worker=False)
    for _ in range(3):
        await second.broadcaster.process_once()
    [alert] = unknown_alerts(transport)  # exactly once
    assert f"通知 #{notice_id}" in alert and "telegram:-1001002" in alert
    assert audited(second, notice_id, "unknown") == 1
    [row] = [d for d in second.store.deliveries.of_notice(notice_id) if d.chat_id == "-1001002"]
    assert not row.tell_unknown
    key = f"unknown-alert:notice:{row.id}:desk:{DESK.platform}:{DESK.chat_id}"
    sent = second.store.sends.get(key)
    assert sent is not None
    assert sent.state == ("sent" if crash == "before_the_alert_left" else "unknown")


async def test_an_alert_refused_for_now_is_tried_again_next_round(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    """A transient failure proves the alert was not delivered: it stays owed, and the next
    round sends it (once)."""
    notice_id = await created_and_confirmed(bc)
    transport.fail["-1001002"] = [timed_out("-1001002")]
    transport.fail[DESK.chat_id] = [
        DeliveryError(DESK, "NetworkError: Bad Gateway", permanent=False)
    ]
    await bc.broadcaster.process_once()
    assert unknown_alerts(transport) == []
    assert audited(bc, notice_id, "unknown") == 0
    await bc.broadcaster.process_once()
    await bc.broadcaster.process_once()
    assert len(unknown_alerts(transport)) == 1
    assert audited(bc, notice_id, "unknown") == 1


async def test_unknown_deliveries_found_in_one_round_share_one_alert_listing_at_most_20(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    notice_id = await created_and_confirmed(bc)
    for chat in ("-1001002", "-1001003"):
        transport.fail[chat] = [timed_out(chat)]
    await bc.broadcaster.process_once()
    [alert] = unknown_alerts(transport)
    assert "有 2 个群" in alert and "-1001002" in alert and "-1001003" in alert
    assert audited(bc, notice_id, "unknown") == 1


#: A wave found more than 15 minutes late is marked missed, not sent.
LATE = BroadcastSettings(
    telegram_per_second=1000.0,
    slack_per_second=1000.0,
    telegram_chat_interval=0.0,
    slack_chat_interval=0.0,
    late="mark_missed",
    late_grace="15m",
)


async def found_late(bc: Broadcasts, clock: FakeClock) -> tuple[Broadcasts, int]:
    """A notice confirmed for an hour from now, and the clock two hours on (the bot was down)."""
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id, at=clock.now + dt.timedelta(hours=1))
    clock.advance(hours=2)
    return bc, notice.id


@pytest.mark.parametrize("crash", ["before_the_alert_left", "after_the_platform_took_it"])
async def test_a_missed_wave_is_told_once_across_a_crash(
    make_broadcasts: Callable[..., Broadcasts],
    transport: FakeTransport,
    clock: FakeClock,
    crash: str,
) -> None:
    """A scheduled notice found late: the engineers are told (keyed by the wave) before the
    wave is closed, so a crash on the alert leaves the wave to decide again."""
    _, notice_id = await found_late(make_broadcasts(LATE), clock)
    crash_at = transport.crash_before if crash == "before_the_alert_left" else transport.crash_after
    crash_at.add(DESK.chat_id)
    second = make_broadcasts(LATE)
    await second.broadcaster.start(worker=False)
    with pytest.raises(SimulatedCrash):
        await second.broadcaster.process_once()
    crash_at.clear()
    assert second.store.get(notice_id).status == "scheduled"  # not closed before it is told

    third = make_broadcasts(LATE)
    await third.broadcaster.start(worker=False)
    await third.broadcaster.process_once()
    await third.broadcaster.process_once()
    assert third.store.get(notice_id).status == "missed"
    missed = [t.reply.text for t in transport.to(DESK.chat_id) if "已标记为“错过”" in t.reply.text]
    assert len(missed) == 1 and f"/notice send {notice_id}" in missed[0]
    assert audited(third, notice_id, "missed") == 1
    assert transport.chats() == []  # nothing went to the hospitals


async def test_a_late_wave_fired_twice_at_once_in_one_process_is_told_once(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport, clock: FakeClock
) -> None:
    """The scheduler's job and the round's ``fire_due`` fire the same late wave together:
    whether both decide it is missed before either closes it (one loop, SQLite's single
    writer) or the second finds it closed (a connection pool lets one finish first), the
    alert's key lets one send."""
    bc, notice_id = await found_late(make_broadcasts(LATE), clock)
    [wave] = [w for w in bc.store.waves_of(notice_id) if w.kind == WaveKind.MAIN]
    assert wave.id is not None
    outcomes = await asyncio.gather(*(bc.broadcaster.fire_wave(wave.id) for _ in range(2)))
    assert sorted(outcomes) in (["missed", "missed"], ["done", "missed"])
    await bc.broadcaster.process_once()
    missed = [t for t in transport.to(DESK.chat_id) if "已标记为“错过”" in t.reply.text]
    assert len(missed) == 1
    assert bc.store.get(notice_id).status == "missed"
    assert audited(bc, notice_id, "missed") == 1


@contextmanager
def handling(key: str, replay: bool = False) -> Iterator[None]:
    """Run as the inbox does while it handles event ``key``."""
    token = current.set(Handling(key, replay=replay, task=asyncio.current_task()))
    try:
        yield
    finally:
        current.reset(token)


async def test_a_notice_command_replayed_after_a_crash_is_answered_once(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    """``/notice status`` handled, then the same inbox event replayed (its worker died before
    marking it done): the answer is keyed as the event's first send, so it is not sent
    again."""
    notice_id = await created_and_confirmed(bc)
    msg = IncomingMessage(
        DESK, "m-41", Sender(E05_USER, "通知员"), f"/notice status {notice_id}", START
    )
    before = len(transport.to(DESK.chat_id))
    with handling("telegram:-1009000:m-41"):
        await bc.commands.on_command(msg, f"status {notice_id}")
    with handling("telegram:-1009000:m-41", replay=True):
        await bc.commands.on_command(msg, f"status {notice_id}")
    answers = transport.to(DESK.chat_id)[before:]
    assert len(answers) == 1 and f"#{notice_id}" in answers[0].reply.text
    row = bc.store.sends.get("telegram:-1009000:m-41#1")
    assert row is not None and row.state == "sent"


async def test_notice_status_says_sending_while_a_send_is_on_the_wire(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport
) -> None:
    """A queued delivery is 发送中 when its outbox row is ``sending`` (the limiter let it go),
    排队中 while the row is ``queued`` (still in the limiter) — read from the one outbox."""
    bc = make_broadcasts()
    notice_id = await created_and_confirmed(bc)
    transport.crash_after.add("-1001002")  # dies once the platform took it: row ``sending``
    transport.crash_before.add("-1001003")  # dies in the limiter: row ``queued``
    with pytest.raises(SimulatedCrash):
        await bc.broadcaster.process_once()
    await settle()
    report = status.build_report(bc.store, notice_id)
    shown = status.report_text(report, bc.store.settings)
    assert "排队中 1" in shown and "发送中 1" in shown
    assert "telegram:-1001002 发送中" in shown and "telegram:-1001003 排队中" in shown
    [on_wire] = [d for h in report.hospitals for d in h.groups if d.chat_id == "-1001002"]
    assert on_wire.status == "queued" and report.state(on_wire) == "sending"
    main = bc.store.deliveries.of_notice(notice_id, WaveKind.MAIN)
    assert {d.chat_id: d.status for d in main}["-1001003"] == "queued"
