"""Console pages of the contract's service workflows (``bot.workflows``).

* ``/services``: the all-hospital board of upgrades in progress, and every hospital's team;
* ``/services/hospitals/<id>``: one hospital's dedicated engineer and deputy, admins, product
  versions, upgrades with their stages (engineers record the next stage here), visits and
  live remote grants — a hospital link sees its own hospital's page only;
* ``/services/tickets/<no>``: a ticket's escalation level, remote requests and visits;
  engineers ask for remote access (the hospital's chat gets 同意/拒绝), set the level, plan
  visits and record arrival and departure; the hospital revokes grants and confirms visits
  (what the hospital's chat is told goes with an inbox event written in the step's
  transaction, sent from the inbox, keyed: ``bot.tickets.console_actions``);
* ``/services/calls/new``: register a phone call as a ticket in seconds.

Every rule is the workflow stores'; a refused step re-renders the page with their sentence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.inbox.console import ConsoleEvent, Told
from bot.registry.models import Engineer
from bot.tickets import operations
from bot.tickets.models import URGENCIES, Ticket
from bot.tickets.store import TicketError
from bot.web.app import Console
from bot.web.auth import Viewer
from bot.workflows import WorkflowError, WorkflowNotFound
from bot.workflows.calls import register_call
from bot.workflows.models import LEVEL_ORDER, STAGE_ORDER
from bot.workflows.remote import LEVEL_LABELS, is_live
from bot.workflows.times import parse_day, parse_local, parse_number
from bot.workflows.upgrades import STAGE_LABELS
from kb_index.articles import CATEGORIES

DONE = {
    "requested": "远程申请已发到医院群，等待医院管理员同意。",
    "level": "服务方式已更新。",
    "planned": "现场服务已安排，已告知医院。",
    "arrived": "已登记到场。",
    "departed": "已登记离场，已请医院确认。",
    "revoked": "远程授权已撤销。",
    "confirmed": "现场服务已确认，感谢。",
    "started": "升级已登记。",
    "stage": "升级阶段已记录。",
    "version": "产品版本已记录。",
}
MAX_FIELD = 400


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    services = console.services
    db = services.db

    def engineer_of(viewer: Viewer) -> Engineer:
        engineer = services.registry.get_engineer(viewer.engineer_id or "")
        if engineer is None:
            raise HTTPException(404)
        return engineer

    def hospital_for(request: Request, viewer: Viewer, hospital_id: str) -> Any:
        hospital = services.registry.get_hospital(hospital_id)
        if hospital is None or (viewer.is_hospital and viewer.hospital_id != hospital_id):
            if viewer.is_hospital and hospital is not None:
                console.probed(request, viewer, f"hospital {hospital_id}")
            raise HTTPException(404)
        return hospital

    def ticket_for(request: Request, viewer: Viewer, number: str) -> Ticket:
        try:
            return services.tickets.get(
                number, hospital_id=None if viewer.is_engineer else viewer.hospital_id
            )
        except TicketError:
            raise HTTPException(404) from None

    def engineers() -> dict[str, Engineer]:
        return {e.id: e for e in services.registry.list_engineers()}

    def common(request: Request) -> dict[str, Any]:
        done = request.query_params.get("done", "")
        return {"flash": DONE.get(done), "STAGE_LABELS": STAGE_LABELS, "engineers": engineers()}

    # -- the board and a hospital's page --------------------------------------------------------

    @router.get("/services")
    def board(request: Request) -> Response:
        viewer = console.engineer(request)
        return console.render(
            request,
            viewer,
            "services_board.html",
            {
                **common(request),
                "upgrades": services.workflows.upgrades.in_progress(),
                "hospitals": services.registry.list_hospitals(),
            },
        )

    def hospital_page(
        request: Request, viewer: Viewer, hospital_id: str, error: str = "", status: int = 200
    ) -> Response:
        hospital = hospital_for(request, viewer, hospital_id)
        w = services.workflows
        ctx = {
            **common(request),
            "h": hospital,
            "admins": services.registry.admins_of(hospital.id) if viewer.is_engineer else [],
            "versions": w.upgrades.versions(hospital.id),
            "upgrades": w.upgrades.of_hospital(hospital.id),
            "visits": w.visits.for_hospital(hospital.id),
            "grants": w.remote.live_for_hospital(hospital.id),
            "stages": STAGE_ORDER,
            "today": dt.datetime.now(w.zone).date().isoformat(),
        }
        if error:
            ctx.update(flash=error, flash_kind="error")
        return console.render(request, viewer, "services_hospital.html", ctx, status)

    @router.get("/services/hospitals/{hospital_id}")
    def hospital_view(request: Request, hospital_id: str) -> Response:
        return hospital_page(request, console.signed_in(request), hospital_id)

    @router.post("/services/hospitals/{hospital_id}/{action}")
    async def hospital_action(request: Request, hospital_id: str, action: str) -> Response:
        viewer = console.engineer(request)
        form = await console.form(request, viewer)
        await db.read(lambda: hospital_for(request, viewer, hospital_id))
        f = {k: str(v).strip()[:MAX_FIELD] for k, v in form.items()}
        w, by = services.workflows, (await db.read(lambda: engineer_of(viewer))).id
        steps: dict[str, Callable[[], Any]] = {
            "upgrade": lambda: w.upgrades.start(
                hospital_id,
                f.get("product", ""),
                f.get("version", ""),
                by,
                parse_number(f.get("notice", "")),
            ),
            "stage": lambda: w.upgrades.record(
                upgrade_of(hospital_id, f.get("upgrade", "")),
                f.get("stage", ""),
                by,
                parse_day(f.get("date", "")),
                f.get("notes", ""),
            ),
            "version": lambda: w.upgrades.set_version(
                hospital_id, f.get("product", ""), f.get("version", "")
            ),
        }
        if action not in steps:
            raise HTTPException(404)
        try:
            await db.write(steps[action])
        except WorkflowNotFound:
            raise HTTPException(404) from None
        except WorkflowError as exc:
            error = str(exc)
            return await db.read(lambda: hospital_page(request, viewer, hospital_id, error, 409))
        done = {"upgrade": "started"}.get(action, action)
        return RedirectResponse(f"/services/hospitals/{hospital_id}?done={done}", status_code=303)

    def upgrade_of(hospital_id: str, text: str) -> int:
        """The id of one of this hospital's upgrades (anything else: not found)."""
        upgrade_id = parse_number(text)
        if (
            upgrade_id is None
            or services.workflows.upgrades.get(upgrade_id).upgrade.hospital_id != hospital_id
        ):
            raise WorkflowNotFound(f"没有升级 {text}")
        return upgrade_id

    # -- a ticket's remote access, level and visits -------------------------------------------

    def ticket_page(
        request: Request, viewer: Viewer, ticket: Ticket, error: str = "", status: int = 200
    ) -> Response:
        w = services.workflows
        now = services.clock()
        grants = w.remote.for_ticket(ticket.number)
        ctx = {
            **common(request),
            "t": ticket,
            "hospital": services.registry.get_hospital(ticket.hospital_id),
            "level": w.remote.level(ticket.number),
            "LEVEL_LABELS": LEVEL_LABELS,
            "levels": LEVEL_ORDER,
            "grants": [(g, is_live(g, now)) for g in grants],
            "visits": w.visits.for_ticket(ticket.number),
        }
        if error:
            ctx.update(flash=error, flash_kind="error")
        return console.render(request, viewer, "services_ticket.html", ctx, status)

    @router.get("/services/tickets/{number}")
    def ticket_view(request: Request, number: str) -> Response:
        viewer = console.signed_in(request)
        return ticket_page(request, viewer, ticket_for(request, viewer, number))

    @router.post("/services/tickets/{number}/{action}")
    async def ticket_action(request: Request, number: str, action: str) -> Response:
        viewer = console.signed_in(request)
        form = await console.form(request, viewer)
        ticket = await db.read(lambda: ticket_for(request, viewer, number))
        f = {k: str(v).strip()[:MAX_FIELD] for k, v in form.items()}
        act = engineer_step if viewer.is_engineer else hospital_step
        try:
            done = await act(ticket, viewer, f, action)
        except WorkflowNotFound:
            raise HTTPException(404) from None
        except (WorkflowError, TicketError) as exc:
            error = operations.explain(exc) if isinstance(exc, TicketError) else str(exc)
            return await db.read(lambda: ticket_page(request, viewer, ticket, error, 409))
        return RedirectResponse(f"/services/tickets/{ticket.number}?done={done}", status_code=303)

    async def engineer_step(ticket: Ticket, viewer: Viewer, f: dict[str, str], action: str) -> str:
        w, run = services.workflows, db.writing
        engineer = await db.read(lambda: engineer_of(viewer))
        number, by, record = ticket.number, engineer.id, console.actions.record
        if action == "remote":
            minutes = parse_number(f.get("minutes", ""))
            if minutes is None:
                raise WorkflowError("预计时长须为分钟数。")
            tool, purpose = f.get("tool", ""), f.get("purpose", "")

            def ask(request: str) -> ConsoleEvent:
                grant = w.remote.request(number, by, tool, purpose, minutes)
                return ConsoleEvent(request, Told.CONSENT_ASKED, number, by, target=grant.id or 0)

            await record(ask)
            return "requested"
        if action == "level":
            await run(w.remote.set_level, number, f.get("level", ""), engineer.id)
            return "level"
        if action == "visit":
            when, visitor = parse_local(f.get("at", ""), w.zone), f.get("engineer", "")

            def plan(request: str) -> ConsoleEvent:
                visit = w.visits.plan(number, visitor, when, by)
                return ConsoleEvent(request, Told.VISIT_PLANNED, number, by, target=visit.id or 0)

            await record(plan)
            return "planned"
        if action in ("arrive", "depart"):
            visit_id = parse_number(f.get("visit", "")) or 0
            if visit_id not in await db.read(lambda: {v.id for v in w.visits.for_ticket(number)}):
                raise HTTPException(404)
            if action == "arrive":
                await run(w.visits.arrive, visit_id, by)
                return "arrived"

            def depart(request: str) -> ConsoleEvent:
                w.visits.depart(visit_id, by)
                return ConsoleEvent(request, Told.VISIT_DEPARTED, number, by, target=visit_id)

            await record(depart)
            return "departed"
        raise HTTPException(404)

    async def hospital_step(ticket: Ticket, viewer: Viewer, f: dict[str, str], action: str) -> str:
        """The hospital's own link: revoke a grant, confirm a visit (as ``web:<link>``)."""
        w, run = services.workflows, db.writing
        target = parse_number(f.get("id", "")) or 0
        who = services.redact(f.get("name", "")[:40]) or "医院（网页）"
        user = viewer.chat_user_id
        number = ticket.number
        grants, visits = await db.read(
            lambda: (
                {g.id for g in w.remote.for_ticket(number)},
                {v.id for v in w.visits.for_ticket(number)},
            )
        )
        steps: dict[str, tuple[Callable[..., Any], set[int | None], str]] = {
            "revoke": (w.remote.revoke, grants, "revoked"),
            "confirm": (w.visits.confirm, visits, "confirmed"),
        }
        step, targets, done = steps.get(action, (None, set(), ""))
        if step is None or target not in targets:
            raise HTTPException(404)
        where = (target, ticket.hospital_id, operations.WEB_PLATFORM, user, who)
        await run(partial(step, hospital_link=True), *where)
        return done

    # -- phone calls ----------------------------------------------------------------------------

    def call_form(request: Request, viewer: Viewer, error: str = "", status: int = 200) -> Response:
        ctx: dict[str, Any] = {
            "hospitals": services.registry.list_hospitals(),
            "categories": CATEGORIES,
            "urgencies": URGENCIES,
        }
        if error:
            ctx.update(flash=error, flash_kind="error")
        return console.render(request, viewer, "services_call.html", ctx, status)

    @router.get("/services/calls/new")
    def call_new(request: Request) -> Response:
        return call_form(request, console.engineer(request))

    @router.post("/services/calls/new")
    async def call_create(request: Request) -> Response:
        viewer = console.engineer(request)
        form = await console.form(request, viewer)
        f = {k: str(v).strip() for k, v in form.items()}
        hospital = await db.read(lambda: services.registry.get_hospital(f.get("hospital", "")))
        if hospital is None:
            return await db.read(lambda: call_form(request, viewer, "请选择来电的医院。", 400))
        category, urgency = f.get("category", "consult"), f.get("urgency", "P3")
        if category not in CATEGORIES or urgency not in URGENCIES:
            return await db.read(lambda: call_form(request, viewer, "请选择分类和紧急程度。", 400))

        def register() -> Ticket:
            return register_call(
                services.ticket_flow,
                services.workflows.remote,
                services.redact,
                hospital,
                engineer_of(viewer),
                caller=f.get("caller", "")[:64],
                question=f.get("question", ""),
                now=services.clock(),
                category=category,
                urgency=urgency,
            )

        try:
            ticket = await db.write(register)
        except (WorkflowError, TicketError) as exc:
            error = str(exc)
            return await db.read(lambda: call_form(request, viewer, error, 400))
        services.desk.notify()
        return RedirectResponse(f"/tickets/{ticket.number}?done=created", status_code=303)

    return router
