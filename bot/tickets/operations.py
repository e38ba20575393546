"""What a refused ticket operation tells engineers, on every surface.

The operations themselves are ``bot.tickets.flow.TicketFlow``'s; their errors are the ticket
store's (``TicketError`` and subclasses), put here into the sentences the chat desk and the web
console show.
"""

from __future__ import annotations

from bot import texts
from bot.tickets.store import (
    AlreadyClaimed,
    InvalidTransition,
    NotAllowed,
    ResolutionRequired,
    TicketError,
    TicketNotFound,
)

#: Platform name of tickets registered on the web console (and of the playground's chats).
WEB_PLATFORM = "web"


_RULES = {
    "not_owner": "只有该工单的受理工程师或组长可以这样做。",
    "reason_required": "请写明重新打开的原因。",
    "text_required": "内容不能为空。",
    "cannot_take": "该工程师没有接单权限。",
    "not_engineer": "只有已登记的工程师可以这样做。",
}
_MOVES = {
    "accepted": "接单",
    "in_progress": "开始处理",
    "resolved": "标记解决",
    "closed": "关闭",
    "reopened": "重新打开",
    "assigned": "指派",
}


def explain(exc: TicketError) -> str:
    """A refused ticket operation, in the words the desk and the console show engineers."""
    if isinstance(exc, AlreadyClaimed):
        return f"工单 #{exc.number} 已被 {exc.engineer_name or exc.engineer_id} 接单。"
    if isinstance(exc, ResolutionRequired):
        return "请写明处理方式（必填，会告知医院）。"
    if isinstance(exc, TicketNotFound):
        return texts.not_found(exc.number)
    if isinstance(exc, InvalidTransition):
        now = texts.STATUS_LABELS.get(exc.from_status, exc.from_status)
        return f"工单当前状态为「{now}」，不能{_MOVES.get(exc.to_status, exc.to_status)}。"
    if isinstance(exc, NotAllowed) and exc.code in _RULES:
        return _RULES[exc.code]
    return f"操作未完成：{exc}"
