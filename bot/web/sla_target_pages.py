"""SLA 目标 (``/sla/targets``, leads only): each hospital's accept and resolve targets per
urgency — the hospital contract's own, or the default — and a form to set or reset one.

Another door to ``hisbot sla target``: the same store (``SlaClocks.targets``, ``set_target``,
``reset_target``) and the same rules (``bot.sla.targets.check_target``), so the page and the
CLI refuse the same input. Leads only, as the CLI's ``--as LEAD`` (404 for others, as
``/audit``); changes need the page's CSRF token and commit with their audit line. A target
applies to tickets opened afterwards: a started clock keeps its minutes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.duty.settings import DutySettings
from bot.registry.models import Hospital
from bot.registry.sessions import transaction
from bot.sla.targets import MAX_TARGET_MINUTES, Target, TargetError
from bot.tickets.models import URGENCIES
from bot.web.app import Console, form_fields
from bot.web.auth import Viewer
from bot.web.sla_view import span

#: A lead's change, ready to run in the database thread: returns its audit line's
#: (action, target, detail).
Change = Callable[[], tuple[str, str, str]]

_DONE = {
    "set": "目标已保存：此后新建的工单按新目标计时。",
    "reset": "已恢复默认目标：此后新建的工单按默认目标计时。",
}


@dataclass(frozen=True)
class TargetRow:
    hospital: Hospital
    urgency: str
    target: Target
    #: What the hospital gets without a target of its own (shown beside an own one).
    default: Target


@dataclass(frozen=True)
class TargetsView:
    """What the page shows, read in one unit of work."""

    hospitals: list[Hospital]
    #: The hospital asked for (None: every hospital's rows).
    selected: Hospital | None
    rows: list[TargetRow]


def describe(t: Target) -> str:
    """A target in one line (the audit log's words)."""
    hours = "只计工作时间" if t.working_time else "全天计时"
    return f"受理 {t.accept_minutes} 分钟，解决 {t.resolve_minutes} 分钟，{hours}"


def length(minutes: int, working_time: bool, duty: DutySettings) -> str:
    """A target as a lead reads it: 24 小时 0 分; counted in working time, in working days
    (``[duty]`` hours) once it is a day or more, since calendar days would mislead."""
    start, end = (dt.datetime.combine(dt.date.min, t) for t in (duty.start, duty.end))
    day = (end - start).total_seconds() / 60
    if not working_time or minutes < day:
        return span(minutes)
    days = minutes / day
    return f"{days:g} 个工作日" if days.is_integer() else f"约 {days:.1f} 个工作日"


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    db = console.services.db
    registry = console.services.registry

    def read_view(hospital_id: str) -> TargetsView:
        clocks = console.sla_clocks
        hospitals = registry.list_hospitals()
        selected = next((h for h in hospitals if h.id == hospital_id), None)
        shown = [selected] if selected is not None else hospitals
        targets = clocks.targets([h.id for h in shown])
        rows = [
            TargetRow(h, u, targets[(h.id, u)], clocks.default_target(u))
            for h in shown
            for u in URGENCIES
        ]
        return TargetsView(hospitals, selected, rows)

    def page(
        request: Request,
        viewer: Viewer,
        view: TargetsView,
        *,
        flash: str = "",
        error: str = "",
        form: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        s = console.settings
        return console.render(
            request,
            viewer,
            "sla_targets.html",
            {
                "view": view,
                "urgencies": URGENCIES,
                "length": lambda m, w: length(m, w, s.duty),
                "sla_on": s.sla.enabled,
                "working_time": s.sla.working_time,
                "duty": s.duty,
                "max_minutes": MAX_TARGET_MINUTES,
                "flash": flash or None,
                "flash_kind": "error" if error else "ok",
                "error": error,
                "form": form or {},
            },
            status_code=status_code,
        )

    @router.get("/sla/targets")
    async def targets_page(
        request: Request, hospital: str = "", urgency: str = "", done: str = ""
    ) -> Response:
        """Every hospital's targets, or one hospital's; with ``urgency`` too, the form is
        filled in with that target (the table's 修改)."""
        viewer = console.lead(request)
        if urgency and urgency not in URGENCIES:
            raise HTTPException(400, "紧急程度：未知取值")
        view = await db.read(lambda: read_view(hospital))
        if hospital and view.selected is None:
            raise HTTPException(404)
        form = {"hospital": hospital, "urgency": urgency}
        row = next((r for r in view.rows if r.urgency == urgency), None) if view.selected else None
        if row is not None:
            t = row.target
            form |= {
                "accept": str(t.accept_minutes),
                "resolve": str(t.resolve_minutes),
                "working_time": "yes" if t.working_time else "",
            }
        return page(request, viewer, view, flash=_DONE.get(done, ""), form=form)

    async def lead_change(
        request: Request, prepare: Callable[[dict[str, str]], Change], done: str
    ) -> Response:
        """Leads only, with the page's token; the change and its audit line commit together.
        A refused change re-shows the page with the reason and the form as typed (400)."""
        viewer = console.lead(request)
        fields = form_fields(await console.form(request, viewer))
        ip = console.client_ip(request)

        def write(change: Change) -> None:
            with transaction(console.db):
                action, target, detail = change()
                console.store.audit(viewer.audit_name, action, target, detail, ip=ip)

        try:
            change = prepare(fields)
            await db.write(lambda: write(change))
        except (TargetError, _BadInput) as exc:
            error = exc.chinese if isinstance(exc, TargetError) else str(exc)
            view = await db.read(lambda: read_view(fields.get("hospital", "")))
            return page(request, viewer, view, error=error, form=fields, status_code=400)
        where = {"hospital": fields["hospital"], "urgency": fields["urgency"], "done": done}
        return RedirectResponse(f"/sla/targets?{urlencode(where)}", status_code=303)

    def set_change(fields: dict[str, str]) -> Change:
        hospital, urgency = _key(fields)
        accept = _minutes(fields.get("accept", ""), "受理时限")
        resolve = _minutes(fields.get("resolve", ""), "解决时限")
        working = bool(fields.get("working_time"))

        def change() -> tuple[str, str, str]:
            clocks = console.sla_clocks
            before = clocks.target(hospital, urgency)
            after = clocks.set_target(hospital, urgency, accept, resolve, working)
            was = "合同目标" if before.own else "默认"
            return (
                "sla_target_set",
                f"{hospital} {urgency}",
                f"{describe(after)}（原{was}：{describe(before)}）",
            )

        return change

    def reset_change(fields: dict[str, str]) -> Change:
        hospital, urgency = _key(fields)

        def change() -> tuple[str, str, str]:
            clocks = console.sla_clocks
            dropped = clocks.reset_target(hospital, urgency)
            if dropped is None:
                raise _BadInput(f"{hospital} 的 {urgency} 本来就是默认目标，无需恢复。")
            default = describe(clocks.default_target(urgency))
            return (
                "sla_target_reset",
                f"{hospital} {urgency}",
                f"{default}（原合同目标：{describe(dropped)}）",
            )

        return change

    @router.post("/sla/targets")
    async def set_target(request: Request) -> Response:
        return await lead_change(request, set_change, "set")

    @router.post("/sla/targets/reset")
    async def reset_target(request: Request) -> Response:
        return await lead_change(request, reset_change, "reset")

    return router


class _BadInput(ValueError):
    """A form value that cannot be used; the message is shown to the lead."""


def _key(fields: Mapping[str, str]) -> tuple[str, str]:
    """The form's hospital and urgency, both chosen (the store says whether they exist)."""
    hospital, urgency = fields.get("hospital", ""), fields.get("urgency", "")
    if not hospital or not urgency:
        raise _BadInput("请选择医院和紧急程度。")
    return hospital, urgency


def _minutes(text: str, what: str) -> int:
    """A whole number of minutes as typed (its range is ``check_target``'s to judge)."""
    if not text:
        raise _BadInput(f"请填写{what}（分钟）。")
    try:
        return int(text)
    except ValueError:
        raise _BadInput(f"{what}应为整数分钟（如 30），不能是 {text!r}。") from None
