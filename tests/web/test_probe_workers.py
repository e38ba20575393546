"""Cross-hospital probes counted across workers: two consoles ("workers") on one database — a
SQLite file, and PostgreSQL when ``HISBOT_TEST_PG_URL`` is set — write one audit row per
milestone (1st, 10th, 100th …) of a link's probes however they are spread over the workers,
and probes racing from several threads never get the same count."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.infra.db import make_engine
from bot.web.app import create_console
from bot.web.auth import ConsoleStore
from bot.web.models import LoginCount, WebAudit
from bot.web.probes import PROBE_WINDOW, ProbeAudit
from tests.tickets.conftest import FakeClock
from tests.web.conftest import WebEnv

LINK = "hospital:h001#7"


@pytest.fixture
def storage_url(db_url: str) -> str:
    """The console's database: every test here runs on SQLite and on PostgreSQL."""
    return db_url


def probe_rows(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        stmt = select(WebAudit).where(WebAudit.action == "cross_hospital").order_by(WebAudit.id)
        return [(r.actor, r.target, r.detail) for r in session.exec(stmt).all()]


def worker(engine: Engine, clock: FakeClock) -> ProbeAudit:
    return ProbeAudit(engine, ConsoleStore(engine), clock)


def test_probes_alternating_between_workers_write_one_row_per_milestone(
    make_db: Callable[..., Engine],
) -> None:
    clock = FakeClock()
    a, b = worker(make_db(), clock), worker(make_db(create=False), clock)
    counts = [(a, b)[n % 2].probed(LINK, f"ticket 2026-{n:06d}", "203.0.113.9") for n in range(120)]
    assert counts == list(range(1, 121))
    assert probe_rows(make_db(create=False)) == [
        (LINK, "ticket 2026-000000", ""),
        (LINK, "ticket 2026-000009", "10 attempts within an hour"),
        (LINK, "ticket 2026-000099", "100 attempts within an hour"),
    ]
    # another link is counted on its own; an hour after its first probe a link starts over
    assert b.probed("hospital:h001#8", "chat h002", "203.0.113.9") == 1
    clock.advance(seconds=PROBE_WINDOW.total_seconds())
    assert b.probed(LINK, "chat h002", "203.0.113.9") == 1
    assert a.probed(LINK, "chat h002", "203.0.113.9") == 2
    assert len(probe_rows(make_db(create=False))) == 5
    # the other link's count, past its window, was purged by the next probe
    with Session(make_db(create=False)) as session:
        counted = session.exec(select(LoginCount.kind, LoginCount.subject)).all()
    assert [tuple(row) for row in counted] == [("probe", LINK)]


def test_probes_racing_from_threads_never_share_a_count(
    make_db: Callable[..., Engine],
) -> None:
    clock = FakeClock()
    workers = [worker(make_db(), clock)] + [worker(make_db(create=False), clock) for _ in range(3)]
    start = threading.Barrier(len(workers))

    def probe_thirty(audit: ProbeAudit) -> list[int]:
        start.wait()
        return [audit.probed(LINK, "hospital h002", "203.0.113.9") for _ in range(30)]

    with ThreadPoolExecutor(len(workers)) as pool:
        seen = [n for counts in pool.map(probe_thirty, workers) for n in counts]
    assert sorted(seen) == list(range(1, 121))  # none lost, none handed out twice
    rows = probe_rows(make_db(create=False))
    assert [detail for _, _, detail in rows] == [
        "",
        "10 attempts within an hour",
        "100 attempts within an hour",
    ]


async def test_a_link_probing_through_two_consoles_is_one_campaign(web: WebEnv) -> None:
    """Console B: its own engine and console store over the same database; the browser's
    requests alternate between the two consoles, as behind a load balancer."""
    foreign = web.register_ticket("h002", "住院押金退费失败").number
    engine = make_engine(web.settings.storage_url, create_tables=False)
    console_b = create_console(
        dataclasses.replace(web.console, db=engine, store=ConsoleStore(engine))
    )
    link = await web.as_hospital("h001")
    on_b = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console_b), base_url=str(web.client.base_url)
    )
    try:
        on_b.cookies = link.cookies
        paths = (f"/tickets/{foreign}", "/playground/api/chats/h002/messages")
        for n in range(12):
            client = (link, on_b)[n % 2]
            assert (await client.get(paths[n % 4 // 2])).status_code == 404
        # a 13th probe, of another kind of page: counted, not a milestone
        assert (await on_b.get("/services/hospitals/h002")).status_code == 404
    finally:
        await on_b.aclose()
        engine.dispose()
    rows = probe_rows(web.app.db)  # type: ignore[arg-type]
    assert [(target, detail) for _, target, detail in rows] == [
        (f"ticket {foreign}", ""),
        (f"ticket {foreign}", "10 attempts within an hour"),
    ]
    assert {actor for actor, _, _ in rows} == {link_actor(web)}


def link_actor(web: WebEnv) -> str:
    [link] = web.store.links("h001")
    return f"hospital:h001#{link.id}"
