"""Service reports: the figures from real tickets and exchanges at controlled times, and the
pages and exports engineers download (and nobody else can).

The computation tests run on SQLite and, with ``HISBOT_TEST_PG_URL`` set, on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from bot.conversation.exchanges import ExchangeStore, Outcome
from bot.duty.calendar import WorkCalendar
from bot.duty.settings import DutySettings
from bot.infra.db import make_engine
from bot.registry import RegistryStore
from bot.sla.clocks import SlaClocks
from bot.sla.settings import SlaSettings
from bot.sla.worktime import WorkTime
from bot.tickets import TicketStore
from bot.web.reports import Report, build_report, median, nearest_rank, period
from bot.web.settings import ServiceTargets
from tests.tickets.conftest import FakeClock
from tests.web.conftest import WebEnv

SH = ZoneInfo("Asia/Shanghai")
#: 2026-11-20 12:00 in Shanghai: "now" for every test.
NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
NOV = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)  # a Monday morning in November, UTC


def mins(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


@dataclass
class World:
    """Tickets and questions written through the real stores at the times a test says."""

    engine: Engine
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOV))
    seq: Iterator[int] = field(default_factory=lambda: iter(range(1000, 100_000)))

    @property
    def tickets(self) -> TicketStore:
        return TicketStore(self.engine, self.clock)

    @property
    def sla(self) -> SlaClocks:
        """The targets as the shipped config has them: ``[reports.targets]``, P3/P4 counted
        in working time (``[sla] working_time``), and the hospitals' own."""
        worktime = WorkTime(DutySettings(), WorkCalendar())
        return SlaClocks(self.engine, SlaSettings(), ServiceTargets(), worktime)

    def ticket(
        self,
        at: dt.datetime,
        *,
        urgency: str = "P3",
        category: str = "usage",
        hospital: str = "h001",
        accept: float | None = None,
        resolve: float | None = None,
        question: str = "收费站打印发票提示打印机脱机",
    ) -> str:
        """Open a ticket at ``at``; claim it ``accept`` and resolve it ``resolve`` minutes later."""
        self.clock.set(at)
        n = next(self.seq)
        t = self.tickets.open_ticket(
            hospital_id=hospital,
            reporter_platform="telegram",
            reporter_user_id=7001,
            reporter_name="信息科小刘",
            source_platform="telegram",
            source_chat_id=-1001001,
            source_message_id=n,
            question=question,
            category=category,
            urgency=urgency,
        )
        if accept is not None:
            self.clock.set(at + mins(accept))
            self.tickets.claim(t.number, "e01")
        if resolve is not None:
            self.clock.set(at + mins(resolve))
            self.tickets.resolve(t.number, "e01", "已处理")
        return t.number

    def ask(
        self,
        at: dt.datetime,
        question: str,
        decision: str = "answer",
        outcome: Outcome = Outcome.PENDING,
        hospital: str = "h001",
    ) -> None:
        aware = at.replace(tzinfo=dt.UTC)
        n = str(next(self.seq))
        ExchangeStore(self.engine, clock=lambda: aware).record(
            hospital_id=hospital,
            platform="telegram",
            chat_id="-1001001",
            thread_root=n,
            question_message_id=n,
            reporter_user_id="7001",
            reporter_name="小刘",
            question=question,
            decision=decision,
            article_ids=["a1"] if decision in ("answer", "clarify") else [],
            confidence=0.5,
            outcome=outcome,
        )

    def report(
        self,
        *,
        hospital: str | None = None,
        year: int = 2026,
        month: int | None = 11,
        top: int = 10,
    ) -> Report:
        return build_report(
            self.engine,
            hospital_id=hospital,
            year=year,
            month=month,
            zone=SH,
            sla=self.sla,
            top_n=top,
            now=NOW,
        )


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    engine = make_engine(db_url)
    registry = RegistryStore(engine)
    registry.add_engineer("e01", "王工", ["engineer", "lead"])
    registry.add_hospital("h001", "第一人民医院")
    registry.add_hospital("h002", "第二人民医院")
    yield World(engine)
    engine.dispose()


# -- statistics ------------------------------------------------------------------------------------


def test_median_and_nearest_rank_p90() -> None:
    ten = [mins(n) for n in range(10, 0, -1)]  # 1..10, unsorted
    assert median(ten) == mins(5.5)  # even count: mean of the two middle values
    assert nearest_rank(ten, 90) == mins(9)  # ceil(0.9 * 10) = 9th
    eleven = [mins(n) for n in range(1, 12)]
    assert median(eleven) == mins(6)
    assert nearest_rank(eleven, 90) == mins(10)  # ceil(9.9) = 10th: a value that happened
    assert median([mins(7)]) == nearest_rank([mins(7)], 90) == mins(7)
    assert median([]) is None and nearest_rank([], 90) is None


