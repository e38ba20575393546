"""Does a locked database stall the event loop? (issue 11, item 1)

The real bot (``bot.app.build_app``: pipeline, stores, the ``bot.infra.gateway.Database``, the
project's sample KB and the configured embedder) on a SQLite file in a temporary folder, with
one registered hospital chat on a recording in-process platform. While another connection (a
thread of this script, as another process would) holds SQLite's write lock for ``--lock``
seconds (``BEGIN IMMEDIATE`` … ``COMMIT``), questions keep arriving at ``--rate`` per second,
and a heartbeat task on the loop wakes every 5 ms and records how late it woke.

Printed: the longest and 99th-percentile heartbeat delay during the lock (the loop's stall;
the target is < 50 ms), how many questions arrived during the lock and how long their replies
took (they wait for the lock on the gateway's writer thread, not on the loop), and that every
question got exactly one reply. It prints figures; it never asserts.

Usage::

    .venv/bin/python benchmarks/db_lock_stall.py                 # 3 s lock, 10 questions/s
    .venv/bin/python benchmarks/db_lock_stall.py --lock 10 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import itertools
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.base import (  # noqa: E402
    ButtonPress,
    ChatRef,
    CoreHandlers,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from bot.app import build_app  # noqa: E402
from bot.infra.config import Secrets, load_settings  # noqa: E402

QUESTIONS = [
    "yb结算报2304，总额和明细对不上",
    "医保结算提示总额与明细合计不一致怎么办",
    "打印机打不出发票",
    "系统登录很慢",
]


class Recorder:
    """An in-process platform (named "web", like the playground): records every reply with
    the moment it was sent."""

    platform = "web"

    def __init__(self) -> None:
        self.replies: dict[str, list[float]] = {}
        self._ids = itertools.count(1)

    async def start(self, handlers: CoreHandlers) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, reply: Reply) -> MessageRef:
        if reply.reply_to:
            self.replies.setdefault(reply.reply_to, []).append(time.monotonic())
        return MessageRef(self.platform, reply.chat.chat_id, f"r{next(self._ids)}")

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        pass

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        pass


def hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another connection takes SQLite's write lock and keeps it for ``seconds``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


async def heartbeat(delays: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Wake every 5 ms; record (when, how late)."""
    period = 0.005
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(period)
        now = time.monotonic()
        delays.append((now, now - before - period))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hisbot-lock-"))
    db_path = folder / "bot.db"
    config = folder / "config.toml"
    config.write_text(
        f'[kb]\ndir = "{ROOT / "kb"}"\n[storage]\nurl = "sqlite:///{db_path}"\n'
        '[[hospitals]]\nid = "h001"\nname = "第一人民医院"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    settings = dataclasses.replace(
        settings, web=dataclasses.replace(settings.web, enabled=False, playground=False)
    )
    recorder = Recorder()
    app = await asyncio.to_thread(build_app, settings, Secrets.from_env({}), None, [recorder])
    await app.services.db.write(
        lambda: app.services.registry.add_chat("web", "g1", "h001", title="bench")
    )
    await app.start()
    chat = ChatRef("web", "g1")
    sent_at: dict[str, float] = {}
    ids = itertools.count(1)

    async def ask() -> None:
        message_id = f"q{next(ids)}"
        sent_at[message_id] = time.monotonic()
        msg = IncomingMessage(
            chat,
            message_id,
            Sender("u1", "护士"),
            QUESTIONS[len(sent_at) % len(QUESTIONS)],
            dt.datetime.now(dt.UTC),
        )
        await app.pipeline.on_message(msg)

    delays: list[tuple[float, float]] = []
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(delays, stop))
    tasks: list[asyncio.Task[None]] = []
    for _ in range(5):  # warm-up: the engine's first decisions
        await ask()
    held = threading.Event()
    locker = threading.Thread(target=hold_write_lock, args=(db_path, args.lock, held))
    locker.start()
    await asyncio.to_thread(held.wait)
    lock_start = time.monotonic()
    lock_end = lock_start + args.lock
    first_during = len(sent_at)
    while time.monotonic() < lock_end:
        tasks.append(asyncio.create_task(ask()))
        await asyncio.sleep(1 / args.rate)
    during = len(sent_at) - first_during
    await asyncio.to_thread(locker.join)
    await asyncio.gather(*tasks)
    stop.set()
    await beat
    await app.stop()

    in_lock = [d for at, d in delays if lock_start <= at <= lock_end + 0.05]
    replies = recorder.replies
    latencies = [replies[m][0] - t for m, t in sent_at.items() if m in replies]
    lost = [m for m in sent_at if m not in replies]
    duplicated = [m for m, r in replies.items() if len(r) > 1]
    print(f"write lock held by another connection: {args.lock:.1f} s")
    print(
        f"loop heartbeat during the lock: {len(in_lock)} beats, "
        f"max delay {max(in_lock, default=0) * 1000:.1f} ms, "
        f"p99 {pct(in_lock, 0.99) * 1000:.1f} ms (target: never > 50 ms)"
    )
    print(
        f"questions: {len(sent_at)} ({during} during the lock); replied {len(latencies)}, "
        f"lost {len(lost)}, duplicated {len(duplicated)}"
    )
    print(
        f"reply latency: p50 {pct(latencies, 0.5) * 1000:.0f} ms, "
        f"max {max(latencies, default=0) * 1000:.0f} ms (questions wait for the lock off the loop)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=float, default=3.0, help="seconds the lock is held")
    parser.add_argument("--rate", type=float, default=10.0, help="questions per second")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
