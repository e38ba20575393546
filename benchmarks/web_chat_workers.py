"""The playground's web chat shared by several workers: what a message sent on one worker
takes to reach a long poll waiting on another, and what the watch that finds it costs.

Two "workers" in this process, each a web adapter with its own engine, database gateway and
board (``bot/webchat``) on one database — a temporary SQLite file, or a fresh schema of the
PostgreSQL at ``--pg-url`` / ``HISBOT_TEST_PG_URL``. ``--chats`` chats are filled with
``--entries`` messages each; then, ``--messages`` times, a long poll waits on worker A while a
message is sent into its chat on B (cross-worker) or on A itself (same worker), and the time
from the send to the poll's answer is taken. Last, the watch's one query (the newest entry of
every chat waited on) is timed for 1, 20 and all chats. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/web_chat_workers.py                      # SQLite
    HISBOT_TEST_PG_URL=$(bash scripts/postgres.sh) .venv/bin/python benchmarks/web_chat_workers.py --pg
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load_common import p50_p95_max, pg_schema  # noqa: E402

from adapters.base import (  # noqa: E402
    ButtonPress,
    ChatEvent,
    ChatRef,
    CoreHandlers,
    IncomingMessage,
    Reply,
)
from adapters.chat_board import Entry  # noqa: E402
from adapters.web.adapter import WATCH_SECONDS, WebAdapter  # noqa: E402
from bot.infra.db import make_engine  # noqa: E402
from bot.infra.gateway import Database  # noqa: E402
from bot.webchat.board import DatabaseBoard  # noqa: E402
from bot.webchat.store import WebChatStore  # noqa: E402


async def nothing(_: IncomingMessage | ButtonPress | ChatEvent) -> None:
    return None


def fill(store: WebChatStore, chats: int, entries: int) -> None:
    now = dt.datetime.now(dt.UTC)
    for i in range(entries):
        for c in range(chats):
            entry = Entry(f"fill-{c}-{i}", "bot", "小助手", f"第 {i} 条消息，" * 5, now)
            store.append(f"h{c:03d}", entry)


async def delivery(reader: WebAdapter, sender: WebAdapter, chat: str, n: int) -> list[float]:
    """ms from ``sender.send`` to the answer of a long poll waiting on ``reader``."""
    took: list[float] = []
    for i in range(n):
        seen = (await reader.changes(chat, 0, "")).seq
        poll = asyncio.create_task(reader.changes(chat, seen, "", wait=30))
        await asyncio.sleep(0.05 + (i % 7) * 0.013)  # the poll waits; sends fall anywhere
        start = time.perf_counter()
        await sender.send(Reply(ChatRef("web", chat), f"消息 {i}"))
        found = await poll
        took.append((time.perf_counter() - start) * 1000)
        assert found.messages, "the poll ended without the message"
    return took


def look_ups(store: WebChatStore, chats: list[str], n: int) -> list[float]:
    took = []
    for _ in range(n):
        start = time.perf_counter()
        store.newest(chats)
        took.append((time.perf_counter() - start) * 1000)
    return took


async def run(url: str, chats: int, entries: int, messages: int) -> None:
    engines = [make_engine(url), make_engine(url)]
    dbs = [Database(e) for e in engines]
    stores = [WebChatStore(e) for e in engines]
    a, b = (WebAdapter(DatabaseBoard(db, store)) for db, store in zip(dbs, stores, strict=True))
    for adapter in (a, b):
        await adapter.start(CoreHandlers(nothing, nothing, nothing))
    try:
        start = time.perf_counter()
        await dbs[0].write(lambda: fill(stores[0], chats, entries))
        print(
            f"{engines[0].dialect.name}: {chats} chats × {entries} messages written in "
            f"{time.perf_counter() - start:.1f} s; watch interval {WATCH_SECONDS} s "
            f"= {1 / WATCH_SECONDS:.0f} look-ups/s per worker while any poll waits",
            flush=True,
        )
        for label, sender in (("same worker (A → A)", a), ("across workers (B → A)", b)):
            took = await delivery(a, sender, "h001", messages)
            print(f"send → long poll's answer, {label}: ms {p50_p95_max(took)}", flush=True)
        names = [f"h{c:03d}" for c in range(chats)]
        for k in sorted({1, min(20, chats), chats}):
            took = await dbs[0].read(lambda k=k: look_ups(stores[0], names[:k], 200))
            print(f"the watch's look-up for {k} chat(s) waited on: ms {p50_p95_max(took)}")
    finally:
        for adapter in (a, b):
            await adapter.stop()
        for db in dbs:
            await asyncio.to_thread(db.close)
        for engine in engines:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (--pg-url)")
    parser.add_argument("--pg-url", default=os.environ.get("HISBOT_TEST_PG_URL"))
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--entries", type=int, default=20, help="messages per chat")
    parser.add_argument("--messages", type=int, default=100, help="sends timed per case")
    args = parser.parse_args()
    if not args.pg:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(f"sqlite:///{tmp}/chat.db", args.chats, args.entries, args.messages))
        return
    if not args.pg_url:
        sys.exit("--pg needs --pg-url or HISBOT_TEST_PG_URL (bash scripts/postgres.sh)")
    with pg_schema(args.pg_url, "chat_bench") as url:
        asyncio.run(run(url, args.chats, args.entries, args.messages))


if __name__ == "__main__":
    main()