def test_local_months_are_converted_to_utc_bounds() -> None:
    nov = period(2026, 11, SH)
    assert (nov.start, nov.end) == (
        dt.datetime(2026, 10, 31, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 16, tzinfo=dt.UTC),
    )
    dec = period(2026, 12, SH)
    assert dec.end == dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC)  # into the next year
    year = period(2026, None, SH)
    assert (year.start, year.end) == (
        dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC),
    )
    assert (nov.label, year.label) == ("2026年11月", "2026年全年")


# -- tickets ---------------------------------------------------------------------------------------


def test_times_to_accept_and_resolve(world: World) -> None:
    for i, (accept, resolve) in enumerate([(10, 60), (20, 120), (30, 180), (40, None)]):
        world.ticket(NOV + dt.timedelta(hours=i), accept=accept, resolve=resolve)
    world.ticket(NOV, urgency="P1", category="pacs")  # never accepted: counts, has no times
    r = world.report()
    overall, p1, _p2, p3, _p4 = r.timing
    assert overall.urgency is None and overall.opened == 5
    assert (overall.accept.count, overall.accept.median, overall.accept.p90) == (
        4,
        mins(25),
        mins(40),
    )
    assert (overall.resolve.count, overall.resolve.median, overall.resolve.p90) == (
        3,
        mins(120),
        mins(180),
    )
    assert p3.urgency == "P3" and p3.accept.median == mins(25)
    assert p1.opened == 1 and p1.accept == p1.resolve and p1.accept.median is None
    assert r.opened == 5 and r.resolved == 3


def test_every_category_and_urgency_is_listed_zeros_included(world: World) -> None:
    world.ticket(NOV, category="insurance", urgency="P1")
    world.ticket(NOV, category="insurance", urgency="P2")
    world.ticket(NOV, category="lis", urgency="P2")
    r = world.report()
    cats = dict(r.by_category)
    assert len(r.by_category) == 11 and r.by_category[0] == ("consult", 0)
    assert cats["insurance"] == 2 and cats["lis"] == 1 and sum(cats.values()) == 3
    assert r.by_urgency == (("P1", 1), ("P2", 2), ("P3", 0), ("P4", 0))


def test_month_boundaries_follow_local_time(world: World) -> None:
    world.ticket(
        dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.UTC), category="pacs"
    )  # 11-01 01:00 in Shanghai
    world.ticket(
        dt.datetime(2026, 10, 31, 15, 59, tzinfo=dt.UTC), category="lis"
    )  # 10-31 23:59 in Shanghai
    world.ticket(dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC), category="install")  # 12-01 00:00
    world.ask(
        dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC),
        "11月1日凌晨的问题",
        outcome=Outcome.SOLVED,
    )
    world.ask(
        dt.datetime(2026, 10, 31, 15, 30, tzinfo=dt.UTC),
        "10月最后一天的问题",
        outcome=Outcome.SOLVED,
    )
    nov = world.report()
    assert nov.opened == 1 and dict(nov.by_category)["pacs"] == 1
    assert nov.bot.questions == 1
    months = {m.key: m for m in world.report(month=None).months}
    assert len(months) == 12
    assert (months["10"].opened, months["11"].opened, months["12"].opened) == (1, 1, 1)
    assert (months["10"].bot.questions, months["11"].bot.questions) == (1, 1)


def test_resolved_counts_by_when_it_was_resolved(world: World) -> None:
    world.ticket(
        dt.datetime(2026, 10, 20, 2, tzinfo=dt.UTC), accept=10, resolve=60 * 24 * 14
    )  # done 11-03
    world.ticket(NOV, accept=5, resolve=30)
    year = world.report(month=None)
    months = {m.key: m for m in year.months}
    assert (months["10"].opened, months["10"].resolved) == (1, 0)
    assert (months["11"].opened, months["11"].resolved) == (1, 2)
    assert months["11"].accept_median == mins(5)  # of the tickets opened that month
    nov = world.report()
    assert (nov.opened, nov.resolved) == (1, 2)


