"""The ticket registration platform: list, search, register, follow and work tickets.

Engineers see every ticket and act on it with the operations the chat desk uses
(``TicketFlow``, ``bot/tickets/flow.py``), so the rules and the audit trail are the same wherever the work is
done. A change a chat must hear of (接单, 解决, 重新打开, a reply; a hospital's follow-up or
重新打开) is written with its inbox event in one transaction (``console.actions``): the page
shows it at once, and the chat message is sent from the inbox, keyed, replayed after a crash.
A hospital link sees its own hospital's tickets only — any other number is a 404, the
same answer as for a number that does not exist — and never the internal notes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.infra.clock import as_utc
from bot.kb.loop import label_flow
from bot.kb.loop.labels import LabelRefused
from bot.kb.loop.models import Verdict
from bot.registry.models import Engineer, Hospital
from bot.tickets import incidents, operations
from bot.tickets.attachments import AttachmentRefused
from bot.tickets.models import URGENCIES, EventKind, Status, Ticket
from bot.tickets.search import TicketQuery, find_tickets
from bot.tickets.store import (
    Actor,
    TicketError,
    TicketNotFound,
)
from bot.web import sla_view
from bot.web.app import Console
from bot.web.attachment_pages import attachment_store, attachments_of, form_upload
from bot.web.auth import Viewer
from bot.web.names import side_badge
from kb_index.articles import CATEGORIES

MAX_TEXT = 4000
#: Bounds of the filters a list accepts (beyond them: 400, never a database overflow).
MAX_PAGE = 100_000
FIRST_YEAR, LAST_YEAR = 1970, 2999

#: Fixed confirmations shown after an action (no user text is ever reflected from the URL).
DONE = {
    "created": "问题已登记，工程师会尽快受理。",
    "claimed": "已接单。",
    "resolved": "已解决，已通知医院。",
    "reopened": "工单已重新打开。",
    "noted": "已记录内部备注（医院不可见）。",
    "replied": "已发送给医院。",
    "assigned": "已指派。",
    "classified": "分类与紧急程度已更新。",
    "closed": "工单已关闭，感谢确认。",
    "sent": "已发送，工程师会看到您的补充。",
    "labelled": "已记录解答文章（用于评估和改进知识库）。",
    "attached": "附件已上传。",
}

#: Audit events a hospital never sees: internal notes and the desk's bookkeeping.
_INTERNAL = {EventKind.NOTE, EventKind.CARD_POSTED}


def _local_date(console: Console, value: str, field: str) -> dt.datetime | None:
    """A YYYY-MM-DD local date from a filter → aware UTC midnight of that local day."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{field}: 日期格式应为 YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise HTTPException(400, f"{field}: 年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间")
    return as_utc(dt.datetime.combine(day, dt.time(), tzinfo=console.zone))


def _page(value: str) -> int:
    """The list page asked for: 1 when absent, 400 when not a number in 1..MAX_PAGE."""
    if not value:
        return 1
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PAGE):
        raise HTTPException(400, f"页码应为 1–{MAX_PAGE} 之间的数字")
    return int(value)


