"""The console's composition: one FastAPI app over the bot's services.

Security rules every route follows (and ``tests/web`` checks route by route):
- the viewer comes from the session cookie only (HttpOnly, SameSite=Lax, Secure over HTTPS);
- every state-changing request is a POST carrying the session's CSRF token (anonymous forms:
  a double-submit cookie), and a cross-site ``Origin`` is refused;
- authorisation happens on the server for every page and action: a hospital viewer asking for
  anything outside its hospital gets the same 404 as for something that does not exist;
- templates autoescape, Markdown is rendered with raw HTML disabled, and a strict
  Content-Security-Policy forbids inline scripts, so typed text can never run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.base import Sender
from bot import texts
from bot.inbox import Inbox
from bot.infra.config import Settings
from bot.kb.editing import LiveKnowledge
from bot.sla.clocks import SlaClocks
from bot.tickets.console_actions import ConsoleActions
from bot.tickets.services import Services
from bot.web.abuse import BodyLimit, client_address, proxy_networks
from bot.web.auth import ANONYMOUS, ConsoleStore, Viewer, same_token
from bot.web.login_limits import LoginLimiter
from bot.web.passwords import HashingPool
from bot.web.probes import ProbeAudit

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "hisbot_session"
ANON_CSRF_COOKIE = "hisbot_csrf"

#: Decides who may speak in a web chat: returns the sender, or raises HTTPException.
ChatAuthorizer = Callable[[Request, str, bool], Awaitable[Sender]]


class ChatApi(Protocol):
    """The web chat adapter's HTTP side (``adapters/web``), mounted under ``/playground``."""

    def router(self, authorize: ChatAuthorizer) -> APIRouter: ...


class LoginRequired(Exception):
    """Raised by pages that need a signed-in engineer; answered with a redirect to /login."""


