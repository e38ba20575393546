"""工单记录: one row per ticket opened in a period — the contract's record (受理工程师, 受理时间,
完成时间, 处理方法), the SLA targets it was judged by and how it did against each (达标 / 超时 /
进行中): by the one rule of the report's 超时工单 list, ``bot.web.sla_report.SlaJudge`` (its
clocks, else its hospital's own target, else the default).

A sheet of the report's exports and of the annual service review.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot import texts
from bot.infra.clock import as_utc
from bot.registry.models import Engineer, Hospital
from bot.sla.clocks import SlaClocks
from bot.tickets.models import Ticket
from bot.web.report_pages import Cell, LocalTime, Section
from bot.web.sla_report import SlaJudge, SlaOutcome, Verdict, opened_clocks
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
SLA_LABELS = {SlaOutcome.MET: "达标", SlaOutcome.BREACHED: "超时", SlaOutcome.RUNNING: "进行中"}
HEADERS = (
    "工单号 医院 渠道 服务领域 紧急程度 状态 问题 报告人 创建时间 受理工程师 受理时间 完成时间 "
    "处理方法 服务方式 SLA目标（受理/解决） 受理时限 受理SLA 解决时限 解决SLA"
)


def ticket_section(
    db: Engine,
    sla: SlaClocks,
    hospital_id: str | None,
    start: dt.datetime,
    end: dt.datetime,
    local: LocalTime,
    now: dt.datetime,
) -> Section:
    """The tickets opened in [start, end) (aware UTC), oldest first; ``now`` judges targets
    still running; ``sla`` holds the targets of tickets without clocks."""
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
        clocks = opened_clocks(s.connection(), hospital_id, start, end)
    judge = SlaJudge(sla, {t.hospital_id for t, _ in found})
    now = as_utc(now)
    rows: list[tuple[Cell, ...]] = []
    for t, level in found:
        verdict = judge(t, clocks.get(t.id or 0, {}), now)
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
                verdict.target_text,
                *_cells(verdict.accept, local),
                *_cells(verdict.resolve, local),
            )
        )
    return Section(TITLE, tuple(HEADERS.split()), rows)


def _cells(v: Verdict, local: LocalTime) -> tuple[Cell, Cell]:
    """(due, outcome) of one target."""
    return local(v.due_at), SLA_LABELS[v.outcome]
