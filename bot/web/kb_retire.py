"""Retiring and restoring KB articles (engineers).

A retired article stops being answered (it leaves the index at once, through the same
``LiveKnowledge`` as edits) but keeps its versions and its page, which old chat answers link
to: the page says it is retired, why, by whom and when. Browse and search hide it from
everyone but engineers. Both actions are audited; the article's history page lists them from
the audit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.web.app import Console
from bot.web.auth import Viewer

MAX_REASON = 200
RETIRE, RESTORE = "kb_retire", "kb_restore"
#: After-action notices on the article page, chosen by a code in the redirect.
NOTICES = {
    "retired": "已停用：机器人不再用这篇文章回答，搜索中也不再显示。",
    "restored": "已恢复：机器人和搜索现在重新使用这篇文章。",
    "no_reason": "请填写停用原因（不超过 200 字）。",
    "retire_stale": "已停用，但搜索索引更新失败：机器人暂时可能仍用这篇文章回答（重启后生效），请联系管理员。",
    "restore_stale": "已恢复，但搜索索引更新失败：机器人暂时仍不会用这篇文章回答（重启后生效），请联系管理员。",
}
#: Notices shown as errors.
ERRORS = frozenset({"no_reason", "retire_stale", "restore_stale"})


@dataclass(frozen=True)
class RetireEvent:
    """One retire or restore, as the history page lists it."""

    at: dt.datetime
    retired: bool
    #: The engineer's id.
    by: str
    reason: str


def retire_events(console: Console, article_id: str) -> list[RetireEvent]:
    """The article's retirements and restorations, oldest first (from the console audit)."""
    return [
        RetireEvent(
            at=a.at,
            retired=a.action == RETIRE,
            by=a.actor.removeprefix("engineer:"),
            reason=a.detail,
        )
        for a in console.store.audit_of(article_id, (RETIRE, RESTORE))
    ]


def routes(console: Console) -> APIRouter:
    router = APIRouter()

    async def act(request: Request, viewer: Viewer, article_id: str, retire: bool) -> Response:
        form = await console.form(request, viewer)
        if len(article_id) > 64:
            raise HTTPException(404)
        by = viewer.engineer_id or ""
        reason = ""
        if retire:
            raw = form.get("reason", "")
            reason = console.services.redact(raw.strip() if isinstance(raw, str) else "")
            if not reason or len(reason) > MAX_REASON:
                return RedirectResponse(f"/kb/{article_id}?n=no_reason", status_code=303)
        live = console.knowledge
        try:
            if retire:
                result = await live.retire(article_id, by, reason)
            else:
                result = await live.restore(article_id, by)
        except KeyError:
            raise HTTPException(404) from None
        if result.changed:
            action = RETIRE if retire else RESTORE
            ip = console.client_ip(request)
            await console.services.db.write(
                lambda: console.store.audit(viewer.audit_name, action, article_id, reason, ip)
            )
        notice = "retire" if retire else "restore"
        notice += "d" if result.indexed else "_stale"
        return RedirectResponse(f"/kb/{article_id}?n={notice}", status_code=303)

    @router.post("/kb/{article_id}/retire")
    async def retire(request: Request, article_id: str) -> Response:
        return await act(request, console.engineer(request), article_id, retire=True)

    @router.post("/kb/{article_id}/restore")
    async def restore(request: Request, article_id: str) -> Response:
        return await act(request, console.engineer(request), article_id, retire=False)

    return router
