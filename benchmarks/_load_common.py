"""Shared parts of the whole-bot load tests (``telegram_load.py``, ``slack_load.py``).

Questions and their mix, the bot's child process (warm-up, READY handshake, stats on SIGTERM),
the paced injection loop, latency statistics and the report lines both scripts print.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "tests" / "data" / "sample_queries.jsonl"
KB_DIR = ROOT / "kb"

KINDS = ("faq", "pii", "out-of-kb", "urgent", "chitchat")
TICKET_KINDS = ("out-of-kb", "urgent")
TICKET_NO = re.compile(r"#(\d{4}-\d{6})")

Json = dict[str, Any]


def config_base(tmp: Path) -> list[str]:
    """The first lines of every load benchmark's config.toml: state in ``tmp``, the sample KB."""
    return [
        f'data_dir = "{tmp}"',
        "[storage]",
        f'url = "sqlite:///{tmp}/bot.db"',
        "[kb]",
        f'dir = "{KB_DIR}"',
        f'index_dir = "{tmp}/index"',
    ]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ================================================================================================
# statistics
# ================================================================================================


def pct(values: Sequence[float], p: float) -> float:
    """Percentile with linear interpolation (p in 0..100); nan for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def fmt_ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def vmax(values: Sequence[float]) -> float:
    """max, nan for no values."""
    return max(values) if values else math.nan


def latency_stats(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(p50, p95, p99, max)."""
    return pct(values, 50), pct(values, 95), pct(values, 99), vmax(values)


def p50_p95_max(values: Sequence[float]) -> str:
    """``p50 X p95 Y max Z`` (ms figures)."""
    return f"p50 {fmt_ms(pct(values, 50))} p95 {fmt_ms(pct(values, 95))} max {fmt_ms(vmax(values))}"


