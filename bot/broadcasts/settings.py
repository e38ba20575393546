"""Settings of broadcasts (``[broadcast]`` in config.toml) and the small parsers they need.

Durations are written the way people say them ("24h", "90m", "1h30m", "2d"), times of day as
"22:00", local times as "2026-03-05 22:00" in ``timezone`` — the hospitals' wall clock, not UTC.
Every value is checked when the settings are built, so a typo fails at start-up.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Gt

from bot.infra.clock import as_utc

_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> dt.timedelta:
    """ "24h", "90m", "1h30m", "2d", "45s" → timedelta; "0" or "" → zero."""
    value = text.strip().lower().replace(" ", "")
    if value in ("", "0"):
        return dt.timedelta(0)
    if not re.fullmatch(r"(\d+[dhms])+", value):
        raise ValueError(f"not a duration: {text!r} (like '24h', '90m', '1h30m')")
    return dt.timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(value)))


def parse_time_of_day(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a time of day: {text!r} (like '22:00')") from None


def parse_local(text: str, tz: dt.tzinfo) -> dt.datetime:
    """ "2026-03-05 22:00" (in ``tz``; an explicit offset wins) → aware datetime in UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a date and time: {text!r} (like '2026-03-05 22:00')") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(dt.UTC)


@dataclass(frozen=True)
class Pace:
    """How fast the outbox sends on one platform.

    ``per_second`` stays under the platform's overall limit so that normal replies, which share
    the adapter's rate limiter, always find room; ``concurrency`` bounds the broadcast messages
    waiting inside the adapter, which is what a reply queues behind.
    """

    per_second: float
    chat_interval: float
    concurrency: int


@dataclass(frozen=True)
class BroadcastSettings:
    #: The hospitals' time zone: quiet hours, and times typed without an offset.
    timezone: str = "Asia/Shanghai"
    #: Non-urgent notices and reminders due in this window wait for its end ("" = none).
    quiet_hours: str = "22:00-07:00"
    #: Default reminders before an upgrade window starts (a notice may set its own).
    upgrade_reminders: tuple[str, ...] = ("24h", "1h")
    #: One reminder to hospitals that have not pressed 已知悉 this long after the notice
    #: went out ("0" = no reminder).
    ack_reminder_after: str = "24h"
    #: A notice whose time passed while the bot was down: "send" it on start, or mark it
    #: "mark_missed" (the engineers' chat is told) when later than ``late_grace``.
    late: Literal["send", "mark_missed"] = "send"
    late_grace: str = "15m"
    #: Waits before re-sending after a transient failure; when they run out: gave_up.
    retry_delays: tuple[str, ...] = ("30s", "2m", "10m", "30m", "2h")
    #: How often the worker looks for due waves and deliveries written by other processes
    #: (the CLI) and re-checks the scheduler's jobs.
    poll_seconds: Annotated[float, Gt(0)] = 5.0
    #: Deliveries read per round.
    batch: Annotated[int, Ge(1)] = 200
    #: Telegram allows 30 messages/s per bot and 20/min per group; Slack ~1/s per channel.
    telegram_per_second: Annotated[float, Gt(0)] = 28.0
    telegram_chat_interval: float = 3.0
    slack_per_second: Annotated[float, Gt(0)] = 10.0
    slack_chat_interval: float = 1.1
    #: WeCom: the adapter paces each tenant's bot itself (``[wecom] bot_per_minute``); this is
    #: the pace over all tenants together, and 20/min per group.
    wecom_per_second: Annotated[float, Gt(0)] = 50.0
    wecom_chat_interval: float = 3.0
    #: DingTalk's limits are per tenant (each hospital's own robot: 20 API calls/s) and per
    #: group (20 messages/min), both enforced by the adapter itself; this bounds the total.
    dingtalk_per_second: Annotated[float, Gt(0)] = 200.0
    dingtalk_chat_interval: float = 3.0
    other_per_second: Annotated[float, Gt(0)] = 10.0
    #: Broadcast messages in flight at once per platform: at least per_second × the round
    #: trip (Telegram: ~0.3 s), or the pace is not reached; no more, because a crash leaves
    #: the ones in flight 'unknown' (see ``bot.broadcasts.deliveries``).
    concurrency: Annotated[int, Ge(1)] = 10
    #: On stop, how long in-flight sends may take to finish before they are abandoned.
    drain_seconds: float = 10.0

    def __post_init__(self) -> None:
        _ = (self.tz, self.quiet)  # both raise ValueError for a bad value
        for text in (*self.upgrade_reminders, self.ack_reminder_after, self.late_grace):
            parse_duration(text)
        if not self.retry_delays:
            raise ValueError("[broadcast] retry_delays must list at least one wait")
        for text in self.retry_delays:
            parse_duration(text)

    @property
    def tz(self) -> dt.tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"[broadcast] unknown timezone {self.timezone!r}") from None

    @property
    def quiet(self) -> tuple[dt.time, dt.time] | None:
        if not self.quiet_hours.strip():
            return None
        start, sep, end = self.quiet_hours.partition("-")
        if not sep:
            raise ValueError(f"[broadcast] quiet_hours {self.quiet_hours!r}: like '22:00-07:00'")
        return parse_time_of_day(start), parse_time_of_day(end)

    @property
    def reminder_offsets(self) -> tuple[dt.timedelta, ...]:
        return tuple(parse_duration(t) for t in self.upgrade_reminders)

    @property
    def ack_after(self) -> dt.timedelta | None:
        delta = parse_duration(self.ack_reminder_after)
        return delta or None

    @property
    def grace(self) -> dt.timedelta:
        return parse_duration(self.late_grace)

    @property
    def delays(self) -> tuple[dt.timedelta, ...]:
        return tuple(parse_duration(t) for t in self.retry_delays)

    def pace(self, platform: str) -> Pace:
        if platform == "telegram":
            return Pace(self.telegram_per_second, self.telegram_chat_interval, self.concurrency)
        if platform == "slack":
            return Pace(self.slack_per_second, self.slack_chat_interval, self.concurrency)
        if platform == "wecom":
            return Pace(self.wecom_per_second, self.wecom_chat_interval, self.concurrency)
        if platform == "dingtalk":
            return Pace(self.dingtalk_per_second, self.dingtalk_chat_interval, self.concurrency)
        return Pace(self.other_per_second, 0.0, self.concurrency)

    # -- quiet hours ------------------------------------------------------------------------

    def in_quiet_hours(self, now: dt.datetime) -> bool:
        quiet = self.quiet
        if quiet is None:
            return False
        start, end = quiet
        t = as_utc(now).astimezone(self.tz).time()
        return start <= t < end if start < end else (t >= start or t < end)

    def quiet_end(self, now: dt.datetime) -> dt.datetime:
        """The first end of quiet hours after ``now`` (UTC); ``now`` when there are none."""
        quiet = self.quiet
        if quiet is None:
            return as_utc(now)
        local = as_utc(now).astimezone(self.tz)
        end = dt.datetime.combine(local.date(), quiet[1], tzinfo=self.tz)
        if end <= local:
            end = dt.datetime.combine(local.date() + dt.timedelta(days=1), quiet[1], tzinfo=self.tz)
        return end.astimezone(dt.UTC)

    def local(self, value: dt.datetime | None) -> str:
        """How a time is shown to people: local wall clock, minutes."""
        if value is None:
            return "—"
        return as_utc(value).astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
