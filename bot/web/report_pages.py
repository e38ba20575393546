"""Service report pages for engineers: the report, its SVG charts, CSV and XLSX exports.

Charts are plain SVG drawn by a Jinja macro from geometry computed here: no script, no
external library, and only presentation attributes and classes, as the CSP requires.
Exports carry the same sections as the page; typed text in them (questions, names) is kept
as text, never as a spreadsheet formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot import texts
from bot.infra.clock import as_utc
from bot.web.app import Console
from bot.web.report_cache import RecentResults
from bot.web.reports import LateTicket, Report, Slice, Timing, build_report
from bot.web.sla_report import SlaRow

Cell = str | int | float | dt.datetime | None
#: How a time cell reads in a spreadsheet (a real date: sortable, filterable) and in CSV.
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm"
CSV_TIME_FORMAT = "%Y-%m-%d %H:%M"
#: Column widths in characters: a column is as wide as its widest cell, within these bounds.
MIN_WIDTH, MAX_WIDTH = 8, 60
LocalTime = Callable[[dt.datetime | None], dt.datetime | None]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Late tickets listed on the page (the exports carry all): a busy year has thousands, and a
#: 2 MB page helps nobody at a hospital PC.
LATE_ROWS_ON_PAGE = 200
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Query:
    hospital_id: str | None
    year: int
    month: int | None

    @property
    def params(self) -> str:
        month = "all" if self.month is None else str(self.month)
        return urlencode({"hospital": self.hospital_id or "", "year": self.year, "month": month})

    def filename(self, ext: str) -> str:
        who = re.sub(r"[^A-Za-z0-9_-]", "_", self.hospital_id or "all")
        when = str(self.year) if self.month is None else f"{self.year}-{self.month:02d}"
        return f"hisbot-report-{who}-{when}.{ext}"


# -- formatting ------------------------------------------------------------------------------------


def minutes(value: dt.timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 1)


def percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def local_times(zone: ZoneInfo) -> LocalTime:
    """Stored (naive UTC) times as the wall clock of ``zone``, without a zone: what a
    spreadsheet cell holds (Excel has no time zones; the 概况 sheet names the zone)."""

    def local(value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(zone).replace(tzinfo=None)

    return local


def human(value: dt.timedelta | None) -> str:
    """A duration as people say it: "2天3小时", "1小时5分", "12分"."""
    if value is None:
        return "—"
    total = int(value.total_seconds() // 60)
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    return f"{hours}小时{mins}分" if hours else f"{mins}分"


def rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


# -- charts ----------------------------------------------------------------------------------------


ROW = 26  # height of one bar's row in the SVG, in its own units


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    width: int = 420
    label_width: int = 84
    row: int = ROW

    @property
    def height(self) -> int:
        return self.row * len(self.bars) + 4


def bar_chart(title: str, rows: Sequence[tuple[str, int]], span: int = 290) -> Chart:
    """Horizontal bars scaled to the largest value (a zero value draws no bar)."""
    top = max((v for _, v in rows), default=0) or 1
    bars = tuple(
        Bar(label, value, i * ROW + 2, round(value / top * span, 1))
        for i, (label, value) in enumerate(rows)
    )
    return Chart(title, bars)


def charts(report: Report) -> list[Chart]:
    out = [
        bar_chart("工单类别", [(texts.CATEGORY_LABELS[c], n) for c, n in report.by_category]),
        bar_chart("紧急程度", [(texts.URGENCY_LABELS[u], n) for u, n in report.by_urgency]),
    ]
    if report.months:
        out.append(bar_chart("每月新建工单", [(m.label, m.opened) for m in report.months]))
    return out


# -- export tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    title: str  # also the sheet name: at most 31 characters, none of []:*?/\
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


def _section(title: str, headers: str, rows: Iterable[tuple[Cell, ...]]) -> Section:
    return Section(title, tuple(headers.split()), list(rows))


_SLICE_HEADERS = "新建工单 已解决工单 受理时长中位数（分钟） 解决时长中位数（分钟） 超时工单 机器人问题数 分流率（%）"
_TIMING_HEADERS = (
    "紧急程度 工单数 已受理 受理中位数（分钟） 受理P90（分钟） "
    "已解决 解决中位数（分钟） 解决P90（分钟） 受理目标（分钟） 解决目标（分钟） 目标说明"
)


def _slice_row(s: Slice) -> tuple[Cell, ...]:
    accept, resolve = minutes(s.accept_median), minutes(s.resolve_median)
    rate = percent(s.bot.deflection_rate)
    return (s.label, s.opened, s.resolved, accept, resolve, s.beyond_target, s.bot.questions, rate)


def _timing_row(t: Timing) -> tuple[Cell, ...]:
    a, r = t.accept, t.resolve
    accept, resolve = (minutes(a.median), minutes(a.p90)), (minutes(r.median), minutes(r.p90))
    goals: tuple[Cell, Cell] = (None, None)
    if t.target is not None:
        goals = (t.target.accept_minutes, t.target.resolve_minutes)
    row = (t.urgency or "全部", t.opened, a.count, *accept, r.count, *resolve, *goals)
    return (*row, t.target_note or None)


_SLA_HEADERS = (
    "月份 医院代码 医院 紧急程度 受理达标 受理超时 受理进行中 受理达标率（%） "
    "解决达标 解决超时 解决进行中 解决达标率（%）"
)


def _sla_row(r: SlaRow) -> tuple[Cell, ...]:
    a, s = r.accept, r.resolve
    accept = (a.met, a.breached, a.running, percent(a.met_rate))
    resolve = (s.met, s.breached, s.running, percent(s.met_rate))
    return (f"{r.month}月", r.hospital_id, r.hospital_name, r.urgency, *accept, *resolve)


_LATE_HEADERS = (
    "工单号 医院 紧急程度 状态 创建时间 时长（分钟） 受理超时 解决超时 目标（受理/解决）"
)


def _late_row(t: LateTicket, local: LocalTime) -> tuple[Cell, ...]:
    status = texts.STATUS_LABELS.get(t.status, t.status)
    flags = ("是" if t.accept_late else "否", "是" if t.resolve_late else "否")
    return (
        t.number,
        t.hospital_name,
        t.urgency,
        status,
        local(t.created_at),
        minutes(t.age),
        *flags,
        t.sla.target_text,
    )


def sections(report: Report, zone_name: str) -> list[Section]:
    """The report as tables, in the order of the page; headers in Chinese; times are local
    date-time cells."""
    local = local_times(ZoneInfo(zone_name))
    b = report.bot
    summary: list[tuple[Cell, ...]] = [
        ("医院", report.hospital_name),
        ("期间", report.period.label),
        ("时区", zone_name),
        ("统计时间", local(report.now)),
        ("新建工单", report.opened),
        ("已解决工单", report.resolved),
        ("超时工单", len(report.beyond_target)),
        ("其中仍未解决", report.open_beyond_target),
        ("机器人问题数", b.questions),
        ("机器人作答", b.answered),
        ("用户确认已解决", b.solved),
        ("转人工", b.escalated),
        ("分流率（%）", percent(b.deflection_rate)),
        ("确认解决率（%）", percent(b.solved_rate)),
        ("留给工程师的消息", report.left_to_engineers),
    ]
    late = (_late_row(t, local) for t in report.beyond_target)
    out = [
        _section("概况", "项目 数值", summary),
        _section(
            "工单类别",
            "类别 代码 工单数",
            ((texts.CATEGORY_LABELS[c], c, n) for c, n in report.by_category),
        ),
        _section(
            "紧急程度",
            "紧急程度 工单数",
            ((texts.URGENCY_LABELS[u], n) for u, n in report.by_urgency),
        ),
        _section("处理时效", _TIMING_HEADERS, (_timing_row(t) for t in report.timing)),
        _section("超时工单", _LATE_HEADERS, late),
        _section(
            "未解答问题",
            "问题 次数 最近提问 医院",
            (
                (u.text, u.count, local(u.last_asked), "、".join(u.hospitals))
                for u in report.top_unanswered
            ),
        ),
    ]
    out.append(_section("SLA达成", _SLA_HEADERS, (_sla_row(r) for r in report.sla)))
    if report.months:
        months = (_slice_row(m) for m in report.months)
        out.append(_section("按月", f"月份 {_SLICE_HEADERS}", months))
    if report.hospitals:
        rows = ((h.key, *_slice_row(h)) for h in report.hospitals)
        out.append(_section("按医院", f"医院代码 医院 {_SLICE_HEADERS}", rows))
    return out


def _as_text(value: Cell) -> Cell:
    """A typed string a spreadsheet would run as a formula gets a leading apostrophe; a time
    is written as the page shows it."""
    if isinstance(value, dt.datetime):
        return value.strftime(CSV_TIME_FORMAT)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(parts: Sequence[Section]) -> bytes:
    """All sections in one file, a title row before each; UTF-8 with BOM for Excel."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for part in parts:
        writer.writerow([part.title])
        writer.writerow(part.headers)
        writer.writerows([_as_text(v) for v in row] for row in part.rows)
        writer.writerow([])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(parts: Sequence[Section]) -> bytes:
    """One sheet per section, header row in bold and frozen; strings stay strings.

    Written in openpyxl's streaming (write-only) mode: a year's export has thousands of rows
    and the normal mode keeps every cell object in memory (twice as slow, measured)."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for part in parts:
        sheet = book.create_sheet(part.title)
        sheet.freeze_panes = "A2"
        for col, width in enumerate(column_widths(part), start=1):
            sheet.column_dimensions[get_column_letter(col)].width = width
        header_row = []
        for header in part.headers:
            cell = WriteOnlyCell(sheet, value=header)
            cell.font = bold
            header_row.append(cell)
        sheet.append(header_row)
        for row in part.rows:
            sheet.append([_xlsx_value(sheet, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def column_widths(part: Section) -> list[float]:
    """Each column as wide as its widest cell (header included; a Chinese character is two
    columns wide), within ``MIN_WIDTH``..``MAX_WIDTH``; long texts wrap past that."""
    widths = [_display_width(h) for h in part.headers]
    for row in part.rows:
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], _display_width(value))
    return [float(min(MAX_WIDTH, max(MIN_WIDTH, w + 2))) for w in widths]


def _display_width(value: Cell) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return len(XLSX_TIME_FORMAT)
    text = str(value)
    return len(text) + sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")


def _xlsx_value(sheet: Any, value: Cell) -> Any:
    """openpyxl takes a string starting with "=" for a formula: such a value (typed by a
    user) is written as a text cell; a time as a date cell; everything else as it is."""
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    if isinstance(value, dt.datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = XLSX_TIME_FORMAT
        return cell
    return value


# -- routes ----------------------------------------------------------------------------------------

MONTH_CHOICES = [("all", "全年"), *((str(m), f"{m}月") for m in range(1, 13))]


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    settings = console.settings.reports

    def now_local() -> dt.datetime:
        return as_utc(console.services.clock()).replace(tzinfo=dt.UTC).astimezone(console.zone)

    def parse(hospital: str | None, year: str | None, month: str | None) -> Query:
        """The query string, checked: a bad value is a 400 (or 404 for no such hospital)."""
        today = now_local()
        y = (year or "").strip()
        m = (month or "").strip()
        if y and not (y.isascii() and y.isdigit() and 2000 <= int(y) <= today.year + 1):
            raise HTTPException(400, f"年份无效：请选择 2000–{today.year + 1} 之间的年份。")
        if m and m != "all" and not (m.isascii() and m.isdigit() and 1 <= int(m) <= 12):
            raise HTTPException(400, "月份无效：请选择 1–12 月或“全年”。")
        h = (hospital or "").strip() or None
        if h not in (None, "all") and not _registered(h):
            raise HTTPException(404)
        return Query(
            hospital_id=None if h == "all" else h,
            year=int(y) if y else today.year,
            month=None if m == "all" else int(m) if m else today.month,
        )

    def _registered(hospital_id: str | None) -> bool:
        # ids are short and printable: anything else (a NUL byte, say) is not looked up
        ok = hospital_id is not None and len(hospital_id) <= 64 and hospital_id.isprintable()
        return ok and console.services.registry.get_hospital(hospital_id or "") is not None

    recent: RecentResults[Report] = RecentResults(ttl=60.0)

    def report_for(q: Query) -> Report:
        return recent.get(
            (q.hospital_id, q.year, q.month),
            lambda: build_report(
                console.db,
                hospital_id=q.hospital_id,
                year=q.year,
                month=q.month,
                zone=console.zone,
                sla=console.sla_clocks,
                top_n=settings.top_unanswered,
                now=as_utc(console.services.clock()),
            ),
        )

    def export_sections(report: Report, q: Query) -> list[Section]:
        """The page's sections and the period's tickets, one row each (工单记录)."""
        from bot.web.ticket_sheet import ticket_section  # it builds on this module's Section

        span = report.period
        local = local_times(console.zone)
        tickets = ticket_section(
            console.db, console.sla_clocks, q.hospital_id, span.start, span.end, local, report.now
        )
        return [*sections(report, settings.timezone), tickets]

    @router.get("/reports")
    def report_page(
        request: Request,
        hospital: str | None = None,
        year: str | None = None,
        month: str | None = None,
    ) -> Response:
        viewer = console.engineer(request)
        q = parse(hospital, year, month)
        report = report_for(q)
        this_year = now_local().year
        years = sorted({*range(this_year - 4, this_year + 1), q.year}, reverse=True)
        return console.render(
            request,
            viewer,
            "reports.html",
            {
                "report": report,
                "query": q,
                "charts": charts(report),
                "hospitals": console.services.registry.list_hospitals(),
                "years": years,
                "months": MONTH_CHOICES,
                "zone": settings.timezone,
                "top_n": settings.top_unanswered,
                "human": human,
                "rate": rate_text,
                "late_rows": LATE_ROWS_ON_PAGE,
            },
        )

    exports: dict[str, tuple[Callable[[list[Section]], bytes], str]] = {
        "csv": (to_csv, "text/csv; charset=utf-8"),
        "xlsx": (to_xlsx, XLSX_TYPE),
    }

    @router.get("/reports/export.{fmt}")
    def export(
        request: Request,
        fmt: str,
        hospital: str | None = None,
        year: str | None = None,
        month: str | None = None,
    ) -> Response:
        """The report's sections as a download: CSV (UTF-8 with BOM) or XLSX."""
        console.engineer(request)
        if fmt not in exports:
            raise HTTPException(404)
        q = parse(hospital, year, month)
        write, media_type = exports[fmt]
        return _download(write(export_sections(report_for(q), q)), media_type, q.filename(fmt))

    return router


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
