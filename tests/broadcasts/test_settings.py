"""``[broadcast]`` settings and the small parsers behind them; the chat form of a notice."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from bot.broadcasts import BroadcastSettings, NoticeInvalid, NoticeKind
from bot.broadcasts.settings import parse_duration, parse_local
from bot.broadcasts.specs import draft_from_fields, parse_fields
from bot.infra.config import _build

SHANGHAI = dt.timezone(dt.timedelta(hours=8))

SECTION = """
timezone = "Asia/Shanghai"
quiet_hours = "22:00-07:00"
upgrade_reminders = ["24h", "1h"]
ack_reminder_after = "24h"
late = "send"
late_grace = "15m"
retry_delays = ["30s", "2m", "10m", "30m", "2h"]
poll_seconds = 5.0
batch = 200
telegram_per_second = 28.0
telegram_chat_interval = 3.0
slack_per_second = 10.0
slack_chat_interval = 1.1
other_per_second = 10.0
concurrency = 10
drain_seconds = 10.0
"""


def test_the_proposed_config_section_gives_the_defaults_through_the_config_loader() -> None:
    built = _build(BroadcastSettings, tomllib.loads(SECTION), "config.toml [broadcast]")
    assert built == BroadcastSettings()
    with pytest.raises(ValueError, match="unknown timezone"):
        _build(BroadcastSettings, {"timezone": "Mars/Olympus"}, "x")
    with pytest.raises(ValueError, match="not a duration"):
        _build(BroadcastSettings, {"upgrade_reminders": ["one day"]}, "x")
    with pytest.raises(ValueError, match="must be one of"):
        _build(BroadcastSettings, {"late": "drop"}, "x")


def test_durations_times_and_quiet_hours() -> None:
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("2d") == dt.timedelta(days=2)
    assert parse_duration("0") == dt.timedelta(0)
    assert parse_local("2026-03-05 22:00", SHANGHAI) == dt.datetime(2026, 3, 5, 14, tzinfo=dt.UTC)
    assert parse_local("2026-03-05T22:00+00:00", SHANGHAI).hour == 22
    s = BroadcastSettings()
    local = lambda text: dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)  # noqa: E731
    assert s.in_quiet_hours(local("2026-03-05 22:00"))
    assert s.in_quiet_hours(local("2026-03-06 06:59"))
    assert not s.in_quiet_hours(local("2026-03-06 07:00"))
    assert s.quiet_end(local("2026-03-05 23:30")) == local("2026-03-06 07:00")
    assert s.quiet_end(local("2026-03-06 01:00")) == local("2026-03-06 07:00")
    day = BroadcastSettings(quiet_hours="12:00-13:30")
    assert day.in_quiet_hours(local("2026-03-05 12:45")) and not day.in_quiet_hours(
        local("2026-03-05 13:30")
    )
    assert not BroadcastSettings(quiet_hours="").in_quiet_hours(local("2026-03-05 23:00"))


def test_the_chat_form_of_a_notice() -> None:
    fields = parse_fields(
        [
            "开始：2026-03-05 22:00",  # full-width colon
            "结束: 2026-03-06 02:00",
            "影响模块: 门诊、住院",
            "影响服务: 医保接口, 自助机",
            "升级前: 提前结算在院病人",
            "请通知各科室",  # continues the previous value
            "提醒: 2h, 30m",
            "目标: his=5.2.* module=住院",
        ]
    )
    draft = draft_from_fields("upgrade", fields, SHANGHAI)
    assert draft.kind is NoticeKind.UPGRADE
    assert draft.window_start == dt.datetime(2026, 3, 5, 14, tzinfo=dt.UTC)
    assert draft.modules == ("门诊", "住院") and draft.services == ("医保接口", "自助机")
    assert draft.action == "提前结算在院病人\n请通知各科室"
    assert draft.reminders == (dt.timedelta(hours=2), dt.timedelta(minutes=30))
    assert draft.targets.his_versions == ("5.2.*",) and draft.targets.modules == ("住院",)
    assert draft.display_title == "门诊、住院 升级"
    with pytest.raises(NoticeInvalid, match="unknown field"):
        parse_fields(["颜色: 红"])
    with pytest.raises(NoticeInvalid, match="say who receives it"):
        draft_from_fields("announcement", {"title": "t", "body": "b"}, SHANGHAI)
    with pytest.raises(NoticeInvalid, match="kind must be"):
        draft_from_fields("memo", {"targets": "all"}, SHANGHAI)
    with pytest.raises(NoticeInvalid, match="not a date and time"):
        draft_from_fields("upgrade", {**fields, "window_start": "next friday"}, SHANGHAI)