def _choice(value: str, allowed: tuple[str, ...] | list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(400, f"{field}: 未知取值")
    return value


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    services = console.services
    db = services.db

    def hospitals() -> dict[str, Hospital]:
        return {h.id: h for h in services.registry.list_hospitals()}

    def engineers() -> dict[str, Engineer]:
        return {e.id: e for e in services.registry.list_engineers()}

    def ticket_for(request: Request, viewer: Viewer, number: str) -> Ticket:
        """The ticket the viewer may see, else 404 (unknown and foreign look the same to the
        viewer; a hospital asking for another hospital's ticket is audited)."""
        try:
            return services.tickets.get(
                number, hospital_id=None if viewer.is_engineer else viewer.hospital_id
            )
        except TicketError:
            if viewer.is_hospital and exists(number):
                console.probed(request, viewer, f"ticket {number}")
            raise HTTPException(404) from None

    def exists(number: str) -> bool:
        try:
            services.tickets.get(number)
        except TicketError:
            return False
        return True

    # -- the list ------------------------------------------------------------------------------

    # Read-only pages are plain functions: FastAPI runs them in its thread pool, so a heavy
    # list or search never holds up the chat adapters on the event loop.
    @router.get("/tickets")
    def ticket_list(request: Request) -> Response:
        viewer = console.signed_in(request)
        p = request.query_params
        statuses = ["open", *Status]
        query = TicketQuery(
            hospital_id=viewer.hospital_id if viewer.is_hospital else (p.get("hospital") or None),
            status=_choice(p.get("status", ""), statuses, "状态"),
            urgency=_choice(p.get("urgency", ""), URGENCIES, "紧急程度"),
            category=_choice(p.get("category", ""), CATEGORIES, "分类"),
            engineer_id=(p.get("engineer") or None) if viewer.is_engineer else None,
            opened_from=_local_date(console, p.get("from", ""), "开始日期"),
            opened_before=(
                d + dt.timedelta(days=1)
                if (d := _local_date(console, p.get("to", ""), "结束日期"))
                else None
            ),
            text=p.get("q", "")[:200],
            page=_page(p.get("page", "")),
        )
        result = find_tickets(console.db, query)
        pinned = sla_view.pinned_p1(console.db, query) if viewer.is_engineer else []
        pinned_numbers = {t.number for t in pinned}
        rows = pinned + [t for t in result.tickets if t.number not in pinned_numbers]
        keep = {k: v for k, v in p.items() if k != "page" and v}
        return console.render(
            request,
            viewer,
            "tickets.html",
            {
                "result": result,
                "rows": rows,
                "pinned": pinned_numbers,
                "sla": sla_view.cells(services.sla, rows, services.clock())
                if viewer.is_engineer
                else {},
                "filters": keep,
                "hospitals": hospitals(),
                "engineers": engineers(),
                "statuses": statuses,
                "urgencies": URGENCIES,
                "categories": CATEGORIES,
            },
        )

    # -- registering ---------------------------------------------------------------------------

    def new_form(request: Request, viewer: Viewer, **extra: Any) -> Response:
        status = int(extra.pop("status_code", 200))
        return console.render(
            request,
            viewer,
            "ticket_new.html",
            {
                "hospitals": hospitals(),
                "categories": CATEGORIES,
                "urgencies": URGENCIES,
                "attachment_max_kb": console.settings.web.attachment_max_kb,
                "form": {},
                "errors": {},
                **extra,
            },
            status_code=status,
        )

    @router.get("/tickets/new")
    def ticket_new(request: Request) -> Response:
        return new_form(request, console.signed_in(request))

    @router.post("/tickets/new")
    async def ticket_create(request: Request) -> Response:
        viewer = console.signed_in(request)
        form = await console.form(request, viewer)
        values = {
            k: str(form.get(k, "")).strip()
            for k in ("hospital", "reporter", "category", "urgency", "question")
        }
        if viewer.is_hospital:
            values["hospital"] = viewer.hospital_id or ""
        errors: dict[str, str] = {}
        chosen = values["hospital"]
        hospital = await db.read(lambda: services.registry.get_hospital(chosen)) if chosen else None
        if hospital is None:
            errors["hospital"] = "请选择医院。"
        if not values["reporter"]:
            errors["reporter"] = "请填写报告人（姓名或科室）。"
        elif len(values["reporter"]) > 40:
            errors["reporter"] = "报告人不超过 40 个字。"
        if values["category"] not in CATEGORIES:
            errors["category"] = "请选择问题分类。"
        if values["urgency"] not in URGENCIES:
            errors["urgency"] = "请选择紧急程度。"
        if not values["question"]:
            errors["question"] = "请描述问题。"
        elif len(values["question"]) > MAX_TEXT:
            errors["question"] = f"问题描述不超过 {MAX_TEXT} 个字。"
        max_bytes = console.settings.web.attachment_max_kb * 1024
        try:
            upload = await form_upload(form, max_bytes)
        except AttachmentRefused as exc:
            upload, errors["file"] = None, f"{exc}（请重新选择文件）"
        if errors or hospital is None:
            return await db.read(
                lambda: new_form(request, viewer, form=values, errors=errors, status_code=400)
            )
        ticket = await db.write(
            lambda: services.ticket_flow.register_web_ticket(
                hospital,
                reporter_id=viewer.chat_user_id,
                reporter_name=services.redact(values["reporter"]),
                question=values["question"],
                category=values["category"],
                urgency=values["urgency"],
                now=services.clock(),
            )
        )
        if upload is not None:  # checked above: a refused file registered no ticket
            store, by = attachment_store(console), viewer.audit_name
            await db.write(lambda: store.add_upload(ticket.number, upload, max_bytes, by))
        if services.sla is not None:  # clocks start; a P1 pages on-call and lead at once
            await services.sla.ticket_opened(ticket, hospital)
        return RedirectResponse(f"/tickets/{ticket.number}?done=created", status_code=303)

    # -- one ticket ----------------------------------------------------------------------------

    def detail(
        request: Request, viewer: Viewer, ticket: Ticket, error: str = "", status_code: int = 200
    ) -> Response:
        events = services.tickets.events(ticket.number)
        if not viewer.is_engineer:
            events = [e for e in events if e.kind not in _INTERNAL]
        done = request.query_params.get("done", "")
        hospital = services.registry.get_hospital(ticket.hospital_id)
        links = {link.id: link for link in console.store.links(ticket.hospital_id) if link.id}
        hospital_name = hospital.name if hospital else ticket.hospital_id

        def side(user_id: str | None) -> str:
            return side_badge(user_id, hospital_name, links)

        return console.render(
            request,
            viewer,
            "ticket.html",
            {
                "t": ticket,
                "hospital": hospital,
                "side": side,
                # the opening thread's messages carry no author id: they are the reporter's
                "reporter_id": f"{ticket.reporter_platform}:{ticket.reporter_user_id}",
                "engineers": engineers(),
                "events": events,
                "messages": services.tickets.messages(ticket.number),
                # who else reported it (an outage's P1, 「我们这边也是」): as the desk card lists them
                "others": incidents.reporters(services.db.engine, ticket.id or 0),
                "articles": services.tickets.articles(ticket.number),
                "attachments": attachments_of(console, ticket),
                "attachment_max_kb": console.settings.web.attachment_max_kb,
                "clocks": sla_view.ticket_clocks(services.sla, ticket.number, services.clock())
                if viewer.is_engineer
                else [],
                "flash": error or DONE.get(done, ""),
                "flash_kind": "error" if error else "ok",
                "can_lead": "lead" in viewer.roles,
                "categories": CATEGORIES,
                "urgencies": URGENCIES,
                **label_context(viewer, ticket),
            },
            status_code=status_code,
        )

    def label_context(viewer: Viewer, ticket: Ticket) -> dict[str, Any]:
        """The one-tap label of the KB loop, as on the desk: which article answers it
        (reads the database and ranks: called through ``db``)."""
        if not viewer.is_engineer or services.labels is None:
            return {"label_choices": None}
        label = services.labels.get(ticket.number)
        text = ""
        if label is not None:
            text = {"none": label_flow.NONE_LABEL, "new": label_flow.NEW_LABEL}.get(
                label.verdict, label.article_id or ""
            )
        return {
            "label_choices": label_flow.candidate_articles(
                services.tickets, services.engine, services.article, ticket
            ),
            "label": label,
            "label_text": text,
        }

    @router.get("/tickets/{number}")
    def ticket_page(request: Request, number: str) -> Response:
        viewer = console.signed_in(request)
        return detail(request, viewer, ticket_for(request, viewer, number))

    async def engineer_action(
        ticket: Ticket, viewer: Viewer, form: dict[str, str], name: str
    ) -> str:
        engineer = await db.read(lambda: services.registry.get_engineer(viewer.engineer_id or ""))
        if engineer is None:
            raise HTTPException(404)
        text = form.get("text", "").strip()[:MAX_TEXT]
        number, actions = ticket.number, console.actions
        told = services.redact(text)  # what the chats hear is stored, as chat text is: masked
        if name == "claim":
            await actions.claim(number, engineer)
            return "claimed"
        if name == "resolve":
            await actions.resolve(number, engineer, told)
            return "resolved"
        if name == "reopen":
            await actions.reopen(number, engineer, told)
            return "reopened"
        if name == "note":
            await services.ticket_flow.note(number, engineer, text)
            return "noted"
        if name == "reply":
            if not text:
                raise _Refused("请填写要发送给医院的内容。")
            await actions.reply(number, engineer, told)
            return "replied"
        if name == "classify":
            await services.ticket_flow.classify(
                number, engineer, form.get("category", ""), form.get("urgency", "")
            )
            return "classified"
        if name == "label":
            return await record_label(number, engineer.id, form.get("verdict", ""))
        if name == "assign":
            chosen = form.get("engineer", "")
            target = await db.read(lambda: services.registry.get_engineer(chosen))
            if target is None:
                raise _Refused("请选择工程师。")
            await services.ticket_flow.assign(number, target, engineer)
            return "assigned"
        raise HTTPException(404)

    async def record_label(number: str, engineer_id: str, choice: str) -> str:
        """``verdict`` is ``article:<id>``, ``none`` or ``new`` (the form's radio buttons)."""
        labels = services.labels
        if labels is None:
            raise HTTPException(404)
        kind, _, article_id = choice.partition(":")
        if kind not in ("article", "none", "new"):
            raise _Refused("请选择解答的文章，或「无需文章」「需要新文章」。")
        if kind == "article" and await db.read(lambda: services.article(article_id)) is None:
            raise _Refused("知识库里没有这篇文章。")
        verdict = Verdict(kind)
        try:
            await db.write(lambda: labels.record(number, verdict, article_id or None, engineer_id))
        except LabelRefused:
            raise _Refused("工单解决后才能记录解答文章。") from None
        return "labelled"

    async def hospital_action(
        ticket: Ticket, viewer: Viewer, form: dict[str, str], name: str
    ) -> str:
        hospital = await db.read(lambda: services.registry.get_hospital(ticket.hospital_id))
        if hospital is None:
            raise HTTPException(404)
        who = services.redact(form.get("name", "").strip()[:40]) or "医院用户"
        actor = Actor.hospital_user(hospital.id, operations.WEB_PLATFORM, viewer.chat_user_id, who)
        text = services.redact(form.get("text", "").strip()[:MAX_TEXT])
        if name == "message":
            if not text:
                raise _Refused("请填写补充内容。")
            await console.actions.follow_up(ticket.number, actor, who, text)
            return "sent"
        if name == "reopen":
            await console.actions.hospital_reopen(ticket.number, actor, who, text)
            return "reopened"
        if name == "close":
            await services.ticket_flow.hospital_close(ticket, actor)
            return "closed"
        raise HTTPException(404)

    @router.post("/tickets/{number}/{action}")
    async def ticket_action(request: Request, number: str, action: str) -> Response:
        viewer = console.signed_in(request)
        form_data = await console.form(request, viewer)
        ticket = await db.write(lambda: ticket_for(request, viewer, number))  # may audit a probe
        form = {k: str(v) for k, v in form_data.items() if k != "csrf"}
        try:
            if viewer.is_engineer:
                done = await engineer_action(ticket, viewer, form, action)
            else:
                done = await hospital_action(ticket, viewer, form, action)
        except _Refused as exc:
            why = str(exc)
            return await db.read(lambda: detail(request, viewer, ticket, why, 400))
        except TicketNotFound:
            raise HTTPException(404) from None
        except TicketError as exc:
            why = operations.explain(exc)
            return await db.read(
                lambda: detail(request, viewer, services.tickets.get(ticket.number), why, 409)
            )
        return RedirectResponse(f"/tickets/{ticket.number}?done={done}", status_code=303)

    return router


class _Refused(Exception):
    """A form that cannot be acted on as sent (the message says what to fix)."""
