"""Signing in and the console's security rules: passwords, sessions, CSRF, origins, links."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.web.models import WebAccount, WebAudit, WebSession
from tests.web.conftest import PASSWORD, WebEnv, csrf_of


def audit_actions(env: WebEnv) -> list[str]:
    with Session(env.app.db) as s:  # type: ignore[arg-type]
        return [a.action for a in s.exec(select(WebAudit).order_by(WebAudit.id)).all()]


async def test_passwords_are_stored_as_argon2_hashes(web: WebEnv) -> None:
    with Session(web.app.db) as s:  # type: ignore[arg-type]
        row = s.get(WebAccount, "e01")
    assert row is not None
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


async def test_login_sets_an_httponly_samesite_cookie_and_opens_the_tickets(web: WebEnv) -> None:
    token = await web.csrf(path="/login")
    r = await web.client.post(
        "/login", data={"username": "e01", "password": PASSWORD, "csrf": token}
    )
    assert r.status_code == 303 and r.headers["location"] == "/tickets"
    cookie = r.headers["set-cookie"]
    assert "hisbot_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http:// base_url in the tests
    page = await web.client.get("/tickets")
    assert page.status_code == 200 and "王工" in page.text
    # the session token is stored only as a digest
    with Session(web.app.db) as s:  # type: ignore[arg-type]
        hashes = [row.token_hash for row in s.exec(select(WebSession)).all()]
    raw = web.client.cookies["hisbot_session"]
    assert raw not in hashes and len(hashes) == 1
    assert audit_actions(web)[-1] == "login"


async def test_a_wrong_password_is_refused_and_audited(web: WebEnv) -> None:
    token = await web.csrf(path="/login")
    r = await web.client.post(
        "/login", data={"username": "e01", "password": "not-the-password", "csrf": token}
    )
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert "hisbot_session" not in web.client.cookies
    unknown = await web.client.post(
        "/login", data={"username": "nobody", "password": PASSWORD, "csrf": token}
    )
    assert unknown.status_code == 401
    assert audit_actions(web).count("login_failed") == 2
    assert (await web.client.get("/tickets")).status_code == 303


async def test_login_attempts_are_rate_limited_even_with_the_right_password(web: WebEnv) -> None:
    token = await web.csrf(path="/login")
    for _ in range(web.settings.web.login_max_failures):
        r = await web.client.post(
            "/login", data={"username": "e02", "password": "wrong-password", "csrf": token}
        )
        assert r.status_code == 401
    r = await web.client.post(
        "/login", data={"username": "e02", "password": PASSWORD, "csrf": token}
    )
    assert r.status_code == 429 and "次数过多" in r.text
    assert "login_blocked" in audit_actions(web)
    # another engineer on the same address is not locked out by e02's failures
    await web.login("e01", web.new_client())


async def test_login_without_the_csrf_token_is_refused(web: WebEnv) -> None:
    await web.client.get("/login")
    r = await web.client.post("/login", data={"username": "e01", "password": PASSWORD})
    assert r.status_code == 403
    r = await web.client.post(
        "/login", data={"username": "e01", "password": PASSWORD, "csrf": "forged"}
    )
    assert r.status_code == 403


async def test_a_cross_site_post_is_refused_even_with_a_token(web: WebEnv) -> None:
    await web.login()
    token = await web.csrf(path="/tickets/new")
    r = await web.client.post(
        "/tickets/new",
        data={"csrf": token, "hospital": "h001", "reporter": "x", "category": "usage",
              "urgency": "P3", "question": "q"},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip
    assert r.status_code == 403
    null = await web.client.post("/logout", data={"csrf": token}, headers={"Origin": "null"})
    assert null.status_code == 403


async def test_after_login_only_local_paths_are_followed(web: WebEnv) -> None:
    for evil in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        token = await web.csrf(web.new_client(), "/login")
        c = web.new_client()
        page = await c.get(f"/login?next={evil}")
        r = await c.post(
            "/login",
            data={
                "username": "e01",
                "password": PASSWORD,
                "csrf": csrf_of(page.text),
                "next": evil,
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/tickets", (evil, token)
    c = web.new_client()
    page = await c.get("/login?next=/tickets%3Fstatus%3Dnew")
    r = await c.post(
        "/login",
        data={"username": "e01", "password": PASSWORD, "csrf": csrf_of(page.text),
              "next": "/tickets?status=new"},
    )  # fmt: skip
    assert r.headers["location"] == "/tickets?status=new"


async def test_anonymous_pages_redirect_to_login_with_the_way_back(web: WebEnv) -> None:
    for path in ("/tickets", "/tickets/new", "/tickets/2026-000001", "/reports", "/playground"):
        r = await web.client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=%2F"), path


async def test_logout_ends_the_session_on_the_server(web: WebEnv) -> None:
    await web.login()
    stolen = web.client.cookies["hisbot_session"]
    r = await web.post_form(web.client, "/logout", {}, page="/tickets")
    assert r.status_code == 303
    thief = web.new_client()
    thief.cookies.set("hisbot_session", stolen)
    assert (await thief.get("/tickets")).status_code == 303  # the old cookie opens nothing


async def test_disabling_an_account_ends_its_sessions(web: WebEnv) -> None:
    await web.login("e02")
    assert (await web.client.get("/tickets")).status_code == 200
    web.store.disable_account("e02")
    assert (await web.client.get("/tickets")).status_code == 303
    token = await web.csrf(path="/login")
    r = await web.client.post(
        "/login", data={"username": "e02", "password": PASSWORD, "csrf": token}
    )
    assert r.status_code == 401


async def test_a_hospital_link_opens_a_session_and_leaves_the_url(web: WebEnv) -> None:
    link = web.store.create_link("h001", label="信息科")
    c = web.new_client()
    r = await c.get(f"/h/{link.token}")
    assert r.status_code == 303 and r.headers["location"] == "/tickets"
    assert r.headers["referrer-policy"] == "no-referrer"
    page = await c.get("/tickets")
    assert page.status_code == 200 and "第一人民医院" in page.text
    # engineer-only pages are not there for a hospital
    assert (await c.get("/reports")).status_code == 404


async def test_a_wrong_or_revoked_link_opens_nothing(web: WebEnv) -> None:
    c = web.new_client()
    r = await c.get("/h/not-a-token")
    assert r.status_code == 404 and "无效" in r.text
    link = web.store.create_link("h002")
    assert (await c.get(f"/h/{link.token}")).status_code == 303
    assert (await c.get("/tickets")).status_code == 200
    assert link.link.id is not None
    web.store.revoke_link(link.link.id)
    assert (await c.get("/tickets")).status_code == 303  # its session ended with it
    assert (await web.new_client().get(f"/h/{link.token}")).status_code == 404


async def test_every_page_carries_the_security_headers(web: WebEnv) -> None:
    for path in ("/login", "/kb", "/no-such-page"):
        r = await web.client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


async def test_an_unknown_page_is_a_404_page_not_a_crash(web: WebEnv) -> None:
    r = await web.client.get("/no-such-page")
    assert r.status_code == 404 and "页面不存在" in r.text


async def test_an_engineer_changes_their_password_and_signs_in_again(web: WebEnv) -> None:
    c = await web.login("e02")
    other = await web.login("e02", web.new_client())  # a second browser of the same engineer
    wrong = await web.post_form(
        c, "/account/password", {"current": "nope-nope-nope", "new": "x" * 12, "again": "x" * 12}
    )
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.text
    short = await web.post_form(
        c, "/account/password", {"current": PASSWORD, "new": "short", "again": "short"}
    )
    assert short.status_code == 400 and "至少 10 个字符" in short.text
    r = await web.post_form(
        c,
        "/account/password",
        {"current": PASSWORD, "new": "a-brand-new-secret", "again": "a-brand-new-secret"},
    )
    assert r.status_code == 303
    assert (await other.get("/tickets")).status_code == 303  # every session ended
    assert web.store.check_password("e02", "a-brand-new-secret")
    assert not web.store.check_password("e02", PASSWORD)


async def test_the_audit_page_is_for_leads_only(web: WebEnv) -> None:
    lead = await web.login("e01")
    r = await lead.get("/audit")
    assert r.status_code == 200 and "工程师 e01" in r.text and "<td>登录</td>" in r.text
    plain = await web.login("e02", web.new_client())
    assert (await plain.get("/audit")).status_code == 404
    hospital = await web.as_hospital("h001")
    assert (await hospital.get("/audit")).status_code == 404