@contextlib.contextmanager
def pg_schema(base_url: str, prefix: str) -> Iterator[str]:
    """The URL of a fresh schema ``<prefix>_<random>`` of the PostgreSQL at ``base_url``,
    dropped with everything in it at the end."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# ================================================================================================
# questions
# ================================================================================================


def load_queries() -> list[Json]:
    return [json.loads(line) for line in QUERIES.read_text("utf-8").splitlines() if line.strip()]


def parse_mix(spec: str | None, queries: list[Json]) -> dict[str, int]:
    """``faq=25,urgent=6`` → weights per kind; None → the file's own proportions."""
    available = Counter(q["kind"] for q in queries)
    if not spec:
        return dict(available)
    weights: dict[str, int] = {}
    for part in spec.split(","):
        kind, _, w = part.strip().partition("=")
        if kind not in available:
            raise SystemExit(f"--mix: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        weights[kind] = int(w) if w else available[kind]
    if not any(weights.values()):
        raise SystemExit("--mix: all weights are zero")
    return weights


def mix_fractions(weights: dict[str, int]) -> tuple[float, float]:
    """(share of questions that expect a reply, share that open a ticket)."""
    total_w = sum(weights.values())
    reply_frac = sum(w for k, w in weights.items() if k != "chitchat") / total_w
    ticket_frac = sum(w for k, w in weights.items() if k in TICKET_KINDS) / total_w
    return reply_frac, ticket_frac


def mix_text(weights: dict[str, int]) -> str:
    return ", ".join(f"{k}={w}" for k, w in weights.items())


class Deck:
    """Questions in a seeded random order whose kinds follow the mix exactly per pass."""

    def __init__(self, queries: list[Json], weights: dict[str, int], seed: int) -> None:
        by_kind: dict[str, list[Json]] = defaultdict(list)
        for q in queries:
            by_kind[q["kind"]].append(q)
        self.cards = [
            by_kind[kind][i % len(by_kind[kind])] for kind, w in weights.items() for i in range(w)
        ]
        self.rng = random.Random(seed)
        self.pending: list[Json] = []

    def draw(self) -> Json:
        if not self.pending:
            self.pending = self.cards[:]
            self.rng.shuffle(self.pending)
        return self.pending.pop()


# ================================================================================================
# the bot, in a child process
# ================================================================================================


def child_logging(info_logger: str) -> None:
    """WARNING and up on stderr; ``info_logger`` (where rate-limit waits are logged) at INFO."""
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger(info_logger).setLevel(logging.INFO)


def warm_up(engine: Any) -> list[float]:
    """Decide every sample query twice (the model's pages, faiss, BM25); returns the second,
    warm, decide latencies (ms)."""
    warm: list[float] = []
    texts = [json.loads(line)["query"] for line in QUERIES.read_text("utf-8").splitlines()]
    for text in texts:
        engine.decide(text)
    for text in texts:
        t0 = time.perf_counter()
        engine.decide(text)
        warm.append((time.perf_counter() - t0) * 1000)
    return warm


async def serve_until_stopped(
    app: Any, ready: str, stats_out: str, stats: Json, *, profile: str | None = None
) -> NoReturn:
    """Print ``ready`` and run until SIGTERM/SIGINT; then write ``stats`` (+ CPU and wall time
    of the run) to ``stats_out``, stop the app (5 s at most) and exit the process."""
    import cProfile

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    profiler = cProfile.Profile() if profile else None
    cpu0, wall0 = time.process_time(), time.monotonic()
    if profiler is not None:
        profiler.enable()
    print(ready, flush=True)
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    stats = {
        **stats,
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.monotonic() - wall0,
    }
    Path(stats_out).write_text(json.dumps(stats), encoding="utf-8")
    # sends still queued behind the rate limits would keep app.stop() waiting for minutes
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(app.stop(), 5)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ================================================================================================
# the driver's side of the child process
# ================================================================================================


class BotDidNotStart(Exception):
    """The bot process exited or timed out before printing READY (its log tail printed)."""


async def wait_ready(proc: asyncio.subprocess.Process, timeout: float) -> str | None:
    """The rest of the child's ``READY[ rest]`` line ("" for a bare READY); None if it exited
    or timed out first."""
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    return None
                if line.strip() == b"READY" or line.startswith(b"READY "):
                    return line.strip()[len(b"READY") :].strip().decode()
    except TimeoutError:
        return None


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    ready: str  # what followed READY on the child's line
    start_s: float  # seconds from launch to READY


@contextlib.asynccontextmanager
async def bot_process(
    script: str,
    child_args: list[str],
    child_log: Path,
    *,
    omp_threads: int | None,
    start_timeout: float,
) -> AsyncIterator[BotProcess]:
    """Run ``script --bot-child *child_args`` (stderr into ``child_log``) until READY; stop it
    (SIGTERM, then kill) on exit. Raises BotDidNotStart after printing the end of its log."""
    cmd = [sys.executable, script, "--bot-child", *child_args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    if omp_threads:
        env["OMP_NUM_THREADS"] = str(omp_threads)
    log(f"starting the bot (index build + warm-up) — log in {child_log}")
    with child_log.open("wb") as errf:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=errf, env=env, cwd=str(ROOT)
        )
        try:
            t_start = time.monotonic()
            ready = await wait_ready(proc, start_timeout)
            if ready is None:
                await stop_child(proc)
                tail = child_log.read_text("utf-8", "replace")[-3000:]
                print(f"the bot did not start; end of its log:\n{tail}")
                raise BotDidNotStart
            yield BotProcess(proc, ready, time.monotonic() - t_start)
        finally:
            await stop_child(proc)


def read_child_outputs(stats_file: Path, child_log: Path) -> tuple[Json, str]:
    """(the stats the child wrote when stopped, or {}; the child's log)."""
    stats: Json = {}
    if stats_file.exists():
        stats = json.loads(stats_file.read_text("utf-8"))
    return stats, child_log.read_text("utf-8", "replace")


def print_host(omp_threads: int | None) -> None:
    omp = omp_threads or os.environ.get("OMP_NUM_THREADS") or "unset (all cores)"
    print(f"CPUs: {os.cpu_count()}; load average before: {loadavg()}; bot OMP_NUM_THREADS: {omp}")
    sys.stdout.flush()


# ================================================================================================
# the paced injection
# ================================================================================================


@dataclass
class PacedRun:
    t0: float
    t_end: float
    lag_max: float


async def paced_injection(
    n_questions: int,
    rate: float,
    proc: asyncio.subprocess.Process,
    inject: Callable[[int], None],
    *,
    progress: Callable[[float], None],
    scan: Callable[[], None],
    done: Callable[[], bool],
    grace_s: float,
    after: Callable[[], Awaitable[None]] | None = None,
) -> PacedRun:
    """``inject(n)`` for n in 0..n_questions-1 at ``rate``/s (``progress(elapsed)`` every 5 s),
    stop early if the bot dies; then ``after()``, and ``scan()`` every 0.1 s until ``done()``
    or ``grace_s`` after the last question."""
    t0 = time.monotonic()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(5)
            progress(time.monotonic() - t0)

    task = asyncio.create_task(ticker())
    lag_max = 0.0
    try:
        for n in range(n_questions):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag_max = max(lag_max, -delay)
            inject(n)
            if proc.returncode is not None:
                log("the bot process died during the run")
                break
        t_end = time.monotonic()
        if after is not None:
            await after()
        deadline = t_end + grace_s
        while time.monotonic() < deadline:
            scan()
            if done():
                break
            await asyncio.sleep(0.1)
        scan()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return PacedRun(t0, t_end, lag_max)


# ================================================================================================
# report lines
# ================================================================================================


class _Asked(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def expected(self) -> bool: ...


Q = TypeVar("Q", bound=_Asked)


def repeated(texts: Sequence[str]) -> bool:
    """A question's replies hold the same text twice: a message sent twice."""
    return len(set(texts)) < len(texts)


def print_reply_counts(
    expected: Sequence[Any],
    got: Sequence[Any],
    lost: Sequence[Any],
    dups: Sequence[Any],
    unexpected: Sequence[Any],
    *,
    grace_s: float,
    lost_note: str = "",
    follow_ups: int = 0,
) -> None:
    print(f"replies expected:            {len(expected)}  (all but chit-chat)")
    print(
        f"replies received:            {len(got)}  (within {grace_s:g} s after the last question)"
    )
    print(f"lost:                        {len(lost)}{lost_note}")
    print(f"duplicates:                  {len(dups)}  (questions given the same reply twice)")
    print(
        f"follow-ups:                  {follow_ups}  (a second, different reply: a P1's paging outcome)"
    )
    print(f"replies to chit-chat:        {len(unexpected)}  (should be 0)")


def print_kind_table(qs: Sequence[Q], first_reply: Callable[[Q], float | None]) -> None:
    """Per kind: sent, replied, lost and the latency to the first reply (ms)."""
    print(f"  {'kind':<10} {'sent':>5} {'replied':>7} {'lost':>5} {'p50':>8} {'p95':>8} {'max':>8}")
    for kind in KINDS:
        kq = [q for q in qs if q.kind == kind]
        if not kq:
            continue
        firsts = [(q, first_reply(q)) for q in kq]
        kl = [(a - q.at) * 1000 for q, a in firsts if a is not None]
        k_lost = sum(1 for q, a in firsts if q.expected and a is None)
        print(
            f"  {kind:<10} {len(kq):>5} {len(kl):>7} {k_lost:>5} {fmt_ms(pct(kl, 50)):>8} "
            f"{fmt_ms(pct(kl, 95)):>8} {fmt_ms(vmax(kl)):>8}"
        )


def print_resources(stats: Json, cpu_parent: float) -> None:
    """The CPU use of both processes and the warm decide latency measured by the child."""
    cpu_bot, wall_bot = stats.get("cpu_s", math.nan), stats.get("wall_s", math.nan)
    print(
        f"CPUs: {os.cpu_count()}; bot process CPU {cpu_bot:.1f} s over {wall_bot:.1f} s "
        f"({cpu_bot / wall_bot:.0%} of one core); fake+driver CPU {cpu_parent:.1f} s; "
        f"load average after: {loadavg()}"
    )
    warm = stats.get("warm_decide_ms", [])
    if warm:
        print(
            f"decide alone, sequential before the load (warm): {p50_p95_max(warm)} ms over "
            f"{len(warm)} queries"
        )
