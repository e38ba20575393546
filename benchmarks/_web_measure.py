"""The measurements of ``benchmarks/web.py``: signed-in httpx clients on the console's pages
and its chat playground, the scenarios, and their statistics (latencies, event-loop stalls).

``measure`` runs them all against a running bot: every page with 1 client, then with
``--concurrency`` clients (``hammer``); the playground round trip (``ChatTab.ask``) one
question at a time and from 8 hospitals at once; and the round trip while the page clients
load the interactive pages and one more the year report and its export.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _load_common import Deck, Json, latency_stats, log, pct
from _web_data import PASSWORD
from _web_server import rss
from _web_vocab import TICKET_SEARCHES

API = "/playground/api/chats"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')

#: Pages one engineer rarely asks for; under load they run on one client only.
HEAVY = ("report_year", "export_xlsx")

PAGE_LABELS = {
    "kb_search": "KB search (Chinese query)",
    "kb_article": "KB article page",
    "tickets": "ticket list, unfiltered",
    "tickets_q": "ticket list, full text q=",
    "tickets_hospital_status": "ticket list, hospital + status",
    "ticket": "ticket detail",
    "report_month": "monthly report, one hospital",
    "report_year": "whole-year report, all hospitals",
    "export_xlsx": "XLSX export, year, all hospitals",
}


def page_urls(data: Json, queries: list[Json], seed: int) -> dict[str, Callable[[int], str]]:
    """Per page, the URL of its i-th request (the data ``generate`` returned)."""
    from urllib.parse import urlencode

    rng = random.Random(seed)
    hospitals: list[str] = data["hospitals"]
    numbers: list[str] = data["ticket_numbers"]
    texts = [q["query"] for q in queries]
    kb_ids: list[str] = data["kb_ids"]
    picks = [rng.choice(numbers) for _ in range(1000)]
    busy = hospitals[: max(1, len(hospitals) // 10)]  # the bigger hospitals
    statuses = ("open", "closed", "resolved", "in_progress")
    now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)  # the reports' zone (Asia/Shanghai)
    last = (now.replace(day=1) - dt.timedelta(days=1)).date()  # the last complete month
    searches = [s.format(year=now.year) for s in TICKET_SEARCHES]

    def q(path: str, **params: object) -> str:
        return f"{path}?{urlencode(params)}"

    return {
        "kb_search": lambda i: q("/kb/search", q=texts[i % len(texts)]),
        "kb_article": lambda i: f"/kb/{kb_ids[i % len(kb_ids)]}",
        "tickets": lambda i: "/tickets",
        "tickets_q": lambda i: q("/tickets", q=searches[i % len(searches)]),
        "tickets_hospital_status": lambda i: q(
            "/tickets", hospital=busy[i % len(busy)], status=statuses[i % len(statuses)]
        ),
        "ticket": lambda i: f"/tickets/{picks[i % len(picks)]}",
        "report_month": lambda i: q(
            "/reports", hospital=busy[i % len(busy)], year=last.year, month=last.month
        ),
        "report_year": lambda i: q("/reports", hospital="all", year=now.year, month="all"),
        "export_xlsx": lambda i: q(
            "/reports/export.xlsx", hospital="all", year=now.year, month="all"
        ),
    }


# ================================================================================================
# statistics
# ================================================================================================


def latency_summary(lat: Sequence[float], wall_s: float, per_s: str) -> Json:
    """n, p50/p95/p99/max (ms), ``per_s`` (completions per second of ``wall_s``), wall_s."""
    p50, p95, p99, top = latency_stats(lat)
    return {
        "n": len(lat),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": top,
        per_s: len(lat) / wall_s if wall_s else math.nan,
        "wall_s": wall_s,
    }


@dataclass
class Phase:
    name: str
    t0: float
    t1: float = 0.0


def stall_stats(lag: Sequence[tuple[float, float]], phase: Phase) -> Json:
    """Loop stalls during a phase: the longest, p99 and the share of the time stalled."""
    ms = [s * 1000 for t, s in lag if phase.t0 <= t <= phase.t1]
    span = max(phase.t1 - phase.t0, 1e-9)
    return {
        "max_ms": max(ms) if ms else math.nan,
        "p99_ms": pct(ms, 99),
        "stalled_share": sum(m for m in ms if m > 5) / 1000 / span,
    }


@dataclass
class Run:
    """Latencies (ms) of the successful requests of one scenario, with its wall time."""

    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    def summary(self) -> Json:
        size = (sum(self.sizes) / len(self.sizes) / 1024) if self.sizes else 0
        return {
            **latency_summary(self.latencies, self.wall_s, "req_per_s"),
            "kb_per_response": size,
            "errors": dict(self.errors),
        }


@dataclass
class ChatRun:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    #: ms from the reply's time stamp (taken as the bot stores it) to the poll's answer.
    delivery: list[float] = field(default_factory=list)
    lost: int = 0
    wall_s: float = 0.0

    def summary(self) -> Json:
        kinds = {
            k: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95)}
            for k, v in sorted(self.by_kind.items())
        }
        return {
            **latency_summary(self.latencies, self.wall_s, "per_s"),
            "lost": self.lost,
            "by_kind": kinds,
            "delivery_p50_ms": pct(self.delivery, 50),
            "delivery_p95_ms": pct(self.delivery, 95),
        }


# ================================================================================================
# clients
# ================================================================================================


def csrf_of(html: str, pattern: re.Pattern[str] = _CSRF) -> str:
    m = pattern.search(html)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


async def login(client: Any, engineer_id: str) -> None:
    token = csrf_of((await client.get("/login")).text)
    r = await client.post(
        "/login", data={"username": engineer_id, "password": PASSWORD, "csrf": token}
    )
    if r.status_code != 303:
        raise RuntimeError(f"login of {engineer_id} failed: {r.status_code}")


async def hammer(
    clients: Sequence[Any],
    url_of: Callable[[int], str],
    n: int,
    max_s: float,
    run: Run | None = None,
) -> Run:
    """``len(clients)`` workers GET ``url_of(i)`` for i = 0.. until ``n`` requests are done or
    ``max_s`` seconds have passed (requests in flight finish). Cancelling it keeps in ``run``
    what was done."""
    run = run if run is not None else Run()
    counter = itertools.count()
    t0 = time.monotonic()
    deadline = t0 + max_s

    async def worker(client: Any) -> None:
        while True:
            i = next(counter)
            if i >= n or time.monotonic() >= deadline:
                return
            t = time.perf_counter()
            try:
                r = await client.get(url_of(i))
            except Exception as exc:  # a timeout or a dropped connection is a figure too
                run.errors[type(exc).__name__] += 1
                continue
            ms = (time.perf_counter() - t) * 1000
            if r.status_code == 200:
                run.latencies.append(ms)
                run.sizes.append(len(r.content))
            else:
                run.errors[str(r.status_code)] += 1

    await asyncio.gather(*(worker(c) for c in clients))
    run.wall_s = time.monotonic() - t0
    return run


#: How a playground user addresses the bot (its default ``[web]`` name).
MENTION = "@小助手 "


class ChatTab:
    """One browser tab on a hospital's playground chat."""

    def __init__(self, client: Any, hospital: str, token: str, reader: Any = None) -> None:
        self.client = client
        self.hospital = hospital
        self.headers = {"X-CSRF-Token": token}
        #: Where the tab long-polls: the same console, or another worker's (``reader``).
        self.reader = reader or client
        #: ms from each reply's time stamp to the poll that carried it (same host's clock).
        self.delivery: list[float] = []

    @classmethod
    async def open(cls, client: Any, hospital: str, reader: Any = None) -> ChatTab:
        """``reader``: a client of another worker's console (the same session) to long-poll
        on, so the bot's replies reach the poll only through the shared board."""
        page = await client.get("/playground", params={"hospital": hospital})
        if page.status_code != 200:
            raise RuntimeError(f"playground of {hospital}: {page.status_code}")
        return cls(client, hospital, csrf_of(page.text, _DATA_CSRF), reader)

    async def ask(self, text: str, timeout: float = 30.0) -> float | None:
        """ms from the POST to the long-poll response carrying the bot's reply; None if none
        came within ``timeout``."""
        url = f"{API}/{self.hospital}/messages"
        # the playground behaves like a group: a message not addressed to the bot (small talk,
        # a question outside the KB) is left to people, and no reply would ever come
        if not text.startswith(MENTION):
            text = MENTION + text
        t0 = time.perf_counter()
        r = await self.client.post(
            url, json={"text": text, "name": "护士小张"}, headers=self.headers
        )
        if r.status_code != 202:
            return None
        question = r.json()["message"]
        after = question["seq"]
        while (remaining := timeout - (time.perf_counter() - t0)) > 0:
            r = await self.reader.get(url, params={"after": after, "wait": min(remaining, 10)})
            if r.status_code != 200:
                return None
            data = r.json()
            for m in data["messages"]:
                if m["kind"] == "bot" and m["reply_to"] == question["id"]:
                    sent = dt.datetime.fromisoformat(m["sent_at"]).timestamp()
                    self.delivery.append((time.time() - sent) * 1000)
                    return (time.perf_counter() - t0) * 1000
            after = data["seq"]
        return None


