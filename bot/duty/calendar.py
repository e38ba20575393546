"""China's working calendar: weekends, public holidays and adjusted working days (调休).

The holiday schedule is published by the State Council each winter for the next year; the
``chinesecalendar`` package tracks it. A year it does not know yet falls back to plain
weekdays/weekends and says so (``DayInfo.known`` is False, and a warning is logged once per
year) — a roster must not crash on 1 January because a package was not upgraded.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

import chinese_calendar

log = logging.getLogger(__name__)


class DayKind(StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    #: A Saturday or Sunday that is a working day to make up for a holiday (调休上班).
    ADJUSTED_WORKDAY = "adjusted_workday"

    @property
    def working(self) -> bool:
        return self in (DayKind.WORKDAY, DayKind.ADJUSTED_WORKDAY)

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    DayKind.WORKDAY: "工作日",
    DayKind.WEEKEND: "周末",
    DayKind.HOLIDAY: "法定节假日",
    DayKind.ADJUSTED_WORKDAY: "调休上班",
}


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    kind: DayKind
    #: The holiday's name (e.g. "National Day") on holidays and their make-up working days.
    holiday: str | None = None
    #: False when the package has no schedule for this year: weekends are guessed.
    known: bool = True


class WorkCalendar:
    """Which days are working days; results are cached per date (the schedule is fixed)."""

    def __init__(self) -> None:
        self._cache: dict[dt.date, DayInfo] = {}
        self._warned_years: set[int] = set()

    def day(self, date: dt.date) -> DayInfo:
        info = self._cache.get(date)
        if info is None:
            info = self._cache[date] = self._lookup(date)
        return info

    def is_working_day(self, date: dt.date) -> bool:
        return self.day(date).kind.working

    def unknown_years(self) -> list[int]:
        """Years asked about that the installed package has no schedule for."""
        return sorted(self._warned_years)

    def _lookup(self, date: dt.date) -> DayInfo:
        weekend = date.weekday() >= 5
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(date)
        except NotImplementedError:
            if date.year not in self._warned_years:
                self._warned_years.add(date.year)
                log.warning(
                    "chinesecalendar has no holiday schedule for %d: treating Mon–Fri as working "
                    "days and ignoring public holidays; upgrade the package "
                    "(pip install -U chinesecalendar)",
                    date.year,
                )
            return DayInfo(date, DayKind.WEEKEND if weekend else DayKind.WORKDAY, known=False)
        holiday = str(name) if name else None
        if on_holiday:
            return DayInfo(
                date, DayKind.WEEKEND if weekend and not holiday else DayKind.HOLIDAY, holiday
            )
        return DayInfo(date, DayKind.ADJUSTED_WORKDAY if weekend else DayKind.WORKDAY, holiday)
