"""工单记录: one row per ticket opened in a period — the contract's record (受理工程师, 受理时间,
完成时间, 处理方法) and how each of its SLA clocks ended (达标 / 超时 / 进行中, by the same rule
as the SLA达成 table, ``bot.web.sla_report.outcome``).

A sheet of the report's exports and of the annual service review.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot import texts
from bot.infra.clock import as_utc
from bot.registry.models import Engineer, Hospital
from bot.sla.models import ClockKind, SlaClock
from bot.tickets.models import Ticket
from bot.web.report_pages import Cell, LocalTime, Section
from bot.web.sla_report import _Clock, outcome
from bot.workflows.models import TicketLevel
from bot.workflows.remote import LEVEL_LABELS

TITLE = "工单记录"
CHANNELS = {
    "web": "网页",
    "telegram": "Telegram",
    "slack": "Slack",
    "dingtalk": "钉钉",
    "wecom": "企业微信",
    "phone": "电话",
}
SLA_LABELS = {"met": "达标", "breached": "超时", "running": "进行中"}
HEADERS = (
    "工单号 医院 渠道 服务领域 紧急程度 状态 问题 报告人 创建时间 受理工程师 受理时间 完成时间 "
    "处理方法 服务方式 受理时限 受理SLA 解决时限 解决SLA"
)


def ticket_section(
    db: Engine,
    hospital_id: str | None,
    start: dt.datetime,
    end: dt.datetime,
    local: LocalTime,
    now: dt.datetime,
) -> Section:
    """The tickets opened in [start, end) (naive UTC), oldest first; ``now`` judges clocks
    still running."""
    stmt = (
        select(Ticket, TicketLevel.level)
        .join(TicketLevel, col(TicketLevel.ticket_id) == col(Ticket.id), isouter=True)
        .where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
        .order_by(col(Ticket.created_at))
    )
    if hospital_id is not None:
        stmt = stmt.where(col(Ticket.hospital_id) == hospital_id)
    with Session(db) as s:
        names = {h.id: h.name for h in s.exec(select(Hospital))}
        people = {e.id: e.name for e in s.exec(select(Engineer))}
        found = list(s.exec(stmt))
        clocks = _clocks(s, [t.id for t, _ in found if t.id is not None])
    rows: list[tuple[Cell, ...]] = []
    for t, level in found:
        mine = clocks.get(t.id or 0, {})
        rows.append(
            (
                t.number,
                names.get(t.hospital_id, t.hospital_id),
                CHANNELS.get(t.source_platform, t.source_platform),
                texts.CATEGORY_LABELS.get(t.category, t.category),
                t.urgency,
                texts.STATUS_LABELS.get(t.status, t.status),
                t.question,
                t.reporter_name,
                local(t.created_at),
                people.get(t.accepted_by or "", t.accepted_by or ""),
                local(t.accepted_at),
                local(t.completed_at),
                t.resolution or "",
                LEVEL_LABELS.get(level, "") if level else "",
                *_clock_cells(mine.get(ClockKind.ACCEPT.value), local, now),
                *_clock_cells(mine.get(ClockKind.RESOLVE.value), local, now),
            )
        )
    return Section(TITLE, tuple(HEADERS.split()), rows)


def _clocks(s: Session, ticket_ids: list[int]) -> dict[int, dict[str, _Clock]]:
    out: dict[int, dict[str, _Clock]] = {}
    for chunk in (ticket_ids[i : i + 500] for i in range(0, len(ticket_ids), 500)):
        for c in s.exec(select(SlaClock).where(col(SlaClock.ticket_id).in_(chunk))):
            out.setdefault(c.ticket_id, {})[c.kind] = _Clock(
                c.kind, c.started_at, c.due_at, c.paused_at, c.stopped_at, c.breached_at, "", ""
            )
    return out


def _clock_cells(clock: _Clock | None, local: LocalTime, now: dt.datetime) -> tuple[Cell, Cell]:
    """(due, outcome) of one clock; empty for a ticket without one (SLA clocks off)."""
    if clock is None:
        return None, ""
    return local(clock.due_at), SLA_LABELS[outcome(clock, as_utc(now))]
