"""What the console shows of SLA clocks: a list cell per ticket (time left, or overdue), the
pinned open P1s, and the clocks on a ticket's page."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from bot.sla.clocks import minutes_left
from bot.sla.models import ClockKind, SlaClock
from bot.sla.watch import SlaWatch
from bot.tickets.models import Ticket
from bot.tickets.search import TicketQuery, find_tickets

#: How many open P1 tickets are pinned above the list at most.
MAX_PINNED = 20


@dataclass(frozen=True)
class SlaCell:
    text: str
    overdue: bool = False
    paused: bool = False


@dataclass(frozen=True)
class ClockRow:
    label: str
    target_minutes: int
    working_time: bool
    due_at: dt.datetime
    state: str
    overdue: bool


def span(minutes: float) -> str:
    """A length of time as the console words it, sign dropped: 45 分钟, 3 小时 20 分, 2 天 4 小时."""
    minutes = abs(round(minutes))
    if minutes < 60:
        return f"{minutes} 分钟"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时 {minutes % 60} 分"
    return f"{minutes // 1440} 天 {minutes // 60 % 24} 小时"


def pinned_p1(db: Engine, query: TicketQuery) -> list[Ticket]:
    """Open P1 tickets matching the list's other filters, pinned on its first page."""
    if query.page != 1 or query.urgency not in (None, "P1") or query.status not in (None, "open"):
        return []
    pinned = dataclasses.replace(query, urgency="P1", status="open", per_page=MAX_PINNED)
    return find_tickets(db, pinned).tickets


def _running(clocks: list[SlaClock]) -> SlaClock | None:
    """The clock that matters now: the accept clock until it is met, then the resolve clock."""
    by_kind = {c.kind: c for c in clocks}
    for kind in (ClockKind.ACCEPT, ClockKind.RESOLVE):
        clock = by_kind.get(kind.value)
        if clock is not None and clock.stopped_at is None:
            return clock
    return None


def cells(watch: SlaWatch | None, tickets: list[Ticket], now: dt.datetime) -> dict[str, SlaCell]:
    """The age/SLA column: time left on the running clock, overdue, or paused."""
    if watch is None:
        return {}
    by_ticket = watch.clocks.for_tickets([t.id for t in tickets if t.id is not None])
    out: dict[str, SlaCell] = {}
    for t in tickets:
        clock = _running(by_ticket.get(t.id or 0, []))
        if clock is None or not t.is_open:
            continue
        left = minutes_left(clock, watch.clocks.worktime, now)
        label = ClockKind(clock.kind).label
        if clock.paused_at is not None:
            out[t.number] = SlaCell(f"{label}已暂停（剩 {span(left)}）", paused=True)
        elif left < 0:
            out[t.number] = SlaCell(f"{label}超时 {span(left)}", overdue=True)
        else:
            out[t.number] = SlaCell(f"{label}剩 {span(left)}")
    return out


def ticket_clocks(watch: SlaWatch | None, number: str, now: dt.datetime) -> list[ClockRow]:
    if watch is None:
        return []
    rows = []
    for c in watch.clocks.for_ticket(number):
        left = minutes_left(c, watch.clocks.worktime, now)
        if c.stopped_at is not None:
            state = "已达成" if left >= 0 else f"已完成，超时 {span(left)}"
        elif c.paused_at is not None:
            state = f"暂停中（等待医院），剩 {span(left)}"
        elif left < 0:
            state = f"超时 {span(left)}"
        else:
            state = f"剩 {span(left)}"
        if c.breached_at is not None and c.pages:
            state += f"；已呼叫 {c.pages} 次"
            if c.acknowledged_by:
                state += f"，{c.acknowledged_by} 已确认"
        overdue = left < 0 and c.stopped_at is None
        rows.append(
            ClockRow(
                ClockKind(c.kind).label, c.target_minutes, c.working_time, c.due_at, state, overdue
            )
        )
    return rows