@dataclass
class Console:
    """What every page needs: the bot's services, the console's own store, the settings."""

    services: Services
    store: ConsoleStore
    settings: Settings
    db: Engine
    #: Failed logins, counted in the database (shared by every worker).
    limiter: LoginLimiter
    #: Where an action that a chat must hear of stores its event (``actions``).
    inbox: Inbox
    #: The SLA clocks whose targets new tickets get (the reports and the SLA 目标 page); built
    #: over the console's database even with ``[sla] enabled = false``, since targets are still
    #: kept, set and reported on then.
    sla_clocks: SlaClocks
    #: Where argon2 runs: its own small pool, never the one the answer engine uses.
    hashing: HashingPool = field(default_factory=HashingPool)
    templates: Jinja2Templates = field(init=False)
    #: The playground's chat adapter (None: playground off).
    chat_api: ChatApi | None = None
    #: The running app's one KB writer (shared with its reload watch); None: the console's own.
    kb_writer: LiveKnowledge | None = None
    #: How a login waits out its growing delay (tests record instead of sleeping).
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep
    #: Hospital viewers asking for another hospital's things: counted in the database (shared
    #: by every worker), audited by milestone.
    probes: ProbeAudit = field(init=False)

    def __post_init__(self) -> None:
        self.trusted_proxies = proxy_networks(self.settings.web.trusted_proxies)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.probes = ProbeAudit(self.db, self.store, self.services.clock)
        env = self.templates.env
        env.globals.update(
            CATEGORY_LABELS=texts.CATEGORY_LABELS,
            STATUS_LABELS=texts.STATUS_LABELS,
            URGENCY_LABELS=texts.URGENCY_LABELS,
            EVENT_LABELS=texts.EVENT_LABELS,
            event_value=texts.event_value,
        )
        env.filters["local"] = self.local_time

    @cached_property
    def knowledge(self) -> LiveKnowledge:
        """The one writer of KB changes for the running engine: edits, retiring and restoring
        share its lock, so no rebuild is built from an index another one is replacing."""
        if self.kb_writer is not None:
            return self.kb_writer
        return LiveKnowledge(self.settings, self.services.db, self.services.engine)

    @cached_property
    def actions(self) -> ConsoleActions:
        """Ticket and service changes whose chat messages are sent from the inbox, keyed:
        the change and its event commit together, a crash before the send is replayed."""
        return ConsoleActions(self.services.db, self.services.tickets, self.inbox)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.reports.timezone)

    def local_time(self, value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored (aware UTC) time as the console shows it: in the reports' time zone."""
        if value is None:
            return "—"
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(self.zone).strftime(fmt)

    def render(
        self,
        request: Request,
        viewer: Viewer,
        template: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        ctx = {
            "viewer": viewer,
            "csrf": viewer.csrf_token or anon_csrf(request),
            "kb_public": self.settings.web.kb_access == "public",
            "playground": self.chat_api is not None,
            **(context or {}),
        }
        response = self.templates.TemplateResponse(request, template, ctx, status_code=status_code)
        if not viewer.signed_in and ANON_CSRF_COOKIE not in request.cookies:
            self.set_cookie(response, ANON_CSRF_COOKIE, ctx["csrf"], max_age=None)
        return response

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=self.settings.web.cookies_secure,
            path="/",
        )

    # -- who is asking ---------------------------------------------------------------------

    async def resolve_viewer(self, request: Request) -> None:
        """Look the session up once per request, off the loop (``ViewerFirst``): every
        ``viewer(request)`` after it is a lookup in the request's state."""
        token = request.cookies.get(SESSION_COOKIE, "")
        found = await self.services.db.read(lambda: self.store.viewer_for(token)) if token else None
        request.state.viewer = found or ANONYMOUS

    def viewer(self, request: Request) -> Viewer:
        cached = getattr(request.state, "viewer", None)
        if isinstance(cached, Viewer):
            return cached
        token = request.cookies.get(SESSION_COOKIE, "")
        viewer = (self.store.viewer_for(token) if token else None) or ANONYMOUS
        request.state.viewer = viewer
        return viewer

    def engineer(self, request: Request) -> Viewer:
        """The signed-in engineer; anonymous → login page, a hospital link → 404."""
        viewer = self.viewer(request)
        if viewer.is_engineer:
            return viewer
        if viewer.is_hospital:
            raise HTTPException(404)
        raise LoginRequired()

    def lead(self, request: Request) -> Viewer:
        """A signed-in lead (role ``lead``, as ``--as LEAD`` on the CLI); any other engineer
        or a hospital link gets 404, as for a page that does not exist."""
        viewer = self.engineer(request)
        if "lead" not in viewer.roles:
            raise HTTPException(404)
        return viewer

    def signed_in(self, request: Request) -> Viewer:
        """An engineer or a hospital link; anonymous → login page."""
        viewer = self.viewer(request)
        if not viewer.signed_in:
            raise LoginRequired()
        return viewer

    def kb_reader(self, request: Request) -> Viewer:
        viewer = self.viewer(request)
        if self.settings.web.kb_access == "login" and not viewer.signed_in:
            raise LoginRequired()
        return viewer

    async def form(self, request: Request, viewer: Viewer) -> FormData:
        """The POSTed form, after the CSRF and origin checks (403 when they fail)."""
        check_origin(request)
        form = await request.form()
        sent = str(form.get("csrf", ""))
        expected = (
            viewer.csrf_token if viewer.signed_in else request.cookies.get(ANON_CSRF_COOKIE, "")
        )
        if not same_token(sent, expected):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
        return form

    def check_csrf_header(self, request: Request, viewer: Viewer) -> None:
        """For JSON calls from our own scripts: the token travels in ``X-CSRF-Token``."""
        check_origin(request)
        if not same_token(request.headers.get("x-csrf-token", ""), viewer.csrf_token):
            raise HTTPException(403, "CSRF token missing or wrong")

    def client_ip(self, request: Request) -> str:
        """The client's address: ``X-Forwarded-For`` counts only from ``[web] trusted_proxies``."""
        peer = request.client.host if request.client else ""
        return client_address(
            peer, request.headers.get("x-forwarded-for", ""), self.trusted_proxies
        )

    def probed(self, request: Request, viewer: Viewer, what: str) -> None:
        """A hospital viewer asked for ``what`` of another hospital (answered with the usual
        404): audited by milestone, counted across workers (``bot.web.probes``). Writes: call
        it from a database thread (``db.write``), never on the loop."""
        self.probes.probed(viewer.audit_name, what, self.client_ip(request))


def form_fields(form: FormData) -> dict[str, str]:
    """A checked form's text fields, trimmed, without its CSRF token (to show them again)."""
    return {k: str(v).strip() for k, v in form.items() if k != "csrf" and isinstance(v, str)}


def anon_csrf(request: Request) -> str:
    """The anonymous double-submit token: the cookie's, or a new one (set by ``render``)."""
    token = request.cookies.get(ANON_CSRF_COOKIE)
    if not token:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


def check_origin(request: Request) -> None:
    """A browser names the page a POST came from; anything but our own host (including the
    opaque "null" of sandboxed frames) is refused."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, "cross-site request refused")


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths are followed after login (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


def with_security_headers(response: Response, static: bool = False) -> Response:
    """``response`` with the headers every console response carries (also used for the 500
    page, which Starlette renders outside the middleware stack)."""
    for name, value in _HEADERS:
        response.headers.setdefault(name, value)
    if not static:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class SecurityHeaders:
    """Adds the security headers to every response. A plain ASGI middleware, not Starlette's
    ``BaseHTTPMiddleware``: that one hides client disconnects from the endpoint, and the
    playground's long polls must end when the browser goes away."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS:
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


class ViewerFirst:
    """Resolves the request's viewer (a database read) on the gateway before any page or
    error handler runs, so none of them reads the session on the event loop."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith("/static/"):
            await self.console.resolve_viewer(Request(scope))
        await self.app(scope, receive, send)


def create_console(console: Console) -> FastAPI:
    """The ASGI app: auth pages, KB, tickets, reports, playground, static assets."""
    from bot.web import (
        account_pages,
        annual,
        attachment_pages,
        audit_pages,
        duty_pages,
        kb_erase,
        kb_pages,
        kb_retire,
        live,
        notice_pages,
        playground,
        problem_pages,
        report_pages,
        service_pages,
        sla_target_pages,
        ticket_pages,
    )

    app = FastAPI(title="hisbot console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    # inside SecurityHeaders: a 413 carries the headers too
    app.add_middleware(ViewerFirst, console=console)
    app.add_middleware(
        BodyLimit,
        session_cookie=SESSION_COOKIE,
        uploads=((attachment_pages.UPLOAD_PATH, attachment_pages.upload_limit(console)),),
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (
        account_pages,
        audit_pages,
        kb_pages,
        kb_retire,
        kb_erase,
        attachment_pages,  # before ticket_pages: /tickets/{number}/files
        ticket_pages,
        report_pages,
        annual,
        service_pages,
        problem_pages,
        duty_pages,
        sla_target_pages,
        notice_pages,
        playground,
        live,
    ):
        app.include_router(module.routes(console))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/playground/api/", "/static/")):
            return JSONResponse(
                {"error": exc.status_code, "detail": str(exc.detail)},
                status_code=exc.status_code,
            )
        viewer = console.viewer(request)
        message = {
            404: "页面不存在，或您无权查看。",
            403: "请求被拒绝（页面已过期或来源不符），请刷新页面后重试。",
            405: "不支持的请求方式。",
        }.get(exc.status_code, str(exc.detail))
        return console.render(
            request,
            viewer,
            "error.html",
            {"status": exc.status_code, "message": message},
            status_code=exc.status_code,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # the path only: query strings and forms may carry what hospital users typed
        log.exception("console error on %s %s", request.method, request.url.path)
        return with_security_headers(
            console.render(
                request,
                ANONYMOUS,
                "error.html",
                {"status": 500, "message": "服务器内部错误，已记录。请稍后重试。"},
                status_code=500,
            )
        )

    @app.get("/healthz", include_in_schema=False)
    async def _health() -> dict[str, object]:
        return {"ok": True, "kb_articles": len(console.services.engine.index)}

    return app
