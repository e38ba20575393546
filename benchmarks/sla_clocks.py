"""What running SLA clocks cost the chat: message → reply latency with 0 and with 500 open
tickets whose clocks run, while the clock worker ticks every ``--tick`` seconds (15 as shipped;
0.5 to stress it).

The real bot (``build_app``: pipeline, ticket store, SLA watch, SQLite in a temporary folder,
the sample KB and the default model) answers FAQ questions posted into the web chat adapter
(the playground's platform, in-process: the latency is the core's, not a network's). Latency =
from ``WebAdapter.post`` to the adapter's ``send`` of the reply (wrapped at run time; no product
code is changed). 500 open tickets (P1–P4) are opened with their clocks; then A/B rounds
alternate, asking the same questions at the same pace: A with every clock paused and the
worker stopped, B with the 500 clocks running and the worker ticking. Interleaving keeps a
shared machine's drift out of the difference. Prints figures; asserts nothing.

Usage::

    .venv/bin/python benchmarks/sla_clocks.py                 # 300 questions per phase at 10/s
    .venv/bin/python benchmarks/sla_clocks.py --questions 100 --tickets 2000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _load_common import ROOT, config_base, latency_stats, load_queries, log

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOSPITALS = 20


def write_config(tmp: Path, tick: float) -> Path:
    lines = [*config_base(tmp), "[web]", "enabled = true", "[sla]", f"tick_seconds = {tick}"]
    for i in range(HOSPITALS):
        lines += ["[[hospitals]]", f'id = "h{i:03d}"', f'name = "第{i}医院"']
    lines += ["[[engineers]]", 'id = "e01"', 'name = "王工"', 'roles = ["engineer", "lead"]']
    path = tmp / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def open_tickets(app: Any, n: int) -> list[str]:
    services = app.services
    rng = random.Random(7)
    numbers = []
    for i in range(n):
        t = services.tickets.open_ticket(
            hospital_id=f"h{i % HOSPITALS:03d}",
            reporter_platform="web", reporter_user_id=f"u{i}", reporter_name="信息科",
            source_platform="web", source_chat_id=f"h{i % HOSPITALS:03d}",
            source_message_id=f"bench-{i}", question=f"第{i}个问题：收费处打印机脱机",
            category="usage", urgency=rng.choice(["P1", "P2", "P3", "P4"]),
        )  # fmt: skip
        services.sla.clocks.start(t.number, services.clock())
        numbers.append(t.number)
    return numbers


async def set_running(app: Any, numbers: list[str], running: bool) -> None:
    """Phase A: every clock paused and the worker stopped; phase B: clocks and worker run."""
    watch = app.services.sla
    step = watch.clocks.resume if running else watch.clocks.pause
    now = watch.now()
    await asyncio.to_thread(lambda: [step(n, now) for n in numbers])
    if running:
        watch.start(app.settings.sla.tick_seconds)
    else:
        await watch.stop()


async def phase(app: Any, questions: list[str], rate: float) -> list[float]:
    from adapters.base import Sender

    chat = app.web_chat
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    original = chat.send

    async def send(reply: Any) -> Any:
        ref = await original(reply)
        start = sent_at.pop(reply.reply_to or "", None)
        if start is not None:
            latencies.append((time.perf_counter() - start) * 1000)
            if len(latencies) == len(questions):
                done.set()
        return ref

    chat.send = send
    try:
        for i, text in enumerate(questions):
            entry = await chat.post(f"h{i % HOSPITALS:03d}", Sender(f"u{i}", "护士"), text, None)
            sent_at[entry.id] = time.perf_counter()
            await asyncio.sleep(1 / rate)
        async with asyncio.timeout(60):
            await done.wait()
    finally:
        chat.send = original
    return latencies


async def run(args: argparse.Namespace) -> None:
    from bot.app import build_app
    from bot.infra.config import Secrets, load_settings

    tmp = Path(tempfile.mkdtemp(prefix="hisbot-sla-"))
    try:
        settings = load_settings(write_config(tmp, args.tick))
        settings = dataclasses.replace(settings, web=dataclasses.replace(settings.web, port=0))
        app = build_app(settings, Secrets.from_env({}), adapters=[])
        for i in range(HOSPITALS):  # what opening the playground does for a hospital
            app.services.registry.add_chat("web", f"h{i:03d}", f"h{i:03d}")
        await app.start()
        faq = [q["query"] for q in load_queries() if q["kind"] == "faq"]
        rng = random.Random(1)
        asked = [rng.choice(faq) for _ in range(args.questions)]
        log("warm-up")
        await phase(app, asked[:50], args.rate)
        log(f"opening {args.tickets} tickets with running clocks")
        t0 = time.perf_counter()
        numbers = await asyncio.to_thread(open_tickets, app, args.tickets)
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        await app.services.sla.tick()
        tick_ms = (time.perf_counter() - t0) * 1000
        base: list[float] = []
        loaded: list[float] = []
        per_round = max(1, args.questions // args.rounds)
        for r in range(args.rounds):  # interleaved, so the machine's drift hits both alike
            chunk = asked[r * per_round : (r + 1) * per_round]
            await set_running(app, numbers, running=False)
            log(f"round {r + 1}/{args.rounds}: clocks paused, worker stopped")
            base += await phase(app, chunk, args.rate)
            await set_running(app, numbers, running=True)
            log(f"round {r + 1}/{args.rounds}: {args.tickets} clocks running, worker ticking")
            loaded += await phase(app, chunk, args.rate)
        await app.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"== SLA clocks: message → reply in the web chat, clock worker ticking every {args.tick:g} s =="
    )
    print(f"{args.questions} FAQ questions per phase at {args.rate:g}/s over {HOSPITALS} hospitals")
    print(f"{args.rounds} interleaved rounds: clocks paused + worker stopped / clocks running")
    for name, values in (("0 running clocks", base), (f"{args.tickets} running clocks", loaded)):
        p50, p95, p99, mx = latency_stats(values)
        print(
            f"  {name:<18} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  max {mx:6.1f} ms"
        )
    delta = latency_stats(loaded)[1] - latency_stats(base)[1]
    print(f"p95 added by {args.tickets} running clocks: {delta:+.1f} ms (target ≤ 5 ms)")
    print(
        f"one clock-worker tick over {args.tickets} clocks: {tick_ms:.1f} ms; setup {setup:.1f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--tickets", type=int, default=500)
    ap.add_argument("--rate", type=float, default=10.0, help="questions per second")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved A/B rounds")
    ap.add_argument("--tick", type=float, default=15.0, help="[sla] tick_seconds (default 15)")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
