"""值班表 (``/duty``): who holds each post now and over a week, for engineers; leads set a
post's rotation or one day's holder from the page.

The page is a view over ``bot.duty.roster.Roster`` (the same resolution as ``hisbot duty`` and
the desk's ``/duty``): rotations, overrides, weekends, 法定节假日 and 调休 come from there, and
every change goes through ``Roster.set_rotation``/``set_override`` with their checks. Changes
are for leads only (404 for others, as ``/audit``), need the page's CSRF token, and are
written to the console's audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.duty.commands import duty_lines
from bot.duty.models import Post
from bot.duty.roster import DutyNow, Roster, RosterError, WeekRow
from bot.registry.models import Engineer, Hospital
from bot.web.app import Console, form_fields
from bot.web.auth import Viewer

#: The posts of the week table's columns (a hospital's engineer of the day has its own).
SHIFT_POSTS = (Post.DAY, Post.NIGHT, Post.WEEKEND, Post.HOLIDAY, Post.LEAD)

#: Records one change in the console's audit log: (action, target, detail).
Audit = Callable[[str, str, str], None]
#: A lead's change: the form's fields → the unit of work and the page to go to after it.
Change = Callable[[dict[str, str], Viewer, Audit], tuple[Callable[[], None], str]]

_DONE = {"rotation": "轮换已保存。", "override": "当日值班已保存。", "swap": "已换班。"}


@dataclass(frozen=True)
class RosterView:
    """What the page shows, read in one unit of work."""

    now: DutyNow
    now_lines: list[str]
    week: list[WeekRow]
    engineers: list[Engineer]
    hospitals: list[Hospital]
    unknown_years: list[int]


def roster_of(console: Console) -> Roster:
    """The running watch's roster (one work calendar), else one over the console's database."""
    sla = console.services.sla
    if sla is not None:
        return sla.roster
    return Roster(console.db, console.settings.duty, clock=console.services.clock)


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    db = console.services.db
    registry = console.services.registry

    def read_view(first: dt.date | None) -> RosterView:
        roster = roster_of(console)
        now = roster.now()
        hospitals = registry.list_hospitals()
        week = roster.week(first or now.duty_day.date, [h.id for h in hospitals])
        return RosterView(
            now,
            duty_lines(roster, registry, now),
            week,
            registry.list_engineers(),
            hospitals,
            roster.calendar.unknown_years(),
        )

    async def page(
        request: Request,
        viewer: Viewer,
        first: dt.date | None,
        *,
        flash: str = "",
        error: str = "",
        form: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        view = await db.read(lambda: read_view(first))
        names = {e.id: e.name for e in view.engineers}
        start = view.week[0].day.date
        return console.render(
            request,
            viewer,
            "duty.html",
            {
                "view": view,
                "posts": SHIFT_POSTS,
                "all_posts": list(Post),
                "name": lambda e: names.get(e, e) if e else "—",
                "can_lead": "lead" in viewer.roles,
                "previous": start - dt.timedelta(days=7),
                "next": start + dt.timedelta(days=7),
                "flash": flash or None,
                "flash_kind": "error" if error else "ok",
                "error": error,
                "form": form or {},
            },
            status_code=status_code,
        )

    @router.get("/duty")
    async def duty_page(request: Request, start: str = "", done: str = "") -> Response:
        viewer = console.engineer(request)
        try:
            first = _date(start, "起始日期") if start else None
        except _BadInput as exc:
            raise HTTPException(400, str(exc)) from None
        return await page(request, viewer, first, flash=_DONE.get(done, ""))

    async def lead_change(request: Request, prepare: Change) -> Response:
        """Leads only, with the page's token; a refused change re-shows the page with the
        reason and the form as typed (400), a made one redirects (and is audited)."""
        viewer = console.lead(request)
        fields = form_fields(await console.form(request, viewer))
        ip = console.client_ip(request)

        def audit(action: str, target: str, detail: str) -> None:
            console.store.audit(viewer.audit_name, action, target, detail, ip=ip)

        try:
            change, target = prepare(fields, viewer, audit)
            await db.write(change)
        except (RosterError, _BadInput) as exc:
            return await page(request, viewer, None, error=str(exc), form=fields, status_code=400)
        return RedirectResponse(target, status_code=303)

    def rotation_change(
        fields: dict[str, str], viewer: Viewer, audit: Audit
    ) -> tuple[Callable[[], None], str]:
        post = _post(fields.get("post", ""))
        engineers = fields.get("engineers", "").replace("，", ",").replace(",", " ").split()
        every = _int(fields.get("every", ""), "每班天数")
        starting = _date(fields["starting"], "起始日期") if fields.get("starting") else None
        hospital = fields.get("hospital", "")

        def change() -> None:
            rotation = roster_of(console).set_rotation(
                post,
                engineers,
                viewer.engineer_id or "",
                hospital_id=hospital,
                step_days=every,
                starts_on=starting,
            )
            audit(
                "duty_rotation_set",
                f"{post.value}{'/' + hospital if hospital else ''}",
                f"{' → '.join(engineers)}，每 {rotation.step_days} 天，自 {rotation.starts_on}",
            )

        return change, "/duty?done=rotation"

    def override_change(
        fields: dict[str, str], viewer: Viewer, audit: Audit
    ) -> tuple[Callable[[], None], str]:
        post = _post(fields.get("post", ""))
        day = _date(fields.get("day", ""), "日期")
        engineer = fields.get("engineer", "")
        if not engineer:
            raise _BadInput("请选择当日值班的工程师。")
        hospital = fields.get("hospital", "")
        if hospital and post != Post.HOSPITAL:
            raise _BadInput("只有“医院当日工程师”按医院设置。")
        reason = fields.get("reason", "")

        def change() -> None:
            roster_of(console).set_override(
                day, post, engineer, viewer.engineer_id or "", reason=reason, hospital_id=hospital
            )
            audit(
                "duty_override_set",
                f"{day} {post.value}{'/' + hospital if hospital else ''}",
                f"{engineer}{'：' + reason if reason else ''}",
            )

        monday = day - dt.timedelta(days=day.weekday())
        return change, f"/duty?start={monday}&done=override"

    def swap_change(
        fields: dict[str, str], viewer: Viewer, audit: Audit
    ) -> tuple[Callable[[], None], str]:
        """``hisbot duty swap`` from the page: the holders of a post on two days trade."""
        post = _post(fields.get("post", ""))
        if post == Post.HOSPITAL:
            raise _BadInput("医院当日工程师按医院排班，请用“单日调整”分别设置。")
        first = _date(fields.get("first", ""), "第一个日期")
        second = _date(fields.get("second", ""), "第二个日期")
        if first == second:
            raise _BadInput("请选择两个不同的日期。")
        reason = fields.get("reason", "")

        def change() -> None:
            roster = roster_of(console)
            a, b = roster.holder(post, first), roster.holder(post, second)
            if a is None or b is None:
                missing = first if a is None else second
                raise _BadInput(f"{missing} 没有人值{post.label}，无法换班。")
            if a == b:
                raise _BadInput(f"{first} 和 {second} 的{post.label}都是 {a}，无需换班。")
            new_first, new_second = roster.swap(
                post, first, second, viewer.engineer_id or "", reason=reason
            )
            audit(
                "duty_swap",
                f"{post.value} {first} ⇄ {second}",
                f"{first}：{new_first}，{second}：{new_second}{'；' + reason if reason else ''}",
            )

        monday = first - dt.timedelta(days=first.weekday())
        return change, f"/duty?start={monday}&done=swap"

    @router.post("/duty/swap")
    async def swap_days(request: Request) -> Response:
        return await lead_change(request, swap_change)

    @router.post("/duty/rotation")
    async def set_rotation(request: Request) -> Response:
        return await lead_change(request, rotation_change)

    @router.post("/duty/override")
    async def set_override(request: Request) -> Response:
        return await lead_change(request, override_change)

    return router


class _BadInput(ValueError):
    """A form value that cannot be used; the message is shown to the lead."""


def _post(value: str) -> Post:
    try:
        return Post(value)
    except ValueError:
        raise _BadInput(f"没有这个班次：{value!r}") from None


def _date(value: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _BadInput(f"{what}格式应为 YYYY-MM-DD：{value!r}") from None


def _int(value: str, what: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) <= 366:
        raise _BadInput(f"{what}应为 1–366 之间的整数：{value!r}")
    return int(value)
