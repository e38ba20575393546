"""The duty roster against China's calendar: shifts across midnight, weekends, public holidays
and 调休 working days; rotations, overrides, swaps and routing."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

import pytest
from sqlalchemy import Engine

from bot.duty import DayKind, Post, Roster, RosterError, WorkCalendar
from bot.registry import RegistryStore
from tests.tickets.conftest import FakeClock

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    """A Shanghai wall-clock time as the aware UTC instant the stores use."""
    return dt.datetime(*args, tzinfo=SHANGHAI).astimezone(dt.UTC)


@pytest.fixture
def roster(engine: Engine, registry: RegistryStore, clock: FakeClock) -> Roster:
    clock.set(local(2026, 3, 4, 12, 0))  # a Wednesday
    r = Roster(engine, clock=clock)
    monday = dt.date(2026, 3, 2)
    r.set_rotation(Post.DAY, ["e01"], "e09", starts_on=monday)
    r.set_rotation(Post.NIGHT, ["e02", "e01"], "e09", starts_on=monday)
    r.set_rotation(Post.WEEKEND, ["e01", "e02"], "e09", starts_on=monday)
    r.set_rotation(Post.HOSPITAL, ["e02", "e01"], "e09", hospital_id="h001", starts_on=monday)
    return r


def test_calendar_knows_holidays_adjusted_days_and_weekends() -> None:
    cal = WorkCalendar()
    assert cal.day(dt.date(2026, 10, 1)).kind == DayKind.HOLIDAY
    assert cal.day(dt.date(2026, 10, 1)).holiday == "National Day"
    assert cal.day(dt.date(2026, 3, 7)).kind == DayKind.WEEKEND
    # Saturday 14 February 2026 is worked to make up for the Spring Festival holiday
    assert cal.day(dt.date(2026, 2, 14)).kind == DayKind.ADJUSTED_WORKDAY
    assert cal.is_working_day(dt.date(2026, 2, 14))
    assert cal.day(dt.date(2026, 3, 4)).kind == DayKind.WORKDAY


def test_a_year_the_package_does_not_know_warns_once_and_guesses_weekends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING):
        thursday = cal.day(dt.date(2031, 1, 2))
        saturday = cal.day(dt.date(2031, 1, 4))
    assert (thursday.kind, thursday.known) == (DayKind.WORKDAY, False)
    assert saturday.kind == DayKind.WEEKEND
    warnings = [r for r in caplog.records if "2031" in r.getMessage()]
    assert len(warnings) == 1 and "upgrade" in warnings[0].getMessage()
    assert cal.unknown_years() == [2031]


def test_the_night_shift_runs_across_midnight(roster: Roster) -> None:
    evening = roster.now(local(2026, 3, 4, 23, 0))
    small_hours = roster.now(local(2026, 3, 5, 2, 0))
    morning = roster.now(local(2026, 3, 5, 9, 0))
    assert (evening.shift, evening.duty_day.date) == (Post.NIGHT, dt.date(2026, 3, 4))
    assert (small_hours.shift, small_hours.duty_day.date) == (Post.NIGHT, dt.date(2026, 3, 4))
    assert evening.on_call == small_hours.on_call == "e02"
    assert (morning.shift, morning.on_call, morning.working_hours) == (Post.DAY, "e01", True)
    # 17:30 is the end of working hours
    assert roster.now(local(2026, 3, 5, 17, 29)).shift == Post.DAY
    assert roster.now(local(2026, 3, 5, 17, 30)).shift == Post.NIGHT


def test_weekend_and_weekly_rotation(roster: Roster) -> None:
    friday_night = roster.now(local(2026, 3, 7, 3, 0))  # Saturday 03:00: still Friday's night
    saturday = roster.now(local(2026, 3, 7, 10, 0))
    next_saturday = roster.now(local(2026, 3, 14, 10, 0))
    assert (friday_night.shift, friday_night.duty_day.date) == (Post.NIGHT, dt.date(2026, 3, 6))
    assert (saturday.shift, saturday.on_call) == (Post.WEEKEND, "e01")
    assert (next_saturday.shift, next_saturday.on_call) == (Post.WEEKEND, "e02")
    assert roster.now(local(2026, 3, 10, 22, 0)).on_call == "e01"  # the night rotation's week 2


def test_public_holiday_and_adjusted_working_day(roster: Roster) -> None:
    national_day = roster.now(local(2026, 10, 1, 10, 0))
    assert national_day.shift == Post.HOLIDAY and national_day.duty_day.holiday == "National Day"
    assert national_day.on_call is not None  # no holiday rotation: covered like a weekend
    roster.set_rotation(Post.HOLIDAY, ["e09"], "e09")
    assert roster.now(local(2026, 10, 1, 10, 0)).on_call == "e09"
    worked_saturday = roster.now(local(2026, 2, 14, 10, 0))
    assert (worked_saturday.shift, worked_saturday.working_hours) == (Post.DAY, True)
    assert worked_saturday.duty_day.kind == DayKind.ADJUSTED_WORKDAY


def test_overrides_and_swaps(roster: Roster) -> None:
    wednesday, thursday = dt.date(2026, 3, 4), dt.date(2026, 3, 11)
    assert roster.holder(Post.NIGHT, wednesday) == "e02"
    assert roster.holder(Post.NIGHT, thursday) == "e01"
    assert roster.swap(Post.NIGHT, wednesday, thursday, "e09") == ("e01", "e02")
    assert roster.now(local(2026, 3, 5, 1, 0)).on_call == "e01"
    roster.set_override(wednesday, Post.NIGHT, "e09", "e09", reason="请假")
    assert roster.holder(Post.NIGHT, wednesday) == "e09"
    with pytest.raises(RosterError, match="no engineer"):
        roster.set_override(wednesday, Post.NIGHT, "e77", "e09")
    with pytest.raises(RosterError, match="nothing to swap"):
        roster.swap(Post.DAY, wednesday, thursday, "e09")


def test_routing_by_hours_and_urgency(roster: Roster, registry: RegistryStore) -> None:
    hospital = registry.get_hospital("h001")
    assert hospital is not None
    working = roster.routing(hospital, "P3", local(2026, 3, 4, 10, 0))
    # the dedicated engineer (e01) and the hospital's engineer of the day (e02 on day 2)
    assert roster.engineer_of_the_day("h001", dt.date(2026, 3, 4)) == "e02"
    assert working.mention == ("e01", "e02") and working.page == ()
    night = roster.routing(hospital, "P3", local(2026, 3, 4, 22, 0))
    assert night.mention == ("e02",) and night.page == ()
    p1 = roster.routing(hospital, "P1", local(2026, 3, 4, 22, 0))
    # on call and the lead (e09 has the lead role; no lead rotation is set)
    assert p1.page == ("e02", "e09")
    roster.set_rotation(Post.LEAD, ["e01"], "e09")
    assert roster.routing(hospital, "P1", local(2026, 3, 4, 22, 0)).page == ("e02", "e01")
