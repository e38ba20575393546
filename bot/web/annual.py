"""The annual service review as one XLSX: the service report's sections (tickets by the
contract's 11 service areas, urgency, SLA results, late tickets …) plus the service workflows
— dedicated engineers, remote sessions with consent, on-site visits, upgrades — and a
per-ticket sheet with the contract's record (受理工程师, 受理时间, 完成时间, 处理方法) and how
each ticket's SLA clocks ended (``bot.web.ticket_sheet``).

Builds on ``bot.web.reports`` (the figures) and ``bot.web.report_pages`` (sections → XLSX);
rows of the workflows are those whose start (request, planned visit, upgrade registered)
falls in the local year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.infra.clock import as_utc
from bot.registry.models import Engineer, Hospital
from bot.sla.clocks import SlaClocks
from bot.tickets.models import Ticket
from bot.web.app import Console
from bot.web.report_pages import (
    XLSX_TYPE,
    Cell,
    LocalTime,
    Section,
    local_times,
    sections,
    to_xlsx,
)
from bot.web.reports import Period, build_report, period
from bot.web.ticket_sheet import ticket_section
from bot.workflows.models import RemoteGrant, SiteVisit, Upgrade, UpgradeStep
from bot.workflows.upgrades import STAGE_LABELS

_Q = TypeVar("_Q")
GRANT_LABELS = {
    "requested": "待决定",
    "granted": "同意",
    "refused": "拒绝",
    "revoked": "同意后撤销",
}


def annual_sections(
    db: Engine,
    *,
    hospital_id: str | None,
    year: int,
    zone: ZoneInfo,
    sla: SlaClocks,
    top_n: int,
    now: dt.datetime,
) -> list[Section]:
    """The year's sections; ``sla`` holds the targets of tickets without clocks."""
    report = build_report(
        db, hospital_id=hospital_id, year=year, month=None, zone=zone, sla=sla,
        top_n=top_n, now=now,
    )  # fmt: skip
    out = sections(report, str(zone))
    span = period(year, None, zone)
    local = local_times(zone)
    with Session(db) as s:
        names = {h.id: h.name for h in s.exec(select(Hospital))}
        people = {e.id: e.name for e in s.exec(select(Engineer))}
        who = lambda e: people.get(e or "", e or "")  # noqa: E731
        out.append(_teams(s, hospital_id, names, who))
        out.append(_remote(s, hospital_id, span, names, who, local))
        out.append(_visits(s, hospital_id, span, names, who, local))
        out.append(_upgrades(s, hospital_id, span, names, who))
    out.append(ticket_section(db, sla, hospital_id, span.start, span.end, local, now))
    return out


def _where(stmt: _Q, column: Any, hospital_id: str | None) -> _Q:
    """``stmt`` narrowed to one hospital (None: all)."""
    return stmt if hospital_id is None else stmt.where(column == hospital_id)  # type: ignore[attr-defined]


def _teams(
    s: Session, hospital_id: str | None, names: dict[str, str], who: Callable[[str | None], str]
) -> Section:
    rows: list[tuple[Cell, ...]] = [
        (h.id, h.name, who(h.dedicated_engineer_id), who(h.deputy_engineer_id), h.his_version)
        for h in s.exec(_where(select(Hospital), col(Hospital.id), hospital_id))
    ]
    return Section("专属工程师", ("医院代码", "医院", "专属工程师", "副工程师", "HIS版本"), rows)


def _remote(
    s: Session, hospital_id: str | None, span: Period, names: dict[str, str],
    who: Callable[[str | None], str], local: LocalTime,
) -> Section:  # fmt: skip
    stmt = (
        select(RemoteGrant, Ticket.number)
        .join(Ticket, col(Ticket.id) == col(RemoteGrant.ticket_id))
        .where(
            col(RemoteGrant.requested_at) >= span.start, col(RemoteGrant.requested_at) < span.end
        )
        .order_by(col(RemoteGrant.id))
    )
    rows: list[tuple[Cell, ...]] = [
        (
            number,
            names.get(g.hospital_id, g.hospital_id),
            g.tool,
            g.purpose,
            g.minutes,
            who(g.requested_by),
            local(g.requested_at),
            GRANT_LABELS[g.status],
            local(g.decided_at),
            local(g.expires_at),
            local(g.revoked_at),
        )
        for g, number in s.exec(_where(stmt, col(RemoteGrant.hospital_id), hospital_id))
    ]
    headers = "工单号 医院 工具 目的 预计分钟 申请工程师 申请时间 医院决定 决定时间 有效至 撤销时间"
    return Section("远程协助", tuple(headers.split()), rows)


