"""操作审计 (``/audit``, leads only): the console's audit log in Chinese, filtered by who, what,
on what (a ticket number, an article, a hospital link) and a local date range.

Times are shown in ``[reports] timezone`` like every other page, and so does ``hisbot web
audit``: one time zone everywhere.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from bot.web.app import Console
from bot.web.ticket_pages import _local_date

#: What each audited action is called on the page (the stored names stay English).
ACTION_LABELS = {
    "login": "登录",
    "login_failed": "登录失败",
    "login_blocked": "登录被锁定",
    "logout": "退出",
    "password_set": "修改密码",
    "account_created": "创建账号",
    "account_disabled": "停用账号",
    "link_created": "创建访问链接",
    "link_revoked": "撤销访问链接",
    "link_opened": "打开访问链接",
    "link_refused": "无效访问链接",
    "cross_hospital": "越权访问其他医院",
    "kb_create": "新建文章",
    "kb_edit": "编辑文章",
    "kb_retire": "停用文章",
    "kb_restore": "恢复文章",
    "kb_erase": "删除文章旧版本",
    "duty_rotation_set": "设置值班轮换",
    "duty_override_set": "调整单日值班",
    "duty_swap": "换班",
    "sla_target_set": "设置 SLA 目标",
    "sla_target_reset": "恢复默认 SLA 目标",
}
LIMIT = 500


def actor_label(actor: str) -> str:
    """ "engineer:e01" → 工程师 e01, "hospital:h001#3" → 医院 h001（链接 #3）, …"""
    kind, _, who = actor.partition(":")
    if kind == "engineer":
        return f"工程师 {who}"
    if kind == "hospital":
        hospital, _, link = who.partition("#")
        return f"医院 {hospital}" + (f"（链接 #{link}）" if link else "")
    if kind == "cli":
        return "命令行" + (f"（{who}）" if who else "")
    return {"anonymous": "未登录访客", "system": "系统"}.get(actor, actor)


def routes(console: Console) -> APIRouter:
    router = APIRouter()

    @router.get("/audit")
    async def audit_page(
        request: Request,
        actor: str = "",
        action: str = "",
        target: str = "",
        date_from: str = "",
        date_to: str = "",
    ) -> Response:
        """The console's audit log, for leads: logins, refusals, accounts, links, KB edits,
        roster and SLA target changes."""
        viewer = console.lead(request)
        if action and action not in ACTION_LABELS:
            raise HTTPException(400, "操作：未知取值")
        since = _local_date(console, date_from, "起始日期")
        until = _local_date(console, date_to, "结束日期")
        before = until + dt.timedelta(days=1) if until is not None else None
        rows = await console.services.db.read(
            lambda: console.store.audit_search(
                actor=actor.strip(),
                action=action,
                target=target.strip(),
                since=since,
                before=before,
                limit=LIMIT,
            )
        )
        return console.render(
            request,
            viewer,
            "audit.html",
            {
                "rows": rows,
                "actions": ACTION_LABELS,
                "actor_label": actor_label,
                "filters": {
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "date_from": date_from,
                    "date_to": date_to,
                },
                "limit": LIMIT,
                "zone": console.settings.reports.timezone,
            },
        )

    return router
