"""A hospital contract's own SLA targets in the service report: a ticket is judged overdue
(超时) by its SLA clocks (the minutes they started with), else by its hospital's own target
for its urgency, else the default — the same rule in the 超时工单 list, the counts, the 目标
column, the 工单记录 sheet, the CSV/XLSX exports and the annual review (``SlaJudge``)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import load_workbook

from bot.sla.targets import Target
from bot.web.report_pages import local_times
from bot.web.reports import period
from bot.web.ticket_sheet import HEADERS, ticket_section
from tests.web.conftest import WebEnv
from tests.web.test_reports import NOV, NOW, SH, World, mins
from tests.web.test_reports import world as world

#: Friday 2026-11-06 17:00 in Shanghai: half an hour of the working day left.
FRIDAY = dt.datetime(2026, 11, 6, 9, 0, tzinfo=dt.UTC)


def late_numbers(w: World, **kwargs: object) -> list[str]:
    return sorted(t.number for t in w.report(**kwargs).beyond_target)  # type: ignore[arg-type]


def test_without_clocks_overdue_follows_the_hospitals_own_target(world: World) -> None:
    """h001's P2 target is tighter than the default (10 minutes to accept, not 30), h002's
    looser (60): accepted after 20 and 45 minutes, only h001's ticket is overdue — until
    h002's own target is dropped and the default judges its ticket."""
    sla = world.sla
    sla.set_target("h001", "P2", 10, 1440)
    sla.set_target("h002", "P2", 60, 1440)
    tight = world.ticket(NOV, urgency="P2", hospital="h001", accept=20, resolve=60)
    loose = world.ticket(NOV, urgency="P2", hospital="h002", accept=45, resolve=60)
    r = world.report()
    assert [t.number for t in r.beyond_target] == [tight]
    late = r.beyond_target[0]
    assert (late.accept_late, late.resolve_late) == (True, False)
    assert late.sla.target_text == "10 / 1440 分钟（合同目标，全天计时）"
    assert {h.key: h.beyond_target for h in r.hospitals} == {"h001": 1, "h002": 0}
    p2 = r.timing[2]  # all hospitals: the default, and who differs
    assert (p2.urgency, p2.target) == ("P2", Target(30, 1440, False))
    assert p2.target_note == "默认目标，全天计时；2 家医院另有合同目标"
    one = world.report(hospital="h002")
    assert one.beyond_target == ()
    assert one.timing[2].target == Target(60, 1440, False, own=True)
    assert one.timing[2].target_note == "合同目标，全天计时"
    assert world.report(hospital="h001").timing[1].target_note == "默认目标，全天计时"  # P1
    sla.reset_target("h002", "P2")
    assert late_numbers(world) == sorted([tight, loose])
    assert world.report(hospital="h002").beyond_target[0].sla.target_text == (
        "30 / 1440 分钟（默认目标，全天计时）"
    )


def test_without_clocks_a_working_time_target_counts_working_time(world: World) -> None:
    """h001's own P1 target counts working time: opened Friday 17:00, accepted Monday 08:45
    (45 working minutes, 63¾ hours) meets 60 minutes; h002's default P1 (15 minutes around the
    clock) is missed by the same times."""
    world.sla.set_target("h001", "P1", 60, 600, working_time=True)
    met = world.ticket(FRIDAY, urgency="P1", hospital="h001", accept=3825, resolve=3885)
    missed = world.ticket(FRIDAY, urgency="P1", hospital="h002", accept=3825, resolve=3885)
    assert late_numbers(world) == [missed]
    span = period(2026, 11, SH)
    rows = ticket_section(
        world.engine, world.sla, "h001", span.start, span.end, local_times(SH), NOW
    ).rows
    row = dict(zip(HEADERS.split(), rows[0], strict=True))
    assert row["工单号"] == met and (row["受理SLA"], row["解决SLA"]) == ("达标", "达标")
    assert row["受理时限"] == dt.datetime(2026, 11, 9, 9, 0)  # Monday 09:00, local
    assert row["SLA目标（受理/解决）"] == "60 / 600 分钟（合同目标，只计工作时间）"


