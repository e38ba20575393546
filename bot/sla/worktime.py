"""Minutes on a clock: every minute, or working minutes only (working days, working hours).

A P3 raised on Friday at 17:00 with a 2-hour working-time target is due Monday 10:00 (or the
next working day after a holiday; a 调休 Saturday counts as a working day).
"""

from __future__ import annotations

import datetime as dt

from bot.duty.calendar import WorkCalendar
from bot.duty.settings import DutySettings
from bot.infra.clock import as_utc

#: A working-time target never runs further than this (a missing calendar cannot loop forever).
_MAX_DAYS = 3660


class WorkTime:
    def __init__(self, settings: DutySettings, calendar: WorkCalendar) -> None:
        self._settings = settings
        self._calendar = calendar
        #: Each day's working window, worked out once: a year's report places the targets of
        #: thousands of tickets on the same few hundred days.
        self._windows: dict[dt.date, tuple[dt.datetime, dt.datetime] | None] = {}

    def _window_of(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        if day in self._windows:
            return self._windows[day]
        window = None
        if self._calendar.is_working_day(day):
            zone = self._settings.zone
            begin = dt.datetime.combine(day, self._settings.start, zone)
            end = dt.datetime.combine(day, self._settings.end, zone)
            window = as_utc(begin), as_utc(end)
        self._windows[day] = window
        return window

    def _local_day(self, at: dt.datetime) -> dt.date:
        return as_utc(at).replace(tzinfo=dt.UTC).astimezone(self._settings.zone).date()

    def add(self, start: dt.datetime, minutes: float, working: bool) -> dt.datetime:
        """The instant ``minutes`` after ``start`` on this clock."""
        start = as_utc(start)
        if not working:
            return start + dt.timedelta(minutes=minutes)
        left = dt.timedelta(minutes=minutes)
        day = self._local_day(start)
        for _ in range(_MAX_DAYS):
            window = self._window_of(day)
            day += dt.timedelta(days=1)
            if window is None or window[1] <= start:
                continue
            begin = max(window[0], start)
            if begin + left <= window[1]:
                return begin + left
            left -= window[1] - begin
        raise ValueError("working-time target beyond ten years")

    def between(self, start: dt.datetime, end: dt.datetime, working: bool) -> float:
        """Minutes on this clock from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        start, end = as_utc(start), as_utc(end)
        if end < start:
            return -self.between(end, start, working)
        if not working:
            return (end - start).total_seconds() / 60
        total = dt.timedelta()
        day = self._local_day(start)
        while day <= self._local_day(end):
            window = self._window_of(day)
            day += dt.timedelta(days=1)
            if window is None:
                continue
            begin, finish = max(window[0], start), min(window[1], end)
            if finish > begin:
                total += finish - begin
        return total.total_seconds() / 60
