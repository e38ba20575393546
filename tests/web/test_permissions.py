"""Every route of the console against every kind of viewer, in one table.

The table must name every route the app serves (a new route without a rule fails
``test_the_table_covers_every_route``), so "who may open what" is decided on purpose.
Anonymous visitors are sent to log in, a hospital link gets 404 for anything outside its
hospital or its role, and no POST changes anything without the page's CSRF token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import WebEnv

LOGIN = "login"  # 303 to /login?next=…
ANON, HOSPITAL, ENGINEER = "anonymous", "hospital h001", "engineer e02"

#: (method, route) → {viewer: expected status} for GET; concrete paths are filled in below.
GET_RULES: dict[str, dict[str, int | str]] = {
    "/": {ANON: 303, HOSPITAL: 303, ENGINEER: 303},
    "/healthz": {ANON: 200, HOSPITAL: 200, ENGINEER: 200},
    "/login": {ANON: 200, HOSPITAL: 200, ENGINEER: 200},
    "/h/{token}": {ANON: 404, HOSPITAL: 404, ENGINEER: 404},  # a made-up token
    "/kb": {ANON: 200, HOSPITAL: 200, ENGINEER: 200},
    "/kb/search": {ANON: 200, HOSPITAL: 200, ENGINEER: 200},
    "/kb/{article_id}": {ANON: 200, HOSPITAL: 200, ENGINEER: 200},
    "/kb/{article_id}/history": {ANON: 200, HOSPITAL: 200, ENGINEER: 200},
    "/kb/new": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/kb/{article_id}/edit": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/tickets": {ANON: LOGIN, HOSPITAL: 200, ENGINEER: 200},
    "/tickets/new": {ANON: LOGIN, HOSPITAL: 200, ENGINEER: 200},
    "/tickets/{number}": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},  # an h002 ticket
    "/tickets/{number}/files/{attachment_id}": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},
    "/reports": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/reports/export.{fmt}": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},  # csv and xlsx
    "/problems": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/problems/articles": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/problems/{key}/draft": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},  # no such problem
    "/playground": {ANON: LOGIN, HOSPITAL: 200, ENGINEER: 200},
    "/playground/api/chats/{chat_id}/messages": {ANON: 401, HOSPITAL: 404, ENGINEER: 200},
    "/account/password": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/audit": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},  # leads only; e02 is not one
    "/live/events": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},  # engineers' live feed
    "/reports/annual.xlsx": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/services": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/services/hospitals/{hospital_id}": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},  # h002
    "/services/tickets/{number}": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},  # an h002 ticket
    "/services/calls/new": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},
    "/duty": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 200},  # changes on it: leads only
    "/sla/targets": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},  # leads only
    # broadcasters only; e02 is not one
    "/notices": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},
    "/notices/new": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},
    "/notices/{notice_id}": {ANON: LOGIN, HOSPITAL: 404, ENGINEER: 404},
}

#: POST routes, sent with everything but the CSRF token: nobody gets anything done.
POST_ROUTES = {
    "/login",
    "/logout",
    "/h/{token}",
    "/account/password",
    "/kb/new",
    "/kb/preview",
    "/kb/{article_id}/edit",
    "/kb/{article_id}/retire",
    "/kb/{article_id}/restore",
    "/kb/{article_id}/history/{version}/erase",
    "/tickets/new",
    "/tickets/{number}/{action}",
    "/tickets/{number}/files",
    "/playground/api/chats/{chat_id}/messages",
    "/playground/api/chats/{chat_id}/presses",
    "/services/hospitals/{hospital_id}/{action}",
    "/services/tickets/{number}/{action}",
    "/services/calls/new",
    "/duty/rotation",
    "/duty/override",
    "/duty/swap",
    "/sla/targets",
    "/sla/targets/reset",
    "/notices/new",
    "/notices/{notice_id}/{action}",
}


def served_routes(env: WebEnv) -> set[tuple[str, str]]:
    def walk(routes: list[Any]) -> Iterator[tuple[str, str]]:
        for r in routes:
            if hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)
            elif getattr(r, "methods", None):
                yield from ((m, r.path) for m in r.methods if m != "HEAD")

    return set(walk(env.client._transport.app.routes))  # type: ignore[attr-defined]


def concrete(route: str, number: str) -> str:
    return (
        route.replace("{token}", "made-up-token")
        .replace("{article_id}", "hb-001")
        .replace("{number}", number)
        .replace("{chat_id}", "h002")
        .replace("{action}", "claim")
        .replace("{fmt}", "xlsx")
        .replace("{version}", "1")
        .replace("{hospital_id}", "h002")
        .replace("{key}", "0badc0de")
        .replace("{notice_id}", "1")
        .replace("{attachment_id}", "1")
    )


@pytest.fixture
async def viewers(web: WebEnv) -> dict[str, httpx.AsyncClient]:
    return {
        ANON: web.new_client(),
        HOSPITAL: await web.as_hospital("h001"),
        ENGINEER: await web.login("e02", web.new_client()),
    }


@pytest.fixture
def foreign_ticket(web: WebEnv) -> str:
    return web.register_ticket("h002", "住院押金退费失败", reporter="住院处").number


async def test_the_table_covers_every_route(web: WebEnv) -> None:
    expected = {("GET", r) for r in GET_RULES} | {("POST", r) for r in POST_ROUTES}
    assert served_routes(web) == expected


async def test_who_may_open_what(
    web: WebEnv, viewers: dict[str, httpx.AsyncClient], foreign_ticket: str
) -> None:
    params = {"/kb/search": {"q": "医保结算"}}
    assert web.app.services.sla is not None
    web.app.services.sla.pulse.close()  # the live feed answers one read and ends, not streams
    wrong = []
    for route, rules in GET_RULES.items():
        path = concrete(route, foreign_ticket)
        for viewer, expected in rules.items():
            r = await viewers[viewer].get(path, params=params.get(route))
            got: int | str = r.status_code
            if got == 303 and r.headers["location"].startswith("/login?next="):
                got = LOGIN
            if got != expected:
                wrong.append(f"{viewer} GET {path}: {got}, expected {expected}")
    assert wrong == []


async def test_no_post_acts_without_the_csrf_token(
    web: WebEnv, viewers: dict[str, httpx.AsyncClient], foreign_ticket: str
) -> None:
    services = web.app.services
    mine = web.register_ticket("h001", "挂号单打印重影", reporter="门诊").number
    before = (len(services.tickets.open_tickets()), len(services.engine.index))
    data = {
        "username": "e02", "password": "correct-horse-battery", "current": "x", "new": "y" * 12,
        "again": "y" * 12, "id": "hb-999", "title": "t", "category": "usage", "module": "m",
        "body": "b", "reporter": "r", "urgency": "P3", "question": "q", "hospital": "h001",
        "text": "x", "reason": "x",
    }  # fmt: skip
    for route in sorted(POST_ROUTES):
        for viewer, client in viewers.items():
            number = mine if viewer == HOSPITAL else foreign_ticket
            path = concrete(route, number).replace("/chats/h002/", "/chats/h001/")
            if route.startswith("/playground/api/"):
                r = await client.post(path, json={"text": "hi", "message_id": "1", "action": "a"})
            else:
                r = await client.post(path, data=data)
            allowed = {403, 404} if viewer != ANON else {403, 401, 303}
            assert r.status_code in allowed, (viewer, path, r.status_code)
    assert (len(services.tickets.open_tickets()), len(services.engine.index)) == before
    assert services.tickets.get(foreign_ticket).status == "new"
    assert "hisbot_session" not in viewers[ANON].cookies  # the login did not happen
