"""``[duty]``: the local time zone and working hours the roster and SLA calendars use."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass


def parse_hhmm(value: str, key: str) -> dt.time:
    """``"08:30"`` → a time; anything else is a config error naming the key."""
    try:
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"[duty] {key} must be HH:MM, not {value!r}") from None


@dataclass(frozen=True)
class DutySettings:
    #: The hospitals' wall clock: shifts, working hours and holidays are local dates and times.
    timezone: str = "Asia/Shanghai"
    #: Working hours on a working day; the night shift runs from ``day_end`` to the next
    #: ``day_start``. A non-working day's shift also runs from its ``day_start`` to the next.
    day_start: str = "08:30"
    day_end: str = "17:30"

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"[duty] timezone: unknown time zone {self.timezone!r}") from None
        if parse_hhmm(self.day_start, "day_start") >= parse_hhmm(self.day_end, "day_end"):
            raise ValueError("[duty] day_start must be before day_end")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def start(self) -> dt.time:
        return parse_hhmm(self.day_start, "day_start")

    @property
    def end(self) -> dt.time:
        return parse_hhmm(self.day_end, "day_end")