async def ask_many(tabs: Sequence[ChatTab], deck: Deck, n: int, max_s: float = math.inf) -> ChatRun:
    """Each tab asks questions one after another (the tabs in parallel) until ``n`` questions
    were asked in all, or ``max_s`` seconds have passed."""
    run = ChatRun()
    counter = itertools.count()
    t0 = time.monotonic()

    async def tab_loop(tab: ChatTab) -> None:
        while next(counter) < n and time.monotonic() - t0 < max_s:
            q = deck.draw()
            ms = await tab.ask(q["query"])
            if ms is None:
                run.lost += 1
                continue
            run.latencies.append(ms)
            kind = "ticket" if q["kind"] in ("out-of-kb", "urgent") else q["kind"]
            run.by_kind.setdefault(kind, []).append(ms)

    await asyncio.gather(*(tab_loop(t) for t in tabs))
    run.wall_s = time.monotonic() - t0
    for tab in tabs:
        run.delivery += tab.delivery
        tab.delivery.clear()
    return run


# ================================================================================================
# the scenarios
# ================================================================================================


async def measure(
    args: argparse.Namespace,
    clients: list[Any],
    urls: dict[str, Callable[[int], str]],
    queries: list[Json],
    phases: list[Phase],
    pid: int,
    worker_b: Any,
) -> Json:
    """``worker_b``: a client of worker B's console, signed in as ``clients[0]``."""
    conc = args.concurrency
    pages = clients[:conc]
    res: Json = {"pages": {}, "playground": {}}
    log("warm-up: every page once")
    for name, url_of in urls.items():
        r = await pages[0].get(url_of(0))
        if r.status_code != 200:
            log(f"  {name}: {url_of(0)} answered {r.status_code}")
    for name, url_of in [] if args.chat_only else urls.items():
        log(f"pages: {PAGE_LABELS[name]} (1 client, then {conc})")
        solo = await hammer(pages[:1], url_of, 10, 2.0)
        phase = Phase(name, time.monotonic())
        run = await hammer(pages, url_of, args.requests, args.page_seconds)
        phase.t1 = time.monotonic()
        phases.append(phase)
        res["pages"][name] = {**run.summary(), "solo": solo.summary()}
    res["rss_after_pages"] = rss(pid)

    deck = Deck(queries, dict(Counter(q["kind"] for q in queries)), args.seed)
    tab = await ChatTab.open(clients[0], "h001")
    await tab.ask("你好")  # the chat's first message: its lane and log exist from now on
    n = args.questions
    log(f"playground: {n} questions one after another")
    phase = Phase("chat_sequential", time.monotonic())
    res["playground"]["sequential"] = (await ask_many([tab], deck, n)).summary()
    phase.t1 = time.monotonic()
    phases.append(phase)

    # the same, posted on worker A and long-polled on worker B: the reply reaches B's poll only
    # through the shared board (B's watch looks every WATCH_SECONDS)
    cross = await ChatTab.open(clients[0], "h002", reader=worker_b)
    await cross.ask("你好")
    log(f"playground across workers: {n} questions posted on A, long-polled on B")
    phase = Phase("chat_cross_worker", time.monotonic())
    res["playground"]["cross_worker"] = (await ask_many([cross], deck, n)).summary()
    phase.t1 = time.monotonic()
    phases.append(phase)
    if args.chat_only:
        return res

    tabs = [await ChatTab.open(c, f"h{i + 1:03d}") for i, c in enumerate(pages)]
    log(f"playground: {n} questions from {len(tabs)} hospitals at once")
    phase = Phase("chat_concurrent", time.monotonic())
    res["playground"]["concurrent"] = (await ask_many(tabs, deck, n)).summary()
    phase.t1 = time.monotonic()
    phases.append(phase)

    # chat under page load: the page clients go round the interactive pages, one more client
    # runs the year report and its export again and again, and one more asks questions
    chat_tab = await ChatTab.open(clients[conc + 1], f"h{conc + 1:03d}")
    light = [n for n in urls if n not in HEAVY]

    def interactive(i: int) -> str:
        return urls[light[i % len(light)]](i // len(light))

    def heavy(i: int) -> str:
        return urls[HEAVY[i % len(HEAVY)]](i // len(HEAVY))

    n_during = args.questions_under_load
    log(
        f"playground under page load: {n_during} questions while {conc} clients load the "
        "interactive pages and one the year report and export"
    )
    phase = Phase("chat_under_load", time.monotonic())
    light_run, heavy_run = Run(), Run()
    loads = [
        asyncio.create_task(hammer(pages, interactive, 10**9, 3600, light_run)),
        asyncio.create_task(hammer(clients[conc : conc + 1], heavy, 10**9, 3600, heavy_run)),
    ]
    await asyncio.sleep(1.0)  # the load is under way before the first question
    chat = await ask_many([chat_tab], deck, n_during, args.load_seconds)
    phase.t1 = time.monotonic()
    # requests still running (a year report takes seconds under load) are abandoned, not
    # waited for: counted as unfinished
    for task in loads:
        task.cancel()
    await asyncio.gather(*loads, return_exceptions=True)
    for run, n_clients in ((light_run, conc), (heavy_run, 1)):
        run.wall_s = phase.t1 - phase.t0
        run.errors["unfinished"] += n_clients
    phases.append(phase)
    res["playground"]["under_page_load"] = chat.summary()
    res["pages_during_chat"] = light_run.summary()
    res["reports_during_chat"] = heavy_run.summary()
    return res
