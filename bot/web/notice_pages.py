"""通知 (``/notices``): compose a broadcast, preview the exact text and recipients, test, send or
schedule it, and follow its delivery and receipts — for engineers with the broadcaster role.

The page is another door to the same ``bot.broadcasts`` services as ``hisbot notice`` and the
desk's ``/notice``: drafts are validated by ``draft_from_fields``, every change goes through
``BroadcastStore`` (which checks the role and writes ``notice_audit``), the test copy is
posted by the running ``Broadcaster``, and the status is ``status.build_report``. Others get
404, as leads-only pages do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.broadcasts import status
from bot.broadcasts.access import BROADCASTER, Actor
from bot.broadcasts.errors import BroadcastError, NoticeNotFound
from bot.broadcasts.hooks import Broadcasts
from bot.broadcasts.models import Notice, NoticeAudit, NoticeWave, WaveKind
from bot.broadcasts.render import DELIVERY_LABELS, KIND_LABELS, STATUS_LABELS, wave_text
from bot.broadcasts.settings import parse_local
from bot.broadcasts.specs import draft_from_fields
from bot.broadcasts.status import NoticeReport
from bot.broadcasts.targeting import Resolution
from bot.infra.actors import ActorKind
from bot.web.app import Console, form_fields
from bot.web.auth import Viewer

#: The compose form's fields (the names ``draft_from_fields`` reads).
FIELDS = (
    "title", "body", "product", "module", "version", "download_url", "checksum", "action",
    "deadline", "window_start", "window_end", "modules", "services", "reminders", "targets",
)  # fmt: skip
#: Field names in the store's (English) validation messages, as the form labels them.
FIELD_LABELS = {
    "product/module": "产品/模块", "version": "版本", "body": "内容/修复内容",
    "download_url": "下载地址", "checksum": "校验值", "action": "需要操作",
    "deadline": "截止时间", "window_start": "开始时间", "window_end": "结束时间",
    "modules": "影响模块", "title": "标题", "targets": "发送对象",
}  # fmt: skip
_DONE = {
    "created": "草稿已保存：请核对下面的正文和接收群。",
    "test": "测试稿已发到工程师群，请在群里核对后确认发送。",
    "sent": "已确认发送：运行中的机器人正在发送。",
    "scheduled": "已确认定时发送。",
    "cancelled": "通知已取消，未发出的消息不再发送。",
    "resent": "失败或待确认的群已重新排队。",
}
_ACTIONS = ("test", "send", "cancel", "resend")


@dataclass(frozen=True)
class NoticeView:
    """One notice as the page shows it, read in one unit of work."""

    notice: Notice
    text: str
    targets: str
    reach: Resolution
    report: NoticeReport
    audit: list[NoticeAudit]


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    db = console.services.db

    def broadcasts() -> Broadcasts:
        found = console.services.broadcasts
        if found is None:
            raise HTTPException(404)
        return found

    def broadcaster(request: Request) -> Viewer:
        viewer = console.engineer(request)
        if BROADCASTER not in viewer.roles:
            raise HTTPException(404)
        return viewer

    def actor(viewer: Viewer) -> Actor:
        return Actor(ActorKind.ENGINEER, viewer.engineer_id, viewer.name, via="web")

    @router.get("/notices")
    async def notice_list(request: Request) -> Response:
        viewer = broadcaster(request)
        store = broadcasts().store
        notices = await db.read(lambda: store.list_notices(100))
        return console.render(
            request,
            viewer,
            "notices.html",
            {
                "notices": notices,
                "kinds": KIND_LABELS,
                "states": STATUS_LABELS,
                "s": store.settings,
            },
        )

    async def compose(
        request: Request,
        viewer: Viewer,
        form: Mapping[str, str],
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        b = broadcasts()
        hospitals = await db.read(b.store.registry.list_hospitals)
        return console.render(
            request,
            viewer,
            "notice_new.html",
            {
                "form": form,
                "error": error,
                "kinds": KIND_LABELS,
                "hospitals": hospitals,
                "s": b.store.settings,
            },
            status_code=status_code,
        )

    @router.get("/notices/new")
    async def new_notice(request: Request, kind: str = "announcement") -> Response:
        viewer = broadcaster(request)
        return await compose(request, viewer, {"kind": kind, "targets": "all"})

    @router.post("/notices/new")
    async def create_notice(request: Request) -> Response:
        viewer = broadcaster(request)
        fields = form_fields(await console.form(request, viewer))
        store = broadcasts().store
        values = {k: v for k, v in fields.items() if k in FIELDS and v}
        values["targets"] = _targets(fields)
        if fields.get("urgent"):
            values["urgent"] = "yes"
        for name in ("deadline", "window_start", "window_end"):
            if name in values:  # <input type="datetime-local">: 2026-03-05T22:00
                values[name] = values[name].replace("T", " ")

        def create() -> Notice:
            draft = draft_from_fields(fields.get("kind", ""), values, store.settings.tz)
            return store.create(draft, actor(viewer))

        try:
            notice = await db.write(create)
        except BroadcastError as exc:
            return await compose(request, viewer, fields, _chinese(exc), status_code=400)
        return RedirectResponse(f"/notices/{notice.id}?done=created", status_code=303)

    async def show(
        request: Request,
        viewer: Viewer,
        notice_id: int,
        *,
        flash: str = "",
        error: str = "",
        form: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        b = broadcasts()
        store = b.store

        def read() -> NoticeView:
            notice = store.get(notice_id)
            modules, services = store.items(notice_id)
            wave = NoticeWave(notice_id=notice_id, kind=WaveKind.MAIN)
            return NoticeView(
                notice,
                wave_text(notice, wave, modules, services, store.settings),
                store.targets(notice_id).describe(),
                store.preview(notice_id),
                status.build_report(store, notice_id),
                store.audit_log(notice_id),
            )

        try:
            view = await db.read(read)
        except NoticeNotFound:
            raise HTTPException(404) from None
        s = store.settings
        return console.render(
            request,
            viewer,
            "notice.html",
            {
                "view": view,
                "n": view.notice,
                "kinds": KIND_LABELS,
                "states": STATUS_LABELS,
                "deliveries": DELIVERY_LABELS,
                "s": s,
                "held": status.held_text(view.report.held_until, s),
                "has_desk": bool(b.broadcaster.desk_chats),
                "editable": view.notice.status in ("draft", "missed", "scheduled"),
                "flash": flash or None,
                "flash_kind": "error" if error else "ok",
                "error": error,
                "form": form or {},
            },
            status_code=status_code,
        )

    @router.get("/notices/{notice_id}")
    async def notice_page(request: Request, notice_id: int, done: str = "") -> Response:
        viewer = broadcaster(request)
        return await show(request, viewer, notice_id, flash=_DONE.get(done, ""))

    @router.post("/notices/{notice_id}/{action}")
    async def notice_action(request: Request, notice_id: int, action: str) -> Response:
        viewer = broadcaster(request)
        if action not in _ACTIONS:
            raise HTTPException(404)
        fields = form_fields(await console.form(request, viewer))
        b = broadcasts()
        store, who = b.store, actor(viewer)
        try:
            if action == "test":
                state = await b.broadcaster.send_test(notice_id, who)
                if state != "sent":
                    raise BroadcastError(
                        f"the test copy did not reach the engineers' chat ({state})"
                    )
                done = "test"
            elif action == "send":
                at_text = fields.get("at", "").replace("T", " ")
                at = parse_local(at_text, store.settings.tz) if at_text else None
                skip = bool(fields.get("skip_test"))
                await db.write(lambda: store.confirm(notice_id, who, at, skip_test=skip))
                b.broadcaster.on_waves_changed()
                b.broadcaster.wake()
                done = "scheduled" if at else "sent"
            elif action == "cancel":
                await db.write(lambda: store.cancel(notice_id, who))
                b.broadcaster.on_waves_changed()
                done = "cancelled"
            else:
                await db.write(lambda: store.resend(notice_id, who))
                b.broadcaster.wake()
                done = "resent"
        except NoticeNotFound:
            raise HTTPException(404) from None
        except (BroadcastError, ValueError) as exc:
            return await show(
                request, viewer, notice_id, error=_chinese(exc), form=fields, status_code=400
            )
        return RedirectResponse(f"/notices/{notice_id}?done={done}", status_code=303)

    return router


def _targets(fields: Mapping[str, str]) -> str:
    """The form's 发送对象: every hospital, or the filters typed (as ``--target``)."""
    if fields.get("audience", "all") == "all":
        return "all"
    return fields.get("targets", "").strip()


_NEEDS = re.compile(r"a (\w+) notice needs: (.+)")


def _chinese(exc: Exception) -> str:
    """The store's English sentence, with the form's own field names where it names fields."""
    text = str(exc)
    m = _NEEDS.fullmatch(text)
    if m:
        names = "、".join(FIELD_LABELS.get(n.strip(), n.strip()) for n in m.group(2).split(","))
        return f"还缺少：{names}。"
    if "no engineers' chat is configured" in text:
        return "没有配置工程师群，测试稿无处可发：核对本页的正文和接收群后，勾选“不发测试稿”再确认发送。"
    if "has not reached the engineers' chat" in text:
        return "测试稿还没有发到工程师群：先“发送测试稿”并在群里核对，或勾选“不发测试稿”。"
    if "say who receives it" in text:
        return "请填写发送对象（全部医院，或按地区/版本/模块/医院筛选）。"
    return text
