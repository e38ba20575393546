"""What the SLA watch says: to the hospital (only what is true), to the desk, in pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.sla.clocks import Firing
from bot.sla.models import ClockKind
from bot.sla.paging import PageResult
from bot.tickets.models import Ticket


def ticket_queued(number: str) -> str:
    return f"已为您登记工单 #{number}，工程师接单后会在本群回复。"


def p1_paging(number: str) -> str:
    return f"已按紧急故障登记工单 #{number}，正在呼叫值班工程师，结果会在这里告诉您。"


def p1_paged(number: str, names: Sequence[str], at_local: dt.datetime) -> str:
    return f"工单 #{number}：{at_local:%H:%M} 已呼叫值班工程师{'、'.join(names)}，请保持电话畅通。"


def p1_queued(number: str) -> str:
    return (
        f"工单 #{number} 已排在工程师队列最前；暂未联系上值班工程师，工程师接单后会立即在本群回复。"
    )


def p1_page(ticket: Ticket, hospital: str) -> str:
    return (
        f"🚨 紧急故障 P1：{hospital} 工单 #{ticket.number}\n问题：{ticket.question[:120]}\n"
        f"请立即处理，按「收到」确认。"
    )


def breach_page(ticket: Ticket, hospital: str, firing: Firing, due: dt.datetime) -> str:
    again = f"（第 {firing.page_no} 次）" if firing.page_no > 1 else ""
    return (
        f"🚨 超时{again}：{hospital} 工单 #{ticket.number} [{ticket.urgency}] "
        f"{firing.kind.label}时限 {due:%m-%d %H:%M} 已过\n问题：{ticket.question[:120]}\n"
        f"请立即处理，按「收到」确认（确认后不再重复呼叫）。"
    )


def desk_warning(ticket: Ticket, kind: ClockKind, due: dt.datetime) -> str:
    return (
        f"⏰ 工单 #{ticket.number} [{ticket.urgency}] {kind.label}时限已过 80%，"
        f"{due:%m-%d %H:%M} 到期。问题：{ticket.question[:60]}"
    )


def desk_breach(ticket: Ticket, firing: Firing, result: PageResult) -> str:
    return (
        f"🚨 工单 #{ticket.number} [{ticket.urgency}] 已超{firing.kind.label}时限；"
        f"{result.summary()}。/ack {ticket.number} 确认。"
    )