def test_with_clocks_a_ticket_keeps_the_target_its_clocks_started_with(world: World) -> None:
    """A ticket whose clocks started under the default (30 minutes) is not made overdue by a
    tighter target set afterwards; one opened after it is judged by it — in the list, the
    工单记录 sheet and the SLA达成 table alike."""
    sla = world.sla
    before = world.ticket(NOV, urgency="P2", accept=20, resolve=60)
    sla.start(before, NOV)
    sla.set_target("h001", "P2", 10, 1440)
    after = world.ticket(NOV + mins(120), urgency="P2", accept=20, resolve=60)
    sla.start(after, NOV + mins(120))
    sla.settle(NOW)
    assert late_numbers(world) == [after]
    span = period(2026, 11, SH)
    sheet = ticket_section(world.engine, sla, None, span.start, span.end, local_times(SH), NOW)
    rows = {
        r["工单号"]: r for r in (dict(zip(HEADERS.split(), r, strict=True)) for r in sheet.rows)
    }
    assert (rows[before]["受理SLA"], rows[after]["受理SLA"]) == ("达标", "超时")
    assert rows[before]["SLA目标（受理/解决）"] == "30 / 1440 分钟（SLA 计时，全天计时）"
    assert rows[after]["SLA目标（受理/解决）"] == "10 / 1440 分钟（SLA 计时，全天计时）"
    (row,) = world.report().sla
    assert (row.accept.met, row.accept.breached) == (1, 1)


async def test_the_page_and_every_export_judge_by_the_hospitals_own_target(web: WebEnv) -> None:
    web.clock.fixed = NOW.replace(tzinfo=dt.UTC)
    w = World(web.app.db)  # type: ignore[arg-type]
    clocks = web.console.sla_clocks
    clocks.set_target("h001", "P2", 10, 1440)  # tighter than the default 30
    clocks.set_target("h002", "P2", 60, 1440)  # looser
    tight = w.ticket(NOV, urgency="P2", hospital="h001", accept=20, resolve=60)
    loose = w.ticket(NOV, urgency="P2", hospital="h002", accept=45, resolve=60)
    client = await web.login("e01")
    month = {"year": "2026", "month": "11"}

    page = (await client.get("/reports", params=month)).text
    late = page.split('id="late"')[1].split("</table>")[0]
    assert tight in late and loose not in late
    assert "10 / 1440 分钟（合同目标，全天计时）" in late
    assert 'id="fig-late">1（0）<' in page
    timing = page.split('id="timing"')[1].split("</table>")[0]
    assert "30 / 1440 分钟" in timing and "2 家医院另有合同目标" in timing
    one = (await client.get("/reports", params={**month, "hospital": "h002"})).text
    assert 'id="late"' not in one and "本期没有超时工单" in one
    assert "60 / 1440 分钟" in one and "合同目标，全天计时" in one

    r = await client.get("/reports/export.csv", params=month)
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    at = rows.index(["超时工单"])
    assert rows[at + 1][-1] == "目标（受理/解决）"
    assert [rows[at + 2][0], rows[at + 2][-1], rows[at + 3]] == [
        tight,
        "10 / 1440 分钟（合同目标，全天计时）",
        [],
    ]
    p2 = next(row for row in rows[rows.index(["处理时效"]) + 2 :] if row[0] == "P2")
    assert p2[-3:] == ["30", "1440", "默认目标，全天计时；2 家医院另有合同目标"]

    def judged(book_bytes: bytes) -> dict[str, tuple[str, str]]:
        sheet = load_workbook(io.BytesIO(book_bytes))["工单记录"]
        heads = [c.value for c in sheet[1]]
        tickets = [
            dict(zip(heads, row, strict=True))
            for row in sheet.iter_rows(min_row=2, values_only=True)
        ]
        return {
            str(t["工单号"]): (str(t["受理SLA"]), str(t["SLA目标（受理/解决）"])) for t in tickets
        }

    expected = {
        tight: ("超时", "10 / 1440 分钟（合同目标，全天计时）"),
        loose: ("达标", "60 / 1440 分钟（合同目标，全天计时）"),
    }
    xlsx = await client.get("/reports/export.xlsx", params=month)
    assert judged(xlsx.content) == expected
    annual = await client.get("/reports/annual.xlsx", params={"year": "2026"})
    assert annual.status_code == 200 and judged(annual.content) == expected
    book = load_workbook(io.BytesIO(annual.content))
    assert [row[0] for row in book["超时工单"].iter_rows(min_row=2, values_only=True)] == [tight]
