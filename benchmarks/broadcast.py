"""Benchmark: one notice to 2,000 Telegram groups through the real outbox and the real adapter.

The bot side — ``bot.broadcasts`` (outbox worker, pacing, APScheduler on SQLite) with the real
``TelegramAdapter`` (python-telegram-bot, ``AIORateLimiter``, default retries) — runs in a child
process of this script (``--child``), so that it can be killed like a real process. The parent
runs the fake Bot API of ``tests/fakes/telegram_api.py`` with ``enforce_limits=True``: Telegram's
real limits (30 messages/s per bot, 20/min per group) answered with 429 + ``retry_after``.

Scenarios (each on a fresh database and a fresh fake server):

* ``clean``  — no injected faults. Target: within 10% of the floor (groups / 30 s).
* ``429``    — 5% of sendMessage calls answered 429 (retry_after 1 s).
* ``kill``   — the child is SIGKILLed when half the groups have the notice; a new child starts
  on the same database, reconciles (sends caught on the wire become 'unknown', never re-sent;
  those still waiting in the adapter's rate limiter were never sent and go out once) and
  finishes the broadcast.

Figures come from the fake's own record of successful ``sendMessage`` calls: time from the first
to the last message in a hospital group, messages lost (groups with none), duplicates (groups
with more than one). During the broadcast the child also sends a normal reply to another chat
every 2 s and reports how long each took (what a hospital waiting for an answer would see).
The script prints figures; it asserts nothing.

Usage::

    .venv/bin/python benchmarks/broadcast.py                     # 2,000 groups, all scenarios
    .venv/bin/python benchmarks/broadcast.py --groups 300        # quicker
    .venv/bin/python benchmarks/broadcast.py --scenarios clean kill
    .venv/bin/python benchmarks/broadcast.py --scenarios 429 --tg-max-retries 0   # see below

With the shipped ``[telegram] max_retries = 5`` PTB's ``AIORateLimiter`` answers every 429 by
pausing *all* sends (replies too) for ``retry_after`` + 0.1 s, so injected 429s cost about a
second each; ``--tg-max-retries 0`` shows the alternative where the outbox re-queues the
group (30 s backoff) and the rest go on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOKEN = "123456:BROADCAST-bench"
DESK = -1009000000001
#: Hospital chats where "normal replies" go during the broadcast, in turn (each stays far
#: below Telegram's 20 messages/min per group).
PROBES = [-1009000000100 - i for i in range(10)]
GROUP_BASE = -1003000000000  # group i is GROUP_BASE - i
BROADCASTER = "e05"
PER_SECOND = 30  # Telegram's overall limit (the fake's default RateLimits)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ================================================================================================
# the bot, in a child process
# ================================================================================================


async def child(args: argparse.Namespace) -> None:
    import logging

    from adapters.base import ChatRef, CoreHandlers, Reply
    from adapters.telegram.adapter import TelegramAdapter
    from adapters.telegram.settings import TelegramSettings
    from bot.broadcasts import AdapterTransport, Broadcasts, BroadcastSettings, BroadcastStore
    from bot.broadcasts.access import Actor
    from bot.infra.db import make_engine
    from bot.registry import RegistryStore

    logging.basicConfig(level=logging.WARNING, format="child %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = make_engine(f"sqlite:///{args.db}")
    settings = BroadcastSettings(quiet_hours="")  # the benchmark may run at night
    store = BroadcastStore(engine, RegistryStore(engine), settings=settings)
    adapter = TelegramAdapter(
        TOKEN,
        TelegramSettings(
            base_url=args.base_url,
            base_file_url=args.base_file_url,
            poll_timeout=5,
            max_retries=args.tg_max_retries,
        ),
    )

    async def nothing(_: Any) -> None:
        return None

    await adapter.start(CoreHandlers(nothing, nothing, nothing))
    desk = ChatRef("telegram", str(DESK))
    broadcasts = Broadcasts(store, AdapterTransport([adapter]), (desk,), engine=engine)
    await broadcasts.start()
    who = Actor.cli(BROADCASTER)
    if not args.resume:
        notice_id = store.list_notices(1)[0].id or 0
        assert await broadcasts.broadcaster.send_test(notice_id, who) == "sent"
        store.confirm(notice_id, who)
        broadcasts.broadcaster.wake()
    notice_id = store.list_notices(1)[0].id or 0

    latencies: list[float] = []

    async def replies() -> None:
        for i in range(10**9):
            await asyncio.sleep(2.0)
            chat = ChatRef("telegram", str(PROBES[i % len(PROBES)]))
            t0 = time.monotonic()
            await adapter.send(Reply(chat=chat, text="您好，问题已收到。"))
            latencies.append(time.monotonic() - t0)

    probe = asyncio.create_task(replies())
    while store.get(notice_id).status != "sent":
        await asyncio.sleep(0.2)
    probe.cancel()
    rows = store.deliveries.of_notice(notice_id)
    summary = {
        "statuses": {s: sum(1 for d in rows if d.status == s) for s in {d.status for d in rows}},
        "unknown": [d.chat_id for d in rows if d.status == "unknown"],
        "retried": sum(1 for d in rows if d.attempts > 1),
        "reply_latency": latencies,
    }
    print(json.dumps(summary), flush=True)
    await broadcasts.stop()
    await adapter.stop()


# ================================================================================================
# the parent: fake Telegram, scenarios, figures
# ================================================================================================


def prepare_db(path: Path, groups: int) -> None:
    """Registry (one hospital per group, bulk insert) and one confirmed-to-be patch notice."""
    from sqlmodel import Session

    from bot.broadcasts import BroadcastStore, NoticeDraft, NoticeKind, Targets
    from bot.broadcasts.access import Actor
    from bot.infra.db import make_engine
    from bot.registry import RegistryStore
    from bot.registry.models import Hospital, HospitalChat

    engine = make_engine(f"sqlite:///{path}")
    registry = RegistryStore(engine)
    registry.add_engineer(BROADCASTER, "通知员", ["broadcaster"])
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with Session(engine) as s:
        for i in range(groups):
            hid = f"h{i:05d}"
            s.add(Hospital(id=hid, name=f"医院{i}", region="华东", created_at=now, updated_at=now))
            s.add(
                HospitalChat(
                    platform="telegram",
                    chat_id=str(GROUP_BASE - i),
                    hospital_id=hid,
                    created_at=now,
                )
            )
        s.commit()
    store = BroadcastStore(engine, registry)
    draft = NoticeDraft(
        NoticeKind.PATCH,
        Targets(everyone=True),
        product="HIS",
        module="住院",
        version="5.2.4",
        body="住院结算偶发 2304 错误",
        download_url="https://dl.example.com/his-5.2.4.zip",
        checksum="sha256:0f3c9a",
        action="下班后停止住院服务并运行升级程序",
        deadline=dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
    )
    store.create(draft, Actor.cli(BROADCASTER))
    engine.dispose()


async def spawn(db: Path, tg: Any, resume: bool, retries: int) -> asyncio.subprocess.Process:
    cmd = [sys.executable, __file__, "--child", "--db", str(db), "--tg-max-retries", str(retries)]
    cmd += ["--base-url", tg.base_url, "--base-file-url", tg.base_file_url]
    if resume:
        cmd.append("--resume")
    return await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)


async def scenario(name: str, groups: int, retries: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-broadcast-{name}-") as folder:
        return await _scenario(name, groups, retries, Path(folder) / "hisbot.db")


async def _scenario(name: str, groups: int, retries: int, db: Path) -> dict[str, Any]:
    from tests.fakes.telegram_api import FakeTelegram

    prepare_db(db, groups)
    chats = [GROUP_BASE - i for i in range(groups)]
    async with FakeTelegram(token=TOKEN, enforce_limits=True) as tg:
        for chat in (DESK, *PROBES, *chats):
            tg.add_chat(chat, chat_type="supergroup")
        if name == "429":
            tg.fail_ratio("sendMessage", 0.05, seed=7, error_code=429, retry_after=1)
        wall = time.monotonic()
        proc = await spawn(db, tg, resume=False, retries=retries)
        killed_at = None
        if name == "kill":
            # a cheap periodic look: rescanning every call on each request would slow the
            # fake server itself (it shares the machine) and bunch its timestamps
            while len(tg.sent_messages()) < groups // 2 + 1:
                await asyncio.sleep(0.25)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            killed_at = len(delivered(tg, set(chats)))
            log(f"  killed the bot with {killed_at} groups done; restarting")
            proc = await spawn(db, tg, resume=True, retries=retries)
        out, _ = await proc.communicate()
        wall = time.monotonic() - wall
        summary = json.loads(out.decode().strip().splitlines()[-1])
        sends = [
            c
            for c in tg.calls_to("sendMessage")
            if c.status == 200 and c.params.get("chat_id") in set(chats)
        ]
        counts = {c: 0 for c in chats}
        for c in sends:
            counts[c.params["chat_id"]] += 1
        first, last = min(c.at for c in sends), max(c.at for c in sends)
        unknown = {int(c) for c in summary["unknown"]}
        return {
            "scenario": name,
            "groups": groups,
            "seconds": last - first,
            "wall": wall,
            "floor": groups / PER_SECOND,
            "lost": sum(1 for n in counts.values() if n == 0),
            "duplicates": sum(1 for n in counts.values() if n > 1),
            "status_429": sum(1 for c in tg.calls_to("sendMessage") if c.status == 429),
            "unknown": len(unknown),
            "unknown_delivered": sum(1 for c in unknown if counts.get(c)),
            "statuses": summary["statuses"],
            "retried": summary["retried"],
            "reply_latency": summary["reply_latency"],
            "killed_at": killed_at,
        }


def delivered(tg: Any, chats: set[int]) -> set[int]:
    return {
        c.params["chat_id"]
        for c in tg.calls_to("sendMessage")
        if c.status == 200 and c.params.get("chat_id") in chats
    }


def report(r: dict[str, Any]) -> None:
    over = (r["seconds"] / r["floor"] - 1) * 100
    lat = r["reply_latency"] or [float("nan")]
    print(
        f"{r['scenario']:<6} groups={r['groups']:<5} time={r['seconds']:6.1f} s "
        f"(floor {r['floor']:.1f} s, {over:+.1f}%)  lost={r['lost']}  duplicates={r['duplicates']}  "
        f"429s={r['status_429']}  retried={r['retried']}  unknown={r['unknown']} "
        f"(delivered {r['unknown_delivered']})  statuses={r['statuses']}"
    )
    print(
        f"       normal replies during the broadcast: n={len(r['reply_latency'])} "
        f"median={statistics.median(lat) * 1000:.0f} ms max={max(lat) * 1000:.0f} ms"
        + (f"; killed with {r['killed_at']} groups done" if r["killed_at"] is not None else "")
        + f"; wall incl. process start{'s' if r['killed_at'] is not None else ''} {r['wall']:.1f} s",
        flush=True,
    )


async def parent(args: argparse.Namespace) -> None:
    # This process is "Telegram's servers". The fake keeps every request and message it saw;
    # with thousands of them a garbage-collection pass stalls its event loop for a few hundred
    # ms, after which it timestamps the queued requests all at once and answers 429 to a
    # burst the bot never sent. Reference counting frees what this process drops.
    gc.disable()
    print(
        f"broadcast of one notice to {args.groups} Telegram groups, fake Bot API with real limits "
        f"(30/s per bot, 20/min per group); floor = {args.groups}/{PER_SECOND} = "
        f"{args.groups / PER_SECOND:.1f} s",
        flush=True,
    )
    for name in args.scenarios:
        log(f"scenario {name}: running")
        report(await scenario(name, args.groups, args.tg_max_retries))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--groups", type=int, default=2000)
    p.add_argument(
        "--scenarios", nargs="+", default=["clean", "429", "kill"], choices=["clean", "429", "kill"]
    )
    p.add_argument(
        "--tg-max-retries",
        type=int,
        default=5,
        help="[telegram] max_retries of the bot (PTB retries a 429 itself, pausing every send "
        "for retry_after; 0 hands it straight back to the outbox). Default: the shipped 5",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--base-url", help=argparse.SUPPRESS)
    p.add_argument("--base-file-url", help=argparse.SUPPRESS)
    args = p.parse_args()
    asyncio.run(child(args) if args.child else parent(args))


if __name__ == "__main__":
    main()
