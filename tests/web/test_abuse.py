"""The console under abuse: spoofed addresses, login floods and lockouts, huge bodies, login
CSRF through access links, weak passwords, out-of-range parameters, cross-hospital probing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from bot.web.abuse import client_address, milestone, proxy_networks
from bot.web.app import Console
from bot.web.models import WebAudit
from bot.web.passwords import HashingBusy, HashingPool, password_problem
from tests.web.conftest import PASSWORD, WebEnv, csrf_of


def audit_rows(env: WebEnv, action: str) -> list[WebAudit]:
    with Session(env.app.db) as s:  # type: ignore[arg-type]
        stmt = select(WebAudit).where(WebAudit.action == action).order_by(WebAudit.id)
        return list(s.exec(stmt).all())


async def try_login(
    env: WebEnv, client: httpx.AsyncClient, user: str, password: str, **headers: str
) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf_of(page.text)},
        headers=headers,
    )


@pytest.fixture
def pauses(web: WebEnv) -> list[float]:
    """The growing delays logins waited, recorded instead of slept."""
    waited: list[float] = []

    async def pause(seconds: float) -> None:
        waited.append(seconds)

    web.console.pause = pause
    return waited


# -- item 6: X-Forwarded-For only from trusted proxies ----------------------------------------


def test_forwarded_for_is_read_only_from_trusted_proxies() -> None:
    proxies = proxy_networks(["10.0.0.0/8", "::1"])
    assert client_address("203.0.113.9", "6.6.6.6", proxies) == "203.0.113.9"
    assert client_address("10.1.2.3", "6.6.6.6", proxies) == "6.6.6.6"
    # the client wrote the left part itself; the first untrusted hop from the right counts
    assert client_address("10.1.2.3", "1.1.1.1, 6.6.6.6, 10.9.9.9", proxies) == "6.6.6.6"
    assert client_address("10.1.2.3", "not-an-ip", proxies) == "10.1.2.3"
    assert client_address("10.1.2.3", "6.6.6.6", ()) == "10.1.2.3"
    with pytest.raises(ValueError, match="trusted_proxies"):
        proxy_networks(["10.0.0.300"])


async def test_a_spoofed_forwarded_for_neither_moves_the_audit_nor_escapes_the_limit(
    web: WebEnv,
) -> None:
    c = web.client_from("198.51.100.7")
    for n in range(web.settings.web.login_max_failures):
        r = await try_login(web, c, "e02", "wrong-password", **{"X-Forwarded-For": f"6.6.6.{n}"})
        assert r.status_code == 401
    r = await try_login(web, c, "e02", PASSWORD, **{"X-Forwarded-For": "7.7.7.7"})
    assert r.status_code == 429  # a new made-up address is still the same client
    assert {row.ip for row in audit_rows(web, "login_failed")} == {"198.51.100.7"}


async def test_the_served_console_does_not_let_uvicorn_believe_forwarded_for(
    web: WebEnv,
) -> None:
    server, url = await web.app.serve_console(port=0)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            r = await try_login(web, c, "e02", "wrong-password", **{"X-Forwarded-For": "6.6.6.6"})
            assert r.status_code == 401
    finally:
        await web.app.stop_console(server)
    assert audit_rows(web, "login_failed")[-1].ip == "127.0.0.1"


@pytest.fixture
def extra_config(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", ""))


@pytest.mark.parametrize("extra_config", ['[web]\ntrusted_proxies = ["10.0.0.1"]\n'], indirect=True)
async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(web: WebEnv) -> None:
    proxy = web.client_from("10.0.0.1")
    r = await try_login(web, proxy, "e02", "wrong-password", **{"X-Forwarded-For": "6.6.6.6"})
    assert r.status_code == 401
    assert audit_rows(web, "login_failed")[-1].ip == "6.6.6.6"
    # another client behind the same proxy is not blocked by 6.6.6.6's failures
    for _ in range(web.settings.web.login_max_failures):
        await try_login(web, proxy, "e02", "wrong-password", **{"X-Forwarded-For": "6.6.6.6"})
    r = await try_login(web, proxy, "e02", PASSWORD, **{"X-Forwarded-For": "192.0.2.44"})
    assert r.status_code == 303


# -- item 7: argon2 in its own bounded pool ---------------------------------------------------


async def test_password_checks_run_in_their_own_pool(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = web.store.check_password

    def recording(engineer_id: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return real(engineer_id, password)

    monkeypatch.setattr(web.console.store, "check_password", recording)
    await web.login("e01")
    assert threads and all(name.startswith("argon2") for name in threads)


async def test_a_full_hashing_pool_answers_busy_instead_of_queueing() -> None:
    pool = HashingPool(workers=1, max_waiting=1)
    release = threading.Event()
    first = asyncio.ensure_future(pool.run(release.wait, 30))
    second = asyncio.ensure_future(pool.run(release.wait, 30))
    await asyncio.sleep(0)
    with pytest.raises(HashingBusy):
        await pool.run(release.wait, 30)
    release.set()
    assert await first and await second
    assert await pool.run(lambda: 42) == 42
    pool.shutdown()


async def test_a_login_when_the_pool_is_full_is_a_503(web: WebEnv, pauses: list[float]) -> None:
    pool = HashingPool(workers=1, max_waiting=0)
    release = threading.Event()
    held = asyncio.ensure_future(pool.run(release.wait, 30))
    await asyncio.sleep(0)
    web.console.hashing = pool
    try:
        r = await try_login(web, web.new_client(), "e01", PASSWORD)
        assert r.status_code == 503 and "请几秒后再试" in r.text
        assert pauses[-1] == 1.0  # answered after a pause: a flooding client cannot spin
    finally:
        release.set()
        await held
    assert (await try_login(web, web.new_client(), "e01", PASSWORD)).status_code == 303


# -- item 9: a lockout an attacker cannot aim -------------------------------------------------


async def test_failures_elsewhere_never_block_a_correct_password_from_a_clean_address(
    web: WebEnv, pauses: list[float]
) -> None:
    attacker = web.client_from("203.0.113.66")
    for _ in range(web.settings.web.login_max_failures * 3):
        await try_login(web, attacker, "e01", "guess-guess-guess")
    assert (await try_login(web, attacker, "e01", PASSWORD)).status_code == 429
    engineer = web.client_from("198.51.100.20")
    assert (await try_login(web, engineer, "e01", PASSWORD)).status_code == 303


async def test_a_lockout_and_the_delays_hold_on_every_worker(
    web: WebEnv, pauses: list[float]
) -> None:
    """A second console on the same database (another worker behind the load balancer, with
    its own limiter) refuses a pair the first locked, and counts on where the first stopped."""
    second = web.app.console()
    other_console = cast(Console, second.state.console)
    other_console.pause = web.console.pause  # recorded, not slept
    limit = web.settings.web.login_max_failures

    def from_worker(app: FastAPI, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url=str(web.client.base_url))

    attacker = web.client_from("203.0.113.66")
    for _ in range(limit):
        await try_login(web, attacker, "e01", "guess-guess-guess")
    elsewhere = from_worker(second, "203.0.113.66")
    assert (await try_login(web, elsewhere, "e01", PASSWORD)).status_code == 429
    assert len(audit_rows(web, "login_blocked")) == 1  # the 1st refusal, on either worker
    # the user name's failures count on the second worker too: its next attempt waits
    assert (
        await try_login(web, from_worker(second, "198.51.100.9"), "e01", "x" * 12)
    ).status_code == 401
    assert pauses[-1] == 0.5
    await elsewhere.aclose()


async def test_a_shared_address_is_not_blocked_for_everyone(
    web: WebEnv, pauses: list[float]
) -> None:
    """A hospital's NAT: one person's failures (for any names) do not lock the others out,
    nor stop an engineer from changing their password."""
    nat = "192.0.2.1"
    guesser = web.client_from(nat)
    for n in range(30):
        r = await try_login(web, guesser, f"user{n % 6}", "wrong-password")
        assert r.status_code == 401
    colleague = await web.login("e02", web.client_from(nat))
    r = await web.post_form(
        colleague,
        "/account/password",
        {"current": PASSWORD, "new": "Lantern-orchard-47", "again": "Lantern-orchard-47"},
    )
    assert r.status_code == 303


async def test_failures_add_growing_capped_delays(web: WebEnv, pauses: list[float]) -> None:
    limit = web.settings.web.login_max_failures
    # spread over many addresses, each pair stays under its limit: delays, never a block
    for n in range(limit + 6):
        r = await try_login(web, web.client_from(f"203.0.113.{n}"), "e01", "wrong-password")
        assert r.status_code == 401
    assert pauses[:limit] == [0.0] * limit
    assert pauses[limit : limit + 5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert pauses[-1] == web.settings.web.login_max_delay_seconds  # capped
    # still not a block: the engineer gets in (after the delay)
    assert (
        await try_login(web, web.client_from("198.51.100.3"), "e01", PASSWORD)
    ).status_code == 303


async def test_blocked_logins_are_aggregated_in_the_audit(web: WebEnv, pauses: list[float]) -> None:
    attacker = web.client_from("203.0.113.99")
    for _ in range(web.settings.web.login_max_failures + 25):
        await try_login(web, attacker, "e02", "wrong-password")
    blocked = audit_rows(web, "login_blocked")
    assert len(blocked) == 2  # the 1st and the 10th refusal, not 25 rows
    assert blocked[1].detail.startswith("10 refused")


def test_milestones_are_the_powers_of_ten() -> None:
    assert [milestone(n) for n in (1, 2, 9, 10, 11, 100, 1000)] == [
        True, False, False, True, False, True, True,
    ]  # fmt: skip


# -- item 10: access links do not swap a session silently ------------------------------------


async def test_an_access_link_asks_before_replacing_a_session(web: WebEnv) -> None:
    engineer = await web.login("e01")
    link = web.store.create_link("h002", label="信息科")
    r = await engineer.get(f"/h/{link.token}")
    assert r.status_code == 200 and "切换到医院身份" in r.text and "第二人民医院" in r.text
    assert (await engineer.get("/reports")).status_code == 200  # still the engineer
    forged = await engineer.post(f"/h/{link.token}", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert (await engineer.get("/reports")).status_code == 200
    confirmed = await engineer.post(f"/h/{link.token}", data={"csrf": csrf_of(r.text)})
    assert confirmed.status_code == 303
    assert (await engineer.get("/reports")).status_code == 404  # now the hospital's session
    # a browser with no session opens the link at once, as before
    assert (await web.new_client().get(f"/h/{link.token}")).status_code == 303


# -- item 11: common and single-character passwords -------------------------------------------


@pytest.mark.parametrize(
    "weak",
    ["aaaaaaaaaaaa", "1234567890", "password123", "qwertyuiop", "Password2024", "wanggong123"],
)
def test_common_and_single_character_passwords_are_refused(weak: str) -> None:
    assert password_problem(weak, ["e01", "wanggong"])


def test_a_strong_password_is_accepted() -> None:
    assert password_problem("Lantern-orchard-47") == ""
    assert password_problem(PASSWORD) == ""


async def test_the_console_refuses_a_common_new_password(web: WebEnv) -> None:
    c = await web.login("e02")
    r = await web.post_form(
        c, "/account/password", {"current": PASSWORD, "new": "password123", "again": "password123"}
    )
    assert r.status_code == 400 and "常见" in r.text
    assert web.store.check_password("e02", PASSWORD)


# -- item 8: body limits before parsing --------------------------------------------------------


async def test_an_oversized_body_is_refused_before_it_is_read(web: WebEnv) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(10_000):  # 640 MB if it were all read
            sent += 65536
            yield b"username=" + b"x" * 65527

    declared = await web.client.post(
        "/login",
        content=b"x" * 20_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413
    assert declared.headers["x-frame-options"] == "DENY"
    chunked = await web.client.post(
        "/login", content=endless(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert chunked.status_code == 413 and sent < 1_000_000
    upload = await web.client.post("/tickets/h001/reply", files={"f": ("a.bin", b"x" * 100)})
    assert upload.status_code == 415  # files only where a form takes one
    # where one does, a file over the attachment limit is refused before it is read
    c = await web.login("e01")
    limit = web.settings.web.attachment_max_kb * 1024 + 64 * 1024
    big = await c.post("/tickets/new", files={"file": ("a.png", b"x" * (limit + 1))})
    assert big.status_code == 413
    anonymous_file = await web.new_client().post(
        "/tickets/new", files={"file": ("a.png", b"x" * 20_000)}
    )
    assert anonymous_file.status_code == 413  # no session: 8 KB, whatever the route
    # without a session, an article-sized body is refused before the CSRF check reads it
    anonymous = await web.new_client().post("/kb/new", data={"body": "x" * 100_000})
    assert anonymous.status_code == 413


async def test_an_article_edit_may_be_larger_than_a_login(web: WebEnv) -> None:
    c = await web.login("e01")
    r = await web.post_form(c, "/kb/preview", {"body": "正文" * 20_000}, page="/kb/new")
    assert r.status_code == 200


# -- item 12: out-of-range parameters and 500s ---------------------------------------------------


async def test_out_of_range_parameters_are_400_with_the_security_headers(web: WebEnv) -> None:
    c = await web.login("e01")
    for query in ("page=9999999999999999999999999", "from=0001-01-01", "to=9999-12-31", "page=0"):
        r = await c.get(f"/tickets?{query}")
        assert r.status_code == 400, query
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_a_crash_is_a_500_page_with_the_security_headers(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("bot.web.ticket_pages.find_tickets", broken)
    c = await web.login("e01", web.client_from("127.0.0.1", raise_errors=False))
    r = await c.get("/tickets")
    assert r.status_code == 500 and "服务器内部错误" in r.text
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


# -- item 14: cross-hospital probing is audited ------------------------------------------------


async def test_probing_another_hospitals_tickets_is_audited(web: WebEnv) -> None:
    foreign = web.register_ticket("h002", "住院押金退费失败").number
    hospital = await web.as_hospital("h001")
    assert (await hospital.get(f"/tickets/{foreign}")).status_code == 404
    assert (await hospital.get("/tickets/2026-999999")).status_code == 404  # not a probe
    rows = audit_rows(web, "cross_hospital")
    assert [(r.target, r.actor.startswith("hospital:h001#")) for r in rows] == [
        (f"ticket {foreign}", True)
    ]
    for _ in range(12):
        await hospital.get(f"/tickets/{foreign}")
    await hospital.get("/playground/api/chats/h002/messages")
    rows = audit_rows(web, "cross_hospital")
    assert len(rows) == 2 and rows[1].detail.startswith("10 attempts")