def test_tickets_beyond_target(world: World) -> None:
    # targets: P1 accept 15 min / resolve 4 h; P2 30 min / 1 day; P3 2 h / 3 days
    unaccepted = world.ticket(NOW - mins(20), urgency="P1")  # open, 20 min, nobody took it
    slow = world.ticket(NOV, urgency="P2", accept=10, resolve=60 * 48)  # resolved after 2 days
    world.ticket(NOV, urgency="P3", accept=30, resolve=600)  # within both targets
    world.ticket(NOW - mins(60), urgency="P3", accept=5)  # open, but within both targets
    late_taken = world.ticket(NOV, urgency="P3", accept=180, resolve=200)  # accepted late
    r = world.report()
    late = {t.number: t for t in r.beyond_target}
    assert set(late) == {unaccepted, slow, late_taken}
    assert r.beyond_target[0].number == unaccepted  # still open first
    u = late[unaccepted]
    assert (u.still_open, u.accept_late, u.resolve_late, u.age) == (True, True, False, mins(20))
    s = late[slow]
    assert (s.still_open, s.accept_late, s.resolve_late, s.age) == (False, False, True, mins(2880))
    assert (late[late_taken].accept_late, late[late_taken].resolve_late) == (True, False)
    assert s.hospital_name == "第一人民医院" and s.urgency == "P2"
    assert r.open_beyond_target == 1


# -- the bot ---------------------------------------------------------------------------------------


def test_bot_questions_and_deflection(world: World) -> None:
    at = NOV
    world.ask(at, "发票打印不出来", "answer", Outcome.SOLVED)  # answered, solved, deflected
    world.ask(at, "怎么补打腕带", "answer", Outcome.PENDING)  # answered, deflected
    world.ask(at, "医保结算失败", "answer", Outcome.ESCALATED)  # answered, then a ticket
    world.ask(at, "检验结果不回传", "clarify", Outcome.UNSOLVED)  # choices, none helped
    world.ask(at, "服务器宕机了", "urgent", Outcome.ESCALATED)
    world.ask(at, "报表数据不对", "escalate", Outcome.ESCALATED)
    world.ask(at, "还是不行", "follow_up", Outcome.UNSOLVED)  # part of the question before
    world.ask(at, "谢谢", "smalltalk", Outcome.QUIET)  # not a question
    world.ask(at, "在吗", "escalate", Outcome.ESCALATED)  # a ping: not a question either
    world.ask(at, "医保结算失败", "answer", Outcome.ESCALATED, hospital="h002")
    b = world.report(hospital="h001").bot
    assert (b.questions, b.answered, b.solved, b.escalated, b.deflected) == (6, 4, 1, 4, 2)
    assert b.deflection_rate == pytest.approx(2 / 6)
    assert b.solved_rate == pytest.approx(1 / 6)
    assert world.report().bot.questions == 7  # all hospitals


def test_messages_left_to_an_engineer_are_counted_apart(world: World) -> None:
    from bot.conversation.skips import SkipReason, SkipStore

    def skip(at: dt.datetime, hospital: str) -> None:
        SkipStore(world.engine, lambda: at.replace(tzinfo=dt.UTC)).record(
            hospital_id=hospital, platform="telegram", chat_id="-1001001",
            message_id=str(next(world.seq)), reason=SkipReason.ENGINEER_TALKING,
            engineer_id="e01",
        )  # fmt: skip

    skip(NOV, "h001")
    skip(NOV + mins(5), "h001")
    skip(NOV, "h002")
    skip(NOV - dt.timedelta(days=40), "h001")  # October: another report's
    world.ask(NOV, "发票打印不出来", "answer", Outcome.SOLVED)
    assert world.report(hospital="h001").left_to_engineers == 2
    assert world.report().left_to_engineers == 3
    assert world.report(hospital="h001").bot.questions == 1  # not counted as questions