def _visits(
    s: Session, hospital_id: str | None, span: Period, names: dict[str, str],
    who: Callable[[str | None], str], local: LocalTime,
) -> Section:  # fmt: skip
    stmt = (
        select(SiteVisit, Ticket.number)
        .join(Ticket, col(Ticket.id) == col(SiteVisit.ticket_id))
        .where(col(SiteVisit.planned_at) >= span.start, col(SiteVisit.planned_at) < span.end)
        .order_by(col(SiteVisit.planned_at))
    )
    rows: list[tuple[Cell, ...]] = [
        (
            v.id,
            number,
            names.get(v.hospital_id, v.hospital_id),
            who(v.engineer_id),
            local(v.planned_at),
            local(v.arrived_at),
            local(v.departed_at),
            "已确认" if v.confirmed_at else "未确认",
            local(v.confirmed_at),
        )
        for v, number in s.exec(_where(stmt, col(SiteVisit.hospital_id), hospital_id))
    ]
    headers = "编号 工单号 医院 工程师 计划时间 到场 离场 医院确认 确认时间"
    return Section("现场服务", tuple(headers.split()), rows)


def _upgrades(
    s: Session, hospital_id: str | None, span: Period, names: dict[str, str],
    who: Callable[[str | None], str],
) -> Section:  # fmt: skip
    stmt = (
        select(Upgrade)
        .where(col(Upgrade.created_at) >= span.start, col(Upgrade.created_at) < span.end)
        .order_by(col(Upgrade.id))
    )
    rows: list[tuple[Cell, ...]] = []
    for u in s.exec(_where(stmt, col(Upgrade.hospital_id), hospital_id)):
        steps = {
            st.stage: st for st in s.exec(select(UpgradeStep).where(UpgradeStep.upgrade_id == u.id))
        }
        cells: list[Cell] = [
            u.id,
            names.get(u.hospital_id, u.hospital_id),
            u.product,
            u.from_version,
            u.to_version,
            STAGE_LABELS[u.stage] if u.stage else "未开始",
        ]
        for stage in STAGE_LABELS:
            st = steps.get(stage)
            cells += [st.done_on.isoformat() if st else None, who(st.engineer_id) if st else None]
        rows.append(tuple(cells))
    stage_headers = [
        f"{label}{part}" for label in STAGE_LABELS.values() for part in ("日期", "工程师")
    ]
    headers = ("编号", "医院", "产品", "原版本", "目标版本", "进度", *stage_headers)
    return Section("系统升级", headers, rows)


def routes(console: Console) -> APIRouter:
    router = APIRouter()

    @router.get("/reports/annual.xlsx")
    def annual(request: Request, year: str = "", hospital: str = "") -> Response:
        """年度服务回顾: one workbook, one sheet per section."""
        console.engineer(request)
        now = as_utc(console.services.clock())
        this_year = now.year
        y = year.strip()
        if y and not (y.isascii() and y.isdigit() and 2000 <= int(y) <= this_year + 1):
            raise HTTPException(400, f"年份无效：请选择 2000–{this_year + 1} 之间的年份。")
        h = hospital.strip() or None
        if h is not None and (len(h) > 64 or console.services.registry.get_hospital(h) is None):
            raise HTTPException(404)
        settings = console.settings.reports
        parts = annual_sections(
            console.db, hospital_id=h, year=int(y) if y else this_year, zone=console.zone,
            sla=console.sla_clocks, top_n=settings.top_unanswered, now=now,
        )  # fmt: skip
        name = f"annual-review-{h or 'all'}-{int(y) if y else this_year}.xlsx"
        return Response(
            to_xlsx(parts),
            media_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
