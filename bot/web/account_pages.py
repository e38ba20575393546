"""Signing in and out: engineers' login form, hospital access links, the home redirect."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.web.abuse import milestone
from bot.web.app import SESSION_COOKIE, Console, safe_next
from bot.web.auth import AuthError
from bot.web.models import HospitalLink
from bot.web.passwords import HashingBusy

BUSY = "登录请求太多，请几秒后再试。"
#: Seconds a login waits before being told the hashing pool is full: answering at once would
#: let a flooding client loop as fast as the console can parse requests (tarpit).
BUSY_PAUSE = 1.0


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    web = console.settings.web
    db = console.services.db
    lifetime = dt.timedelta(hours=web.session_hours)

    async def checked_password(username: str, password: str, delay: float) -> bool | None:
        """Whether the password is right, after this name's and address's growing ``delay``;
        None when the hashing pool is full (argon2 runs there, never in the pool the chats'
        answer engine uses)."""
        await console.pause(delay)
        if not username:
            return False
        try:
            return await console.hashing.run(console.store.check_password, username, password)
        except HashingBusy:
            await console.pause(BUSY_PAUSE)
            return None

    @router.get("/")
    async def home(request: Request) -> Response:
        viewer = console.viewer(request)
        return RedirectResponse("/tickets" if viewer.signed_in else "/kb", status_code=303)

    @router.get("/login")
    async def login_page(request: Request, next: str = "/") -> Response:
        return console.render(
            request, console.viewer(request), "login.html", {"next": safe_next(next), "error": ""}
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        viewer = console.viewer(request)
        form = await console.form(request, viewer)
        username = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))
        target = safe_next(str(form.get("next", "/")))
        ip = console.client_ip(request)
        context = {"next": target, "username": username}
        limits = await console.limiter.check(username, ip)
        if limits.blocked:
            refused = await console.limiter.refused(username, ip)
            if milestone(refused):  # the 1st, 10th, 100th … refusal, not one row per refusal
                detail = "" if refused == 1 else f"{refused} refused attempts in the window"
                await db.write(
                    lambda: console.store.audit(
                        "anonymous", "login_blocked", username, detail, ip=ip
                    )
                )
            minutes = web.login_window_minutes
            return console.render(
                request,
                viewer,
                "login.html",
                {**context, "error": f"登录失败次数过多，请 {minutes} 分钟后再试。"},
                status_code=429,
            )
        ok = await checked_password(username, password, limits.delay)
        if ok is None:
            return console.render(
                request,
                viewer,
                "login.html",
                {**context, "error": BUSY},
                status_code=503,
            )
        if not ok:
            await console.limiter.failed(
                username,
                ip,
                also=lambda: console.store.audit("anonymous", "login_failed", username, ip=ip),
            )
            return console.render(
                request,
                viewer,
                "login.html",
                {**context, "error": "用户名或密码错误。"},
                status_code=401,
            )
        await console.limiter.succeeded(username, ip)

        def sign_in() -> str:
            token = console.store.start_session(lifetime=lifetime, engineer_id=username)
            console.store.audit(f"engineer:{username}", "login", username, ip=ip)
            return token

        token = await db.write(sign_in)
        response = RedirectResponse(target if target != "/" else "/tickets", status_code=303)
        console.set_cookie(response, SESSION_COOKIE, token, int(lifetime.total_seconds()))
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        viewer = console.viewer(request)
        await console.form(request, viewer)
        if viewer.signed_in:
            ip = console.client_ip(request)

            def sign_out() -> None:
                console.store.end_session(viewer.session_hash)
                console.store.audit(viewer.audit_name, "logout", ip=ip)

            await db.write(sign_out)
        response = RedirectResponse("/kb", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/account/password")
    async def password_page(request: Request) -> Response:
        viewer = console.engineer(request)
        return console.render(request, viewer, "password.html", {"error": "", "done": False})

    @router.post("/account/password")
    async def change_password(request: Request) -> Response:
        """An engineer changes their own password (the current one is asked again: a session
        left open on a ward PC must not be enough to take the account over)."""
        viewer = console.engineer(request)
        form = await console.form(request, viewer)
        current = str(form.get("current", ""))
        new, again = str(form.get("new", "")), str(form.get("again", ""))
        engineer_id = viewer.engineer_id or ""
        ip = console.client_ip(request)
        error = ""
        limits = await console.limiter.check(engineer_id, ip)
        if limits.blocked:
            error = "尝试次数过多，请稍后再试。"
        elif (ok := await checked_password(engineer_id, current, limits.delay)) is None:
            error = BUSY
        elif not ok:
            await console.limiter.failed(engineer_id, ip)
            error = "当前密码不正确。"
        elif new != again:
            error = "两次输入的新密码不一致。"
        else:
            try:
                await console.hashing.run(
                    console.store.set_password, engineer_id, new, viewer.audit_name
                )
            except AuthError as exc:
                error = str(exc)
            except HashingBusy:
                error = BUSY
        if error:
            return console.render(
                request, viewer, "password.html", {"error": error, "done": False}, status_code=400
            )
        # every session of the account ended with the change: sign in again with the new one
        response = RedirectResponse("/login?next=/tickets", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def refused_link(request: Request) -> Response:
        ip = console.client_ip(request)
        await db.write(lambda: console.store.audit("anonymous", "link_refused", ip=ip))
        return console.render(
            request,
            console.viewer(request),
            "error.html",
            {"status": 404, "message": "访问链接无效或已被撤销，请联系您的服务工程师。"},
            status_code=404,
        )

    async def open_link(request: Request, link: HospitalLink, end: str = "") -> Response:
        """Swap the link for a session (ending the browser's session ``end`` first)."""
        ip = console.client_ip(request)

        def swap() -> str:
            if end:
                console.store.end_session(end)
            session = console.store.start_session(lifetime=lifetime, link=link)
            console.store.audit(f"hospital:{link.hospital_id}#{link.id}", "link_opened", ip=ip)
            return session

        session = await db.write(swap)
        response = RedirectResponse("/tickets", status_code=303)
        response.headers["Referrer-Policy"] = "no-referrer"
        console.set_cookie(response, SESSION_COOKIE, session, int(lifetime.total_seconds()))
        return response

    @router.get("/h/{token}")
    async def hospital_link(request: Request, token: str) -> Response:
        """A hospital's access link: swapped for a session cookie, then out of the URL. A
        browser already signed in is asked first (a POST with its CSRF token): a page
        elsewhere could otherwise swap an engineer's session for a hospital's (login CSRF)."""
        link = await db.read(lambda: console.store.link_for_token(token))
        if link is None:
            return await refused_link(request)
        viewer = console.viewer(request)
        if not viewer.signed_in:
            return await open_link(request, link)
        hospital = await db.read(lambda: console.services.registry.get_hospital(link.hospital_id))
        response = console.render(
            request,
            viewer,
            "link_confirm.html",
            {
                "token": token,
                "hospital_name": hospital.name if hospital else link.hospital_id,
                "link_label": link.label,
            },
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @router.post("/h/{token}")
    async def hospital_link_confirmed(request: Request, token: str) -> Response:
        viewer = console.viewer(request)
        await console.form(request, viewer)
        link = await db.read(lambda: console.store.link_for_token(token))
        if link is None:
            return await refused_link(request)
        return await open_link(request, link, viewer.session_hash if viewer.signed_in else "")

    return router