def test_top_unanswered_groups_by_normalised_text(world: World) -> None:
    world.ask(NOV, "医保结算失败怎么办？", "escalate", Outcome.ESCALATED)
    world.ask(NOV + mins(1), "医保结算失败 怎么办", "escalate", Outcome.PENDING)  # no answer
    world.ask(NOV + mins(2), "医保结算失败怎么办?", "answer", Outcome.UNSOLVED, hospital="h002")
    world.ask(NOV + mins(3), "ＨＩＳ登录不了", "urgent", Outcome.ESCALATED)
    world.ask(NOV + mins(4), "his 登录不了！", "escalate", Outcome.ESCALATED)
    world.ask(NOV + mins(5), "挂号单打印偏移", "escalate", Outcome.ESCALATED)
    world.ask(NOV + mins(6), "医保结算失败怎么办", "answer", Outcome.SOLVED)  # answered: no
    world.ask(NOV + mins(7), "还是不行", "follow_up", Outcome.UNSOLVED)  # not a question
    # pings and bare follow-ups the bot escalated name no problem: never an unanswered topic
    for ping in (
        "还是不行",
        "在吗",
        "在吗？？",
        "有人吗？急急急",
        "还是不行啊，怎么办",
        "老师在不在",
    ):
        for minute in (8, 9, 10):
            world.ask(NOV + mins(minute), ping, "escalate", Outcome.ESCALATED)
    world.ask(NOV + mins(11), "还是报2304", "escalate", Outcome.ESCALATED)  # names an error
    top = world.report(top=2).top_unanswered
    assert [(u.text, u.count) for u in top] == [("医保结算失败怎么办？", 3), ("ＨＩＳ登录不了", 2)]
    assert top[0].hospitals == ("第一人民医院", "第二人民医院")  # names, not ids
    assert [u.text for u in world.report().top_unanswered][2:] == ["还是报2304", "挂号单打印偏移"]
    assert top[0].last_asked == NOV + mins(2)
    assert len(world.report().top_unanswered) == 4


def test_one_hospital_or_all_with_a_breakdown(world: World) -> None:
    world.ticket(NOV, hospital="h001", accept=10)
    world.ticket(NOV, hospital="h001", accept=30)
    world.ticket(NOV, hospital="h002", urgency="P1")  # never accepted: beyond target
    world.ask(NOV, "发票打印不出来", "answer", Outcome.SOLVED, hospital="h002")
    one = world.report(hospital="h001")
    assert (one.hospital_name, one.opened, one.hospitals, one.months) == ("第一人民医院", 2, (), ())
    every = world.report()
    assert every.hospital_name == "全部医院" and every.opened == 3
    rows = {h.key: h for h in every.hospitals}
    assert (rows["h001"].label, rows["h001"].opened, rows["h001"].accept_median) == (
        "第一人民医院",
        2,
        mins(20),
    )
    assert (rows["h002"].opened, rows["h002"].beyond_target, rows["h002"].bot.deflected) == (
        1,
        1,
        1,
    )
    assert rows["h002"].bot.deflection_rate == 1.0


# -- the pages -------------------------------------------------------------------------------------


@pytest.fixture
def data(web: WebEnv) -> World:
    """November 2026 at h001 (and one ticket at h002); the console's clock is NOW."""
    web.clock.fixed = NOW.replace(tzinfo=dt.UTC)
    w = World(web.app.db)  # type: ignore[arg-type]
    first = w.ticket(NOV, urgency="P2", category="insurance", accept=10, resolve=60)
    w.ticket(NOV, urgency="P2", category="insurance", accept=30, resolve=120)
    p1 = w.ticket(NOV, urgency="P1", category="pacs")  # unaccepted for weeks: beyond target
    w.ticket(NOV, hospital="h002", category="lis", accept=5)
    w.ask(NOV, "发票打印不出来", "answer", Outcome.SOLVED)
    w.ask(NOV, '=HYPERLINK("http://x")<b>', "escalate", Outcome.ESCALATED)
    w.ask(NOV + mins(1), '=hyperlink("http://x")<b>', "escalate", Outcome.ESCALATED)
    w.ask(NOV, "PACS 影像调不出来", "answer", Outcome.ESCALATED)
    add_clocks(w, first, minutes_accept=(30, 10), minutes_resolve=(1440, 60))
    add_clocks(w, p1, minutes_accept=(15, None))
    return w


def add_clocks(
    w: World,
    number: str,
    minutes_accept: tuple[int, int | None],
    minutes_resolve: tuple[int, int | None] | None = None,
) -> None:
    """SLA clocks as the watch starts them: (target, stopped after) minutes from NOV."""
    from sqlmodel import Session

    from bot.sla.models import SlaClock

    ticket = w.tickets.get(number)
    with Session(w.engine) as s:
        for kind, spec in (("accept", minutes_accept), ("resolve", minutes_resolve)):
            if spec is None:
                continue
            target, stopped = spec
            s.add(
                SlaClock(
                    ticket_id=ticket.id or 0, kind=kind, target_minutes=target,
                    started_at=NOV, warn_at=NOV + mins(target * 0.8), due_at=NOV + mins(target),
                    stopped_at=None if stopped is None else NOV + mins(stopped),
                )
            )  # fmt: skip
        s.commit()


