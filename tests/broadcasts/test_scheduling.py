"""When things go out, with a clock that moves only when told (nothing sleeps): scheduled
sends fire once, reminders at T-24h/T-1h, restarts before and after the due time, quiet hours,
follow-ups and the acknowledgement reminder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from bot.broadcasts import Broadcasts, BroadcastSettings, NoticeStateError, WaveKind
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    HOSPITAL_CHATS,
    FakeClock,
    FakeTransport,
    patch_draft,
    press,
    pressed,
    send_now,
    upgrade_draft,
)

FAST = {
    "telegram_per_second": 1000.0,
    "slack_per_second": 1000.0,
    "telegram_chat_interval": 0.0,
    "slack_chat_interval": 0.0,
}


def texts(transport: FakeTransport, chat: str = "-1001002") -> list[str]:
    return [s.reply.text.split("\n")[0] for s in transport.to(chat)]


async def test_a_scheduled_send_fires_once(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id, at=clock.now + dt.timedelta(hours=2))
    clock.advance(hours=1, minutes=59)
    await bc.broadcaster.process_once()
    assert transport.chats() == []
    clock.advance(minutes=1)
    [main] = [w for w in bc.store.waves_of(notice.id) if w.kind == WaveKind.MAIN]
    assert main.id is not None
    assert await bc.broadcaster.fire_wave(main.id) == "fired"
    assert await bc.broadcaster.fire_wave(main.id) == "done"  # a second job run: no-op
    for _ in range(3):
        await bc.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)
    assert bc.store.get(notice.id).status == "sent"


async def test_upgrade_reminders_at_t_minus_24h_and_1h(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport, clock: FakeClock
) -> None:
    bc = make_broadcasts(BroadcastSettings(**FAST, ack_reminder_after="0"))
    start = clock.set_local("2026-03-05 12:00")  # the window: Thursday noon (local)
    clock.set_local("2026-03-02 10:00")
    notice = bc.store.create(upgrade_draft(start), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id)
    assert texts(transport) == ["【升级窗口】门诊、住院 升级"]
    main_id = transport.to("-1001002")[0].ref.message_id
    for when, expected in [
        ("2026-03-04 11:59", 1),
        ("2026-03-04 12:00", 2),  # T-24h
        ("2026-03-05 10:59", 2),
        ("2026-03-05 11:00", 3),  # T-1h
        ("2026-03-05 13:00", 3),
    ]:
        clock.set_local(when)
        await bc.broadcaster.process_once()
        assert len(transport.to("-1001002")) == expected, when
    day, hour = transport.to("-1001002")[1:]
    assert day.reply.text.startswith("【升级提醒】距升级开始还有 24 小时")
    assert hour.reply.text.startswith("【升级提醒】距升级开始还有 1 小时")
    assert day.reply.reply_to == hour.reply.reply_to == main_id  # in the notice's thread


async def test_own_reminders_none_and_ones_that_would_come_first(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    start = clock.now + dt.timedelta(hours=10)
    custom = bc.store.create(upgrade_draft(start, reminders=(dt.timedelta(hours=2),)), BROADCASTER)
    silent = bc.store.create(upgrade_draft(start, reminders=()), BROADCASTER)
    default = bc.store.create(upgrade_draft(start), BROADCASTER)  # 24h: before the notice
    for n in (custom, silent, default):
        assert n.id is not None
        await send_now(bc, n.id)
    waves = {
        n.id: [
            (w.offset_minutes, w.status)
            for w in bc.store.waves_of(n.id or 0)
            if w.kind == "reminder"
        ]
        for n in (custom, silent, default)
    }
    assert waves == {
        custom.id: [(120, "scheduled")],
        silent.id: [],
        default.id: [(1440, "skipped"), (60, "scheduled")],
    }


async def test_restart_before_the_due_time(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport, clock: FakeClock
) -> None:
    first = make_broadcasts()
    notice = first.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(first, notice.id, at=clock.now + dt.timedelta(hours=1))
    # the process stops; another starts before the time
    clock.advance(minutes=30)
    second = make_broadcasts()
    await second.broadcaster.start(worker=False)
    await second.broadcaster.process_once()
    assert transport.chats() == []
    clock.advance(minutes=30)
    await second.broadcaster.process_once()
    await second.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)


async def test_restart_after_the_due_time_sends_on_start(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport, clock: FakeClock
) -> None:
    first = make_broadcasts()
    notice = first.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(first, notice.id, at=clock.now + dt.timedelta(hours=1))
    clock.advance(hours=5)  # down for hours
    second = make_broadcasts(BroadcastSettings(**FAST, late="send"))
    await second.broadcaster.start(worker=False)
    await second.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)
    third = make_broadcasts()  # and once more: nothing again
    await third.broadcaster.start(worker=False)
    await third.broadcaster.process_once()
    assert len(transport.chats()) == len(HOSPITAL_CHATS)


@pytest.mark.parametrize(("down", "outcome"), [(10, "sent"), (20, "missed")])
async def test_restart_after_the_due_time_marks_missed_past_the_grace(
    make_broadcasts: Callable[..., Broadcasts],
    transport: FakeTransport,
    clock: FakeClock,
    down: int,
    outcome: str,
) -> None:
    s = BroadcastSettings(**FAST, late="mark_missed", late_grace="15m")
    first = make_broadcasts(s)
    notice = first.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(first, notice.id, at=clock.now + dt.timedelta(hours=1))
    clock.advance(hours=1, minutes=down)
    second = make_broadcasts(s)
    await second.broadcaster.start(worker=False)
    await second.broadcaster.process_once()
    assert second.store.get(notice.id).status == outcome
    if outcome == "missed":
        assert transport.chats() == []
        alert = transport.to(DESK.chat_id)[-1].reply.text
        assert "已标记为“错过”" in alert and f"/notice send {notice.id}" in alert
        assert second.store.audit_log(notice.id)[-1].action == "missed"
        # an engineer decides to send it after all
        second.store.confirm(notice.id, BROADCASTER)
        await second.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)


async def test_quiet_hours_hold_non_urgent_notices(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    clock.set_local("2026-03-02 21:00")
    normal = bc.store.create(patch_draft(), BROADCASTER)
    urgent = bc.store.create(patch_draft(urgent=True, version="5.2.5"), BROADCASTER)
    at = clock.set_local("2026-03-02 23:00") - dt.timedelta(hours=2)
    clock.now = at
    for n in (normal, urgent):
        assert n.id is not None
        await send_now(bc, n.id, at=at + dt.timedelta(hours=2))
    clock.set_local("2026-03-02 23:00")
    await bc.broadcaster.process_once()
    assert [t for t in texts(transport)] == ["【补丁通知】HIS 住院 5.2.5 补丁（紧急）"]
    [main] = [w for w in bc.store.waves_of(normal.id or 0) if w.kind == "main"]
    assert main.note == "held for quiet hours until 2026-03-03 07:00"
    clock.set_local("2026-03-03 06:59")
    await bc.broadcaster.process_once()
    assert len(texts(transport)) == 1
    clock.set_local("2026-03-03 07:00")
    await bc.broadcaster.process_once()
    assert texts(transport)[1] == "【补丁通知】HIS 住院 5.2.4 补丁"
    assert [a.action for a in bc.store.audit_log(normal.id)][-2:] == ["held", "fired"]


async def test_a_reminder_held_past_the_window_start_is_skipped(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    start = clock.set_local("2026-03-03 02:00")  # a night window: T-1h is 01:00
    clock.set_local("2026-03-02 10:00")
    notice = bc.store.create(upgrade_draft(start, reminders=(dt.timedelta(hours=1),)), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id)
    clock.set_local("2026-03-03 01:00")
    await bc.broadcaster.process_once()
    [reminder] = [w for w in bc.store.waves_of(notice.id) if w.kind == "reminder"]
    assert (reminder.status, reminder.note) == (
        "skipped",
        "quiet hours last until the window starts",
    )
    assert len(texts(transport)) == 1


async def test_started_and_completed_follow_ups(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    start = clock.set_local("2026-03-03 01:00")
    clock.set_local("2026-03-02 10:00")
    notice = bc.store.create(upgrade_draft(start, reminders=(), urgent=False), BROADCASTER)
    assert notice.id is not None
    with pytest.raises(NoticeStateError, match="has not been sent"):
        bc.store.follow_up(notice.id, WaveKind.STARTED, BROADCASTER)
    await send_now(bc, notice.id)
    clock.set_local("2026-03-03 01:00")  # quiet hours: follow-ups are not held
    bc.store.follow_up(notice.id, WaveKind.STARTED, BROADCASTER, "预计 05:00 完成")
    await bc.broadcaster.process_once()
    clock.set_local("2026-03-03 04:30")
    bc.store.follow_up(notice.id, WaveKind.COMPLETED, BROADCASTER)
    await bc.broadcaster.process_once()
    assert texts(transport) == [
        "【升级窗口】门诊、住院 升级",
        "【升级开始】门诊、住院 升级 现已开始，预计 2026-03-03 05:00 结束。",
        "【升级完成】门诊、住院 升级 已完成，可以正常使用。如有异常请在群里直接说明。",
    ]
    assert "预计 05:00 完成" in transport.to("-1001002")[1].reply.text
    with pytest.raises(NoticeStateError, match="already sent"):
        bc.store.follow_up(notice.id, WaveKind.STARTED, BROADCASTER)
    with pytest.raises(NoticeStateError, match="not an upgrade"):
        other = bc.store.create(patch_draft(), BROADCASTER)
        bc.store.follow_up(other.id or 0, WaveKind.STARTED, BROADCASTER)


async def test_one_reminder_to_hospitals_that_did_not_acknowledge(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id)
    first = transport.to("-1001001")[0]
    assert await pressed(
        bc, press("-1001001", first.ref.message_id, first.reply.buttons[0][0].action)
    )
    clock.advance(hours=23, minutes=59)
    await bc.broadcaster.process_once()
    assert len(transport.chats()) == 4
    clock.advance(minutes=1)  # 24 h after the notice went out
    await bc.broadcaster.process_once()
    reminded = transport.chats()[4:]
    assert sorted(reminded) == ["-1001002", "-1001003"]  # h001 acknowledged (in either group)
    again = transport.to("-1001002")[1]
    assert again.reply.text.startswith("【提醒】以下通知本院尚未确认")
    assert "下载地址：https://dl.example.com/his-5.2.4.zip" in again.reply.text  # the full text
    assert again.reply.reply_to == transport.to("-1001002")[0].ref.message_id
    clock.advance(days=3)
    await bc.broadcaster.process_once()
    assert len(transport.chats()) == 6  # one reminder, never a second
