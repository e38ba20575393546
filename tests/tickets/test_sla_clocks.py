"""SLA clocks with a controllable clock: warning at 80 % and breach fire once, across a
restart; repeated pages until acknowledged; pause/resume; working-time calendars; targets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from bot.duty import DutySettings, WorkCalendar
from bot.sla.clocks import SlaClocks, minutes_left
from bot.sla.models import ClockKind, Step
from bot.sla.settings import SlaSettings
from bot.sla.targets import MAX_TARGET_MINUTES, Target, TargetError
from bot.sla.worktime import WorkTime
from bot.tickets import Ticket, TicketStore
from bot.web.settings import ServiceTargets
from tests.tickets.conftest import FakeClock
from tests.tickets.test_duty_roster import local


def make_clocks(engine: Engine, **settings: object) -> SlaClocks:
    """What a (re)started bot builds: nothing is carried over but the database."""
    worktime = WorkTime(DutySettings(), WorkCalendar())
    return SlaClocks(engine, SlaSettings(**settings), ServiceTargets(), worktime)  # type: ignore[arg-type]


def steps(clocks: SlaClocks, at: dt.datetime) -> list[tuple[str, ClockKind, Step, int]]:
    return [(f.ticket_number, f.kind, f.step, f.page_no) for f in clocks.claim_due(at)]


def test_warning_and_breach_fire_once_across_a_restart(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    start = clock.now
    ticket = open_ticket(urgency="P1")  # accept 15 min, resolve 240 min, around the clock
    clocks = make_clocks(engine)
    clocks.start(ticket.number, start)
    clocks.start(ticket.number, start)  # idempotent
    assert len(clocks.for_ticket(ticket.number)) == 2
    n = ticket.number
    assert steps(clocks, start + dt.timedelta(minutes=11, seconds=59)) == []
    at_warn = start + dt.timedelta(minutes=12)  # 80 % of 15 minutes
    assert steps(clocks, at_warn) == [(n, ClockKind.ACCEPT, Step.WARN, 0)]
    assert steps(clocks, at_warn) == []
    restarted = make_clocks(engine)
    assert steps(restarted, at_warn + dt.timedelta(minutes=1)) == []
    at_breach = start + dt.timedelta(minutes=15)
    assert steps(restarted, at_breach) == [(n, ClockKind.ACCEPT, Step.BREACH, 1)]
    assert steps(make_clocks(engine), at_breach + dt.timedelta(minutes=5)) == []
    # repeated every [sla] repeat_minutes (10) until someone acknowledges
    again = at_breach + dt.timedelta(minutes=10)
    assert steps(make_clocks(engine), again) == [(n, ClockKind.ACCEPT, Step.REPAGE, 2)]
    assert [c.kind for c in clocks.acknowledge(n, "e01", again)] == ["accept"]
    assert steps(clocks, again + dt.timedelta(minutes=30)) == []


def test_two_workers_never_claim_the_same_step(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    ticket = open_ticket(urgency="P1")
    first, second = make_clocks(engine), make_clocks(engine)
    first.start(ticket.number, clock.now)
    late = clock.now + dt.timedelta(minutes=16)
    rows = first.claim_due(late) + second.claim_due(late)
    assert [(f.kind, f.step) for f in rows] == [(ClockKind.ACCEPT, Step.BREACH)]


def test_claiming_the_ticket_stops_the_accept_clock(
    engine: Engine, clock: FakeClock, store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    ticket = open_ticket(urgency="P1")
    clocks = make_clocks(engine)
    clocks.start(ticket.number, clock.now)
    clock.advance(minutes=5)
    store.claim(ticket.number, "e02")
    assert steps(clocks, clock.now + dt.timedelta(hours=1)) == []
    accept, resolve = clocks.for_ticket(ticket.number)
    assert accept.stopped_at == clock.now and resolve.stopped_at is None
    assert minutes_left(accept, clocks.worktime, clock.now + dt.timedelta(hours=1)) == 10
    store.resolve(ticket.number, "e02", "重启了应用服务器")
    assert steps(clocks, clock.now + dt.timedelta(days=2)) == []
    assert clocks.for_ticket(ticket.number)[1].stopped_at is not None


def test_pause_while_waiting_on_the_hospital_and_resume(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    start = clock.now
    ticket = open_ticket(urgency="P2")  # accept 30 min around the clock
    clocks = make_clocks(engine)
    clocks.start(ticket.number, start)
    paused_at = start + dt.timedelta(minutes=10)
    assert len(clocks.pause(ticket.number, paused_at)) == 2
    assert clocks.pause(ticket.number, paused_at) == []  # already paused
    assert steps(clocks, start + dt.timedelta(hours=5)) == []
    resumed_at = start + dt.timedelta(hours=2)
    clocks.resume(ticket.number, resumed_at)
    accept = clocks.for_ticket(ticket.number)[0]
    assert accept.due_at == resumed_at + dt.timedelta(minutes=20)  # 20 of 30 minutes were left
    assert accept.warn_at == resumed_at + dt.timedelta(minutes=14)
    assert steps(clocks, resumed_at + dt.timedelta(minutes=13)) == []
    assert steps(clocks, resumed_at + dt.timedelta(minutes=20))[0][2] == Step.BREACH


def test_working_time_skips_nights_weekends_and_the_national_day_holiday(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    worktime = WorkTime(DutySettings(), WorkCalendar())
    friday_five = local(2026, 3, 6, 17, 0)
    # 30 minutes on Friday, the other 90 on Monday morning from 08:30
    assert worktime.add(friday_five, 120, working=True) == local(2026, 3, 9, 10, 0)
    assert worktime.between(friday_five, local(2026, 3, 9, 10, 0), working=True) == 120
    # 30 September 17:00: 1–7 October are holidays, 8 October is the next working day
    assert worktime.add(local(2026, 9, 30, 17, 0), 120, working=True) == local(2026, 10, 8, 10, 0)
    # a 调休 Saturday (10 October) counts as a working day
    assert worktime.add(local(2026, 10, 9, 17, 0), 120, working=True) == local(2026, 10, 10, 10, 0)
    clock.set(friday_five)
    ticket = open_ticket(urgency="P3")  # [sla] working_time includes P3 by default
    accept = make_clocks(engine).start(ticket.number, friday_five)[0]
    assert accept.working_time and accept.due_at == local(2026, 3, 9, 10, 0)


def test_a_hospital_contract_overrides_the_default_targets(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    clocks = make_clocks(engine)
    clocks.set_target("h001", "P2", accept=10, resolve=60, working_time=False)
    ticket = open_ticket(urgency="P2")
    accept, resolve = clocks.start(ticket.number, clock.now)
    assert (accept.target_minutes, resolve.target_minutes) == (10, 60)
    other = open_ticket(urgency="P2", hospital_id="h002", source_chat_id="C123")
    assert clocks.start(other.number, clock.now)[0].target_minutes == 30
    with pytest.raises(ValueError, match="positive"):
        clocks.set_target("h001", "P2", accept=0, resolve=60, working_time=False)


@pytest.mark.usefixtures("registry")  # the hospitals h001, h002
def test_targets_are_checked_in_one_place_listed_at_once_and_reset(engine: Engine) -> None:
    """The rules ``hisbot sla target`` and the console share (``bot.sla.targets``): a refused
    target leaves the stored one; a reset brings the default back."""
    clocks = make_clocks(engine)
    clocks.set_target("h001", "P2", accept=10, resolve=60, working_time=True)
    refused = [
        (("h001", "P2", 90, 60), "cannot be shorter", "不能短于受理时限"),
        (("h001", "P2", 10, MAX_TARGET_MINUTES + 1), "at most 525600", "最长一年"),
        (("h001", "P2", -1, 60), "positive", "不能是 -1"),
        (("h001", "P9", 10, 60), "unknown urgency", "没有这个紧急程度"),
        (("h999", "P2", 10, 60), "no hospital h999", "没有这家医院：h999"),
    ]
    for (hospital, urgency, accept, resolve), english, chinese in refused:
        with pytest.raises(TargetError, match=english) as caught:
            clocks.set_target(hospital, urgency, accept, resolve, working_time=False)
        assert chinese in caught.value.chinese
    clocks.set_target("h001", "P4", accept=60, resolve=60, working_time=False)  # equal: fine
    every = clocks.targets(["h001", "h002"])
    assert len(every) == 8
    assert every[("h001", "P2")] == Target(10, 60, True, own=True)
    assert every[("h002", "P2")] == clocks.default_target("P2") == Target(30, 1440, False)
    assert every[("h002", "P3")].working_time  # [sla] working_time: P3, P4
    assert clocks.reset_target("h001", "P2") == Target(10, 60, True, own=True)
    assert clocks.reset_target("h001", "P2") is None
    assert clocks.target("h001", "P2") == clocks.default_target("P2")
    with pytest.raises(TargetError, match="no hospital"):
        clocks.reset_target("h999", "P2")


def test_a_raise_to_p1_brings_the_clocks_forward_and_never_gives_more_time(
    engine: Engine, clock: FakeClock, store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    ticket = open_ticket(urgency="P3")
    n = ticket.number
    clocks = make_clocks(engine)
    clocks.start(n, clock.now)
    before = {c.kind: c.due_at for c in clocks.for_ticket(n)}
    raised_at = clock.now + dt.timedelta(minutes=5)
    store.set_urgency(n, "P1", "e01")
    assert {c.kind for c in clocks.retarget(n, raised_at)} == {"accept", "resolve"}
    accept, resolve = clocks.for_ticket(n)
    assert accept.due_at == raised_at + dt.timedelta(minutes=15) < before["accept"]
    assert resolve.due_at == raised_at + dt.timedelta(minutes=240) < before["resolve"]
    assert (accept.target_minutes, resolve.target_minutes) == (15, 240)
    # the P1's warning at 80 % of its 15 minutes, counted from the raise
    assert steps(clocks, raised_at + dt.timedelta(minutes=11)) == []
    assert steps(clocks, raised_at + dt.timedelta(minutes=12)) == [
        (n, ClockKind.ACCEPT, Step.WARN, 0)
    ]
    # raised again later: nothing sooner to give, nothing changes
    assert clocks.retarget(n, raised_at + dt.timedelta(minutes=1)) == []
    assert clocks.for_ticket(n)[0].due_at == accept.due_at


def test_a_raise_leaves_breached_and_stopped_clocks_alone(
    engine: Engine, clock: FakeClock, store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    ticket = open_ticket(urgency="P2")
    n = ticket.number
    clocks = make_clocks(engine)
    clocks.start(n, clock.now)
    late = clock.now + dt.timedelta(days=3)
    assert ClockKind.ACCEPT in {f.kind for f in clocks.claim_due(late) if f.step is Step.BREACH}
    store.set_urgency(n, "P1", "e01")
    changed = clocks.retarget(n, late)
    assert ClockKind.ACCEPT.value not in {c.kind for c in changed}
    accept = clocks.for_ticket(n)[0]
    assert accept.breached_at is not None and accept.target_minutes != 15


def test_a_lowered_urgency_is_judged_as_if_it_had_been_so_from_the_start(
    engine: Engine, clock: FakeClock, store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    ticket = open_ticket(urgency="P1")  # the bot's P1 that was one user's problem
    n, start = ticket.number, clock.now
    clocks = make_clocks(engine)
    clocks.start(n, start)
    store.set_urgency(n, "P2", "e01")
    later = start + dt.timedelta(minutes=5)
    assert {c.kind for c in clocks.retarget(n, later)} == {"accept", "resolve"}
    accept, _ = clocks.for_ticket(n)
    p2 = clocks.target("h001", "P2")
    assert accept.target_minutes == p2.accept_minutes > 15
    assert accept.due_at == clocks.worktime.add(start, p2.accept_minutes, p2.working_time)
    # the P1's 15 minutes pass without a warning or a page
    assert steps(clocks, start + dt.timedelta(minutes=16)) == []