async def test_reports_are_for_engineers_only(web: WebEnv) -> None:
    for path in ("/reports", "/reports/export.csv", "/reports/export.xlsx?month=all"):
        anon = await web.new_client().get(path)
        assert anon.status_code == 303 and anon.headers["location"].startswith("/login?next=")
        hospital = await web.as_hospital("h001")
        assert (await hospital.get(path)).status_code == 404


async def test_engineer_sees_the_months_figures(web: WebEnv, data: World) -> None:
    from bot.conversation.skips import SkipReason, SkipStore

    SkipStore(data.engine, lambda: NOV).record(
        hospital_id="h001", platform="telegram", chat_id="-1001001", message_id="m1",
        reason=SkipReason.ENGINEER_TALKING, engineer_id="e01",
    )  # fmt: skip
    client = await web.login("e01")
    r = await client.get("/reports")  # defaults: this local month, all hospitals
    assert r.status_code == 200
    html = r.text
    assert "全部医院 · 2026年11月" in html
    assert 'id="fig-opened">4<' in html and 'id="fig-resolved">2<' in html
    assert 'id="fig-deflection">25.0%<' in html and 'id="fig-solved">25.0%<' in html
    assert 'id="left-to-engineers">1<' in html
    bars = re.findall(r'<rect class="bar"[^>]* width="([\d.]+)"[^>]*><title>([^<]+)</title>', html)
    widths = {label: float(width) for width, label in bars}
    # bars scale to the largest value: 医保 has 2 tickets, PACS and LIS 1, 咨询 none
    assert widths["医保：2"] == 2 * widths["PACS：1"] == 2 * widths["LIS：1"] > 0
    assert widths["咨询：0"] == 0 and widths["P2 高：2"] == widths["医保：2"]
    assert "2026-000003" in html  # the P1 ticket nobody accepted
    assert "&lt;b&gt;" in html and "<b>" not in html  # typed text is escaped
    # what the CSP would block: inline styles and inline scripts (served scripts are allowed)
    assert "style=" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert 'id="hospitals"' in html and 'id="months"' not in html
    assert 'href="/reports/export.xlsx?hospital=&amp;year=2026&amp;month=11"' in html


async def test_whole_year_page_has_a_month_table(web: WebEnv, data: World) -> None:
    client = await web.login("e01")
    r = await client.get("/reports", params={"hospital": "h001", "year": "2026", "month": "all"})
    assert r.status_code == 200
    assert "第一人民医院 · 2026年全年" in r.text and 'id="months"' in r.text
    months = r.text.split('id="months"')[1].split("</table>")[0]
    assert months.count("月</td>") == 12 and "每月新建工单" in r.text


