"""SLA met/breached per month, hospital and urgency in the service report, from clocks run
through the real clock store at controlled times (breaches fired by the worker's claim, a
pause waiting on the hospital, clocks still running), and in the page and its exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from bot.duty.calendar import WorkCalendar
from bot.duty.settings import DutySettings
from bot.sla.clocks import SlaClocks
from bot.sla.settings import SlaSettings
from bot.sla.worktime import WorkTime
from bot.web.settings import ServiceTargets
from bot.web.sla_report import SlaRow, SlaTally
from tests.web.conftest import WebEnv
from tests.web.test_reports import NOV, NOW, World, mins
from tests.web.test_reports import world as world

OCT = dt.datetime(2026, 10, 12, 2, 0)


def clocks_of(w: World) -> SlaClocks:
    """Round-the-clock targets (no working-time calendar), as [reports.targets] says."""
    worktime = WorkTime(DutySettings(), WorkCalendar())
    return SlaClocks(w.engine, SlaSettings(working_time=()), ServiceTargets(), worktime)


def timed(w: World, at: dt.datetime, **kwargs: object) -> str:
    """A ticket (as ``World.ticket``) whose clocks started when it was opened."""
    number = w.ticket(at, **kwargs)  # type: ignore[arg-type]
    clocks_of(w).start(number, at)
    return number


def run_tickets(w: World) -> None:
    """October: one P1 at h001. November: two P1s at h001 (each meets one target and misses
    the other), a P3 paused while waiting on the hospital, a P4 just opened, and a P2 at h002
    whose accept breach the worker fired before anyone claimed it."""
    clocks = clocks_of(w)
    timed(w, OCT, urgency="P1", accept=5, resolve=60)
    timed(w, NOV, urgency="P1", accept=10, resolve=300)  # resolve 300 > 240: breached
    timed(w, NOV + dt.timedelta(days=1), urgency="P1", accept=20, resolve=100)  # accept late
    clocks.settle(NOV + dt.timedelta(days=1, hours=3))
    p2_at = NOV + dt.timedelta(days=2)
    p2 = timed(w, p2_at, urgency="P2", hospital="h002")
    fired = clocks.claim_due(p2_at + mins(40))  # accept target 30: the breach fires
    assert [(f.ticket_number, f.step.value) for f in fired] == [(p2, "breach")]
    w.clock.set(p2_at + mins(50))
    w.tickets.claim(p2, "e01")
    clocks.settle(p2_at + mins(50))
    p3_at = NOV + dt.timedelta(days=3)
    p3 = timed(w, p3_at, urgency="P3")  # accept 120 min
    clocks.pause(p3, p3_at + mins(60))
    clocks.resume(p3, p3_at + mins(300))  # 4 h waiting on the hospital: due at +360
    w.clock.set(p3_at + mins(330))
    w.tickets.claim(p3, "e01")
    clocks.settle(p3_at + mins(330))
    timed(w, NOW - mins(180), urgency="P4")  # accept due in 5 h: running


def test_met_breached_and_running_per_month_hospital_and_urgency(world: World) -> None:
    run_tickets(world)
    rows = world.report(month=11).sla
    assert rows == (
        SlaRow(11, "h001", "第一人民医院", "P1", SlaTally(1, 1, 0), SlaTally(1, 1, 0)),
        # paused 4 h: claimed at +330 min against a 120-min target is still met; the
        # resolve target (4320 min + 4 h) passed before NOW with the ticket open
        SlaRow(11, "h001", "第一人民医院", "P3", SlaTally(1, 0, 0), SlaTally(0, 1, 0)),
        SlaRow(11, "h001", "第一人民医院", "P4", SlaTally(0, 0, 1), SlaTally(0, 0, 1)),
        SlaRow(11, "h002", "第二人民医院", "P2", SlaTally(0, 1, 0), SlaTally(0, 1, 0)),
    )
    assert rows[0].accept.met_rate == 0.5 and rows[2].accept.met_rate is None
    assert [r.hospital_id for r in world.report(hospital="h002", month=11).sla] == ["h002"]
    year = world.report(hospital="h001", month=None).sla
    assert [(r.month, r.urgency) for r in year] == [(10, "P1"), (11, "P1"), (11, "P3"), (11, "P4")]
    assert year[0].accept == year[0].resolve == SlaTally(1, 0, 0)
    assert world.report(month=9).sla == ()


@pytest.fixture
async def sla_data(web: WebEnv) -> World:
    """The clocks as ``run_tickets`` leaves them: the app's own clock worker (on the real
    time, weeks after NOW) is stopped so it does not fire them meanwhile."""
    assert web.app.services.sla is not None
    await web.app.services.sla.stop()
    web.clock.fixed = NOW.replace(tzinfo=dt.UTC)
    w = World(web.app.db)  # type: ignore[arg-type]
    run_tickets(w)
    return w


async def test_the_report_page_and_exports_have_the_sla_section(
    web: WebEnv, sla_data: World
) -> None:
    client = await web.login("e01")
    page = await client.get("/reports", params={"year": "2026", "month": "11"})
    assert 'id="sla"' in page.text and "SLA 达成" in page.text
    assert "<td>1 / 1</td><td>50.0%</td>" in page.text  # h001 P1, accept and resolve
    empty = await client.get("/reports", params={"year": "2026", "month": "9"})
    assert 'id="sla"' not in empty.text and "本期间没有计时的工单" in empty.text

    r = await client.get("/reports/export.csv", params={"year": "2026", "month": "11"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    at = rows.index(["SLA达成"])
    assert rows[at + 1][:4] == ["月份", "医院代码", "医院", "紧急程度"]
    assert rows[at + 2] == [
        "11月",
        "h001",
        "第一人民医院",
        "P1",
        "1",
        "1",
        "0",
        "50.0",
        "1",
        "1",
        "0",
        "50.0",
    ]
    assert rows[at + 5][:8] == ["11月", "h002", "第二人民医院", "P2", "0", "1", "0", "0.0"]

    r = await client.get(
        "/reports/export.xlsx", params={"hospital": "h001", "year": "2026", "month": "all"}
    )
    sheet = load_workbook(io.BytesIO(r.content))["SLA达成"]
    got = [row[:8] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert got[0] == ("10月", "h001", "第一人民医院", "P1", 1, 0, 0, 100.0)
    assert [g[3] for g in got] == ["P1", "P1", "P3", "P4"]