async def test_csv_export(web: WebEnv, data: World) -> None:
    client = await web.login("e01")
    r = await client.get(
        "/reports/export.csv", params={"hospital": "h001", "year": "2026", "month": "11"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert (
        r.headers["content-disposition"] == 'attachment; filename="hisbot-report-h001-2026-11.csv"'
    )
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese right
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    summary = {row[0]: row[1] for row in rows[2:16]}
    assert summary["医院"] == "第一人民医院" and summary["期间"] == "2026年11月"
    assert summary["新建工单"] == "3" and summary["已解决工单"] == "2"
    assert summary["超时工单"] == "1" and summary["机器人问题数"] == "4"
    assert summary["分流率（%）"] == "25.0"
    assert ["医保", "insurance", "2"] in rows
    timing = rows[rows.index(["处理时效"]) + 2]
    assert timing[:8] == ["全部", "3", "2", "20.0", "30.0", "2", "90.0", "120.0"]
    unanswered = rows[rows.index(["未解答问题"]) + 2]
    assert unanswered[:2] == ['\'=HYPERLINK("http://x")<b>', "2"]  # never a formula


async def test_xlsx_export(web: WebEnv, data: World) -> None:
    client = await web.login("e01")
    r = await client.get("/reports/export.xlsx", params={"year": "2026", "month": "all"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="hisbot-report-all-2026.xlsx"'
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == [
        "概况",
        "工单类别",
        "紧急程度",
        "处理时效",
        "超时工单",
        "未解答问题",
        "SLA达成",
        "按月",
        "按医院",
        "工单记录",
    ]
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["新建工单"] == 4 and summary["期间"] == "2026年全年"
    assert summary["确认解决率（%）"] == 25.0
    months = list(book["按月"].iter_rows(min_row=2, values_only=True))
    assert len(months) == 12 and months[10][:3] == ("11月", 4, 2)
    hospitals = {row[0]: row for row in book["按医院"].iter_rows(min_row=2, values_only=True)}
    assert hospitals["h002"][1:3] == ("第二人民医院", 1)
    cell = book["未解答问题"]["A2"]
    assert cell.value == '=HYPERLINK("http://x")<b>' and cell.data_type == "s"
    assert book["处理时效"]["A1"].value == "紧急程度"
    # times are real date cells in local time, not text; columns fit their contents
    created = book["超时工单"]["E2"]
    assert created.value == dt.datetime(2026, 11, 2, 10, 0) and created.is_date
    assert created.number_format == "yyyy-mm-dd hh:mm"
    assert book["概况"]["B5"].value == dt.datetime(2026, 11, 20, 12, 0)  # 统计时间, local
    unanswered = book["未解答问题"]
    assert unanswered.column_dimensions["A"].width >= 2 * len("=HYPERLINK(") + 2
    assert unanswered.column_dimensions["B"].width == 8  # a count: narrow
    assert book["按医院"].column_dimensions["B"].width == 2 * len("第二人民医院") + 2
    # one row per ticket of the period, with the contract's record and its SLA clocks
    sheet = book["工单记录"]
    headers = [c.value for c in sheet[1]]
    tickets = [
        dict(zip(headers, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)
    ]
    assert len(tickets) == 4
    first = tickets[0]
    assert (
        first["医院"] == "第一人民医院"
        and first["服务领域"] == "医保"
        and first["紧急程度"] == "P2"
    )
    assert first["受理工程师"] == "王工" and first["受理时间"] == dt.datetime(2026, 11, 2, 10, 10)
    assert first["完成时间"] == dt.datetime(2026, 11, 2, 11, 0) and first["处理方法"] == "已处理"
    assert (first["受理SLA"], first["解决SLA"]) == ("达标", "达标")
    assert first["受理时限"] == dt.datetime(2026, 11, 2, 10, 30)
    p1 = next(t for t in tickets if t["紧急程度"] == "P1")
    assert (p1["受理SLA"], p1["受理工程师"]) == ("超时", None)  # an empty cell
    # no resolve clock: judged by the default P1 target (240 min), open for weeks
    assert p1["解决SLA"] == "超时" and p1["解决时限"] == dt.datetime(2026, 11, 2, 14, 0)
    assert (
        p1["SLA目标（受理/解决）"]
        == "受理 15 分钟（SLA 计时，全天计时）；解决 240 分钟（默认目标，全天计时）"
    )


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"month": "13"}, 400, "月份无效"),
        ({"month": "0"}, 400, "月份无效"),
        ({"month": "一月"}, 400, "月份无效"),
        ({"year": "abc"}, 400, "年份无效"),
        ({"year": "1999"}, 400, "年份无效"),
        ({"year": "२०२६"}, 400, "年份无效"),  # Devanagari digits are digits to Python
        ({"hospital": "h999"}, 404, "页面不存在"),
        ({"hospital": "h001\x00"}, 404, "页面不存在"),
    ],
)
async def test_bad_parameters_get_an_error_page(
    web: WebEnv, query: dict[str, str], status: int, says: str
) -> None:
    client = await web.login("e01")
    for path in ("/reports", "/reports/export.csv", "/reports/export.xlsx"):
        r = await client.get(path, params=query)
        assert r.status_code == status, (path, query)
        assert says in r.text and "text/html" in r.headers["content-type"]


async def test_an_unknown_export_format_is_a_404(web: WebEnv) -> None:
    client = await web.login()
    r = await client.get("/reports/export.pdf")
    assert r.status_code == 404


def test_the_month_finder_agrees_with_a_time_zone_conversion() -> None:
    import random
    from zoneinfo import ZoneInfo

    from bot.web.reports import month_finder, period

    for zone_name in ("Asia/Shanghai", "Europe/Berlin", "America/New_York"):  # with and without DST
        zone = ZoneInfo(zone_name)
        year = period(2026, None, zone)
        month_of = month_finder(2026, zone)
        rng = random.Random(zone_name)
        span = (year.end - year.start).total_seconds()
        samples = [year.start, year.end - dt.timedelta(microseconds=1)]
        samples += [period(2026, m, zone).start for m in range(1, 13)]
        samples += [year.start + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(2000)]
        for at in samples:
            expected = at.replace(tzinfo=dt.UTC).astimezone(zone).month
            assert month_of(at) == expected, (zone_name, at)
