"""Chaos benchmark: is anything lost or sent twice when the bot is killed, its database
stops and Telegram times out?

The parent runs the fake Bot API of ``tests/fakes/telegram_api.py`` on 127.0.0.1 and the real
bot as a subprocess (``python -m bot run`` with a generated config.toml), then plays a mixed
workload against it for ``--seconds``: hospital questions (the sample queries the KB answers),
「没解决」 presses under the answers (→ tickets, hospital notices and desk cards), engineers'
接单 presses on the cards and ``/resolve`` in the desk. Meanwhile:

* the bot is killed with SIGKILL ``--kills`` times at random moments and restarted at once;
* for ``--timeout-seconds`` every sendMessage is carried out by the fake but its answer is
  never sent (the connection drops: for the bot, a timeout after the request went out);
* with ``--disk-full-seconds`` the filesystem of ``--state-dir`` (a small one of its own,
  e.g. ``mount -t tmpfs -o size=64m tmpfs /mnt/hisbot-chaos`` as root) is filled to the last
  byte for that long, then freed: the bot's database cannot grow (SQLite), its log is kept
  elsewhere;
* with ``--pg`` (a URL of a PostgreSQL cluster *of its own*, started with ``scripts/postgres.sh``
  under another ``HISBOT_PG_DIR``/``HISBOT_PG_PORT``; never the shared test cluster) the
  database is stopped for ``--db-down-seconds`` with ``pg_ctl stop`` and started again.

After the traffic the bot is left running until nothing has been sent for a while, and the
script counts, from the fake's record of every message the bot posted and the database:

* questions — each must have exactly one bot message replying to it (answer/confirm/clarify,
  or the ticket notice when the KB cannot answer);
* tickets, notices — each 「没解决」 must give exactly one ticket and one hospital notice;
* cards — each ticket exactly one card in the desk;
* claims, resolves — each 接单 / ``/resolve`` exactly one 「已受理」 / 「处理完成」 to the hospital;

and prints lost and duplicated counts, plus how long the bot took after each restart to poll
again and to send again. It asserts nothing. About ``--seconds`` + 1–2 min.

    .venv/bin/python benchmarks/chaos.py                      # 180 s, 12 kills, 60 s timeouts
    .venv/bin/python benchmarks/chaos.py --seconds 90 --kills 10 --timeout-seconds 30
    mount -t tmpfs -o size=64m tmpfs /mnt/hisbot-chaos     # as root, for the disk-full run
    .venv/bin/python benchmarks/chaos.py --disk-full-seconds 30 --state-dir /mnt/hisbot-chaos
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._load_common import KB_DIR, QUERIES  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram, SentMessage  # noqa: E402

TOKEN = "123456:CHAOS-token"
DESK = -1009000
GROUPS = [-1001000 - n for n in range(12)]
ENGINEER = 5001
NURSE = 7001
NUMBER = re.compile(r"#(\d{4}-\d{6})")


def config(tmp: Path, tg: FakeTelegram, db_url: str) -> str:
    lines = [
        f'data_dir = "{tmp}"',
        "[storage]",
        f'url = "{db_url}"',
        "[kb]",
        f'dir = "{KB_DIR}"',
        f'index_dir = "{tmp}/index"',
        "[web]",
        "enabled = false",
        "[telegram]",
        f'base_url = "{tg.base_url}"',
        f'base_file_url = "{tg.base_file_url}"',
        f"engineers_chat = {DESK}",
        "poll_timeout = 1",
        "network_backoff = 0.2",
        "[[engineers]]",
        'id = "e01"',
        'name = "王工"',
        f"telegram_user = {ENGINEER}",
    ]
    for n, group in enumerate(GROUPS):
        lines += [
            "[[hospitals]]",
            f'id = "h{n:03d}"',
            f'name = "第{n + 1}人民医院"',
            f"telegram_chats = [{group}]",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Workload:
    """What the parent did, to compare with what the bot sent."""

    questions: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, mid) → text
    escalated: set[tuple[int, int]] = field(default_factory=set)  # questions pressed 没解决
    claimed: set[str] = field(default_factory=set)  # ticket numbers
    resolved: set[str] = field(default_factory=set)


class Bot:
    """The bot's process: started, killed, restarted."""

    def __init__(self, cfg: Path, log: Path) -> None:
        self.cfg, self.log = cfg, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts: list[float] = []

    def start(self) -> None:
        env = {**os.environ, "HISBOT_TELEGRAM_TOKEN": TOKEN, "HF_HUB_OFFLINE": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(self.cfg), "run"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts.append(time.monotonic())

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    async def supervise(self, until: float) -> None:
        """Restart the bot when it exits on its own (e.g. it cannot reach its database at
        start), as systemd's Restart=always would, one second later."""
        while time.monotonic() < until:
            await asyncio.sleep(1.0)
            if self.proc is not None and self.proc.poll() is not None:
                print(f"bot exited ({self.proc.returncode}); restarting", file=sys.stderr)
                self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def questions() -> list[str]:
    rows = [json.loads(line) for line in QUERIES.read_text("utf-8").splitlines() if line.strip()]
    return [r["query"] for r in rows if r.get("kind") == "faq"]


def no_button(msg: SentMessage) -> str | None:
    for b in msg.buttons:
        data = b.get("callback_data") or ""
        if data.startswith("no:"):
            return str(data)
    return None


async def drive(tg: FakeTelegram, work: Workload, until: float, rate: float, seed: int) -> None:
    """Questions at ``rate``/s; 没解决 under 40 % of the answers; 接单 on every card; /resolve
    after every 「已受理」. Each action is taken once, whatever the bot sends."""
    rng = random.Random(seed)
    texts = questions()
    pressed: set[int] = set()  # bot message ids whose 没解决 was pressed (or skipped)
    next_q = time.monotonic()
    seen = 0
    while time.monotonic() < until:
        now = time.monotonic()
        if now >= next_q:
            chat = rng.choice(GROUPS)
            msg = tg.user_message(chat, NURSE, rng.choice(texts), first_name="护士小张")
            work.questions[(chat, int(msg["message_id"]))] = msg["text"]
            next_q = now + rng.expovariate(rate)
        sent = tg.sent_messages()
        for m in sent[seen:]:
            key = (m.chat_id, m.reply_to or 0)
            if m.chat_id in GROUPS and key in work.questions and m.message_id not in pressed:
                pressed.add(m.message_id)
                data = no_button(m)
                if data and key not in work.escalated and rng.random() < 0.4:
                    work.escalated.add(key)
                    tg.callback_query(m.chat_id, NURSE, m.message_id, data)
            elif m.chat_id == DESK and "🎫" in (m.text or "") and m.buttons:
                number = NUMBER.search(m.text or "")
                if number and number.group(1) not in work.claimed:
                    work.claimed.add(number.group(1))
                    data = m.buttons[0]["callback_data"]
                    tg.callback_query(DESK, ENGINEER, m.message_id, data)
            elif m.chat_id in GROUPS and "已受理" in (m.text or ""):
                number = NUMBER.search(m.text or "")
                if number and number.group(1) not in work.resolved:
                    work.resolved.add(number.group(1))
                    tg.user_message(DESK, ENGINEER, f"/resolve {number.group(1)} 已远程处理")
        seen = len(sent)
        await asyncio.sleep(0.05)


async def quiet(tg: FakeTelegram, idle: float, limit: float) -> float:
    """Wait until the bot has sent nothing for ``idle`` s (at most ``limit`` s); returns when
    the last message went out (monotonic)."""
    deadline = time.monotonic() + limit
    count, last = len(tg.sent_messages()), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now_count = len(tg.sent_messages())
        if now_count != count:
            count, last = now_count, time.monotonic()
        elif time.monotonic() - last >= idle and not tg.pending_updates:
            break
    return last


def tally(tg: FakeTelegram, work: Workload) -> dict[str, tuple[int, int, int]]:
    """(expected, lost, duplicated) per kind."""
    replies: Counter[tuple[int, int]] = Counter()
    notices: dict[tuple[int, int], list[str]] = defaultdict(list)
    cards: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    done: Counter[str] = Counter()
    for m in tg.sent_messages():
        # as first sent: an answer edited after 「没解决」 to name its ticket is still the
        # question's reply, not a second ticket notice
        text = str(m.params.get("text") or m.text or "")
        number = NUMBER.search(text)
        if m.chat_id == DESK:
            if "🎫" in text or "汇总" in text:  # a card shows one ticket, a digest several
                for shown in set(NUMBER.findall(text)):
                    cards[shown] += 1
            continue
        key = (m.chat_id, m.reply_to or 0)
        if "已受理" in text and number:
            accepted[number.group(1)] += 1
        elif "处理完成" in text and number:
            done[number.group(1)] += 1
        elif "工单" in text and number and key in work.escalated:
            notices[key].append(number.group(1))
        elif key in work.questions:
            replies[key] += 1
    # a question the KB could not answer gets the ticket notice as its reply
    for key, numbers in list(notices.items()):
        if key not in work.escalated:
            replies[key] += len(numbers)
    tickets = {n for ns in notices.values() for n in ns}

    def count(expected: set[Any], seen: Counter[Any]) -> tuple[int, int, int]:
        lost = sum(1 for k in expected if seen[k] == 0)
        dup = sum(seen[k] - 1 for k in expected if seen[k] > 1)
        return len(expected), lost, dup

    notice_count: Counter[tuple[int, int]] = Counter({k: len(v) for k, v in notices.items()})
    ticket_per_escalation: Counter[tuple[int, int]] = Counter(
        {k: len(set(v)) for k, v in notices.items()}
    )
    return {
        "questions": count(set(work.questions), replies),
        "tickets": count(work.escalated, ticket_per_escalation),
        "notices": count(work.escalated, notice_count),
        "cards": count(tickets, cards),
        "claims": count(work.claimed, accepted),
        "resolves": count(work.resolved, done),
    }


#: ``--disk-full-seconds`` refuses a filesystem with more free space than this: it is meant
#: for a small one of its own, never a real disk.
DISK_FULL_LIMIT = 1 << 30


def fill(directory: Path) -> Path:
    """Write a file into ``directory`` until its filesystem is full; returns the file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: closing writes nothing more
        for chunk in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while out.write(b"\0" * chunk):
                    pass
    return filler


def pg_ctl(url: str, action: str) -> None:
    """``pg_ctl stop|start`` for the cluster of ``scripts/postgres.sh`` (as the postgres user)."""
    data = Path(os.environ.get("HISBOT_PG_DIR", "/tmp/hisbot-pg")) / "data"
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    cmd = [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", action]
    if action == "start":  # the server options scripts/postgres.sh starts it with
        port = url.rsplit(":", 1)[1].split("/", 1)[0]
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data.parent} -c fsync=off"
        cmd += ["-l", str(data.parent / "postgres.log"), "-o", options]
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hisbot-chaos-", dir=args.state_dir))
    logs = Path(tempfile.mkdtemp(prefix="hisbot-chaos-log-")) if args.state_dir else tmp
    db_url = args.pg or f"sqlite:///{tmp}/bot.db"
    async with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(DESK, chat_type="supergroup", title="工程师群")
        tg.add_user(ENGINEER, first_name="王工")
        cfg = tmp / "config.toml"
        cfg.write_text(config(tmp, tg, db_url), "utf-8")
        bot = Bot(cfg, logs / "bot.log")
        print(f"state in {tmp}; warming up (index build) …", file=sys.stderr)
        bot.start()
        await tg.wait_until(lambda: tg.calls_to("getUpdates"), timeout=600, what="first poll")
        rng = random.Random(args.seed)
        start = time.monotonic()
        until = start + args.seconds
        kills = sorted(rng.uniform(3, args.seconds - 5) for _ in range(args.kills))
        timeout_at = start + rng.uniform(5, max(6.0, args.seconds - args.timeout_seconds - 5))
        db_down_at = start + args.seconds * 0.3
        work = Workload()
        driver = asyncio.create_task(drive(tg, work, until, args.rate, args.seed))
        supervisor = asyncio.create_task(bot.supervise(until + args.settle))
        recoveries: list[asyncio.Task[tuple[float, float]]] = []
        events: list[tuple[float, str]] = [(start + k, "kill") for k in kills]
        events += [(timeout_at, "timeouts on"), (timeout_at + args.timeout_seconds, "timeouts off")]
        if args.pg:
            events += [(db_down_at, "db stop"), (db_down_at + args.db_down_seconds, "db start")]
        if args.disk_full_seconds:
            disk_at = start + args.seconds * 0.6
            events += [(disk_at, "disk full"), (disk_at + args.disk_full_seconds, "disk freed")]
        filler: Path | None = None
        for at, what in sorted(events):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            print(f"{at - start:6.1f} s  {what}", file=sys.stderr)
            if what == "kill":
                bot.kill()
                polls, sends = len(tg.calls_to("getUpdates")), len(tg.sent_messages())
                restarted = time.monotonic()
                bot.start()
                recoveries.append(
                    asyncio.create_task(
                        _recovered(tg, restarted, polls, sends, until + args.settle)
                    )
                )
            elif what == "timeouts on":
                tg.lose_answer_next("sendMessage", 10**9)
            elif what == "timeouts off":
                tg.clear_faults()
            elif what == "db stop":
                await asyncio.to_thread(pg_ctl, args.pg, "stop")
            elif what == "db start":
                await asyncio.to_thread(pg_ctl, args.pg, "start")
            elif what == "disk full":
                filler = await asyncio.to_thread(fill, tmp)
            elif what == "disk freed" and filler is not None:
                filler.unlink()
        await driver
        last = await quiet(tg, idle=10.0, limit=args.settle)
        supervisor.cancel()
        bot.stop()
        recovery = [await r for r in recoveries]  # (to poll again, to send again) per kill
        results = tally(tg, work)
        unknown = interrupted = "-"
        if not args.pg:
            import sqlite3

            with sqlite3.connect(tmp / "bot.db") as conn:
                unknown, interrupted = (
                    str(conn.execute(sql).fetchone()[0])
                    for sql in (
                        "SELECT count(*) FROM outbox_message WHERE state = 'unknown'",
                        "SELECT count(*) FROM outbox_message WHERE state = 'unknown' "
                        "AND error LIKE 'interrupted%'",
                    )
                )
    print(
        f"chaos: {args.seconds:.0f} s of traffic at {args.rate}/s, {len(kills)} × kill -9, "
        f"{args.timeout_seconds:.0f} s of sendMessage timeouts"
        + (f", database stopped {args.db_down_seconds:.0f} s" if args.pg else "")
        + (f", disk full {args.disk_full_seconds:.0f} s" if args.disk_full_seconds else "")
        + f" ({'PostgreSQL' if args.pg else 'SQLite'})"
    )
    print(f"{'':10} {'expected':>9} {'lost':>6} {'duplicated':>11}")
    for kind, (expected, lost, dup) in results.items():
        print(f"{kind:10} {expected:9d} {lost:6d} {dup:11d}")
    polls = [p for p, _ in recovery if p == p]
    sends = [s for _, s in recovery if s == s]
    if polls:
        print(
            f"recovery after kill -9: polling again in {min(polls):.1f}–{max(polls):.1f} s "
            f"(median {sorted(polls)[len(polls) // 2]:.1f}); first message sent "
            f"{min(sends):.1f}–{max(sends):.1f} s after the restart"
        )
    print(
        f"drained {last - until:.1f} s after the traffic stopped; sends of unknown outcome "
        f"recorded (not re-sent): {unknown}, of which {interrupted} were in flight when the "
        f"bot was killed (sent or not: Telegram cannot be asked); log: {logs / 'bot.log'}"
    )


async def _recovered(
    tg: FakeTelegram, since: float, polls: int, sends: int, limit: float
) -> tuple[float, float]:
    """Seconds from the restart until the new process polls, and until it sends."""
    polled = sent = float("nan")
    while time.monotonic() < limit and (polled != polled or sent != sent):
        if polled != polled and len(tg.calls_to("getUpdates")) > polls:
            polled = time.monotonic() - since
        if sent != sent and len(tg.sent_messages()) > sends:
            sent = time.monotonic() - since
        if polled == polled and time.monotonic() - since > 60:
            break  # nothing to send: recovered as far as this can tell
        await asyncio.sleep(0.05)
    return polled, sent


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=180.0, help="traffic duration")
    p.add_argument("--rate", type=float, default=1.0, help="questions per second")
    p.add_argument("--kills", type=int, default=12)
    p.add_argument("--timeout-seconds", type=float, default=60.0)
    p.add_argument("--pg", help="URL of a PostgreSQL cluster of its own (see the docstring)")
    p.add_argument("--db-down-seconds", type=float, default=30.0)
    p.add_argument("--settle", type=float, default=120.0, help="max wait for the bot to drain")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument(
        "--disk-full-seconds",
        type=float,
        default=0.0,
        help="fill --state-dir's filesystem for this long (0: never)",
    )
    p.add_argument("--state-dir", help="where the bot's database goes (a small filesystem)")
    parsed = p.parse_args()
    if parsed.disk_full_seconds:
        if parsed.pg or not parsed.state_dir:
            p.error("--disk-full-seconds needs --state-dir (SQLite) on a small filesystem")
        if shutil.disk_usage(parsed.state_dir).free > DISK_FULL_LIMIT:
            p.error(f"{parsed.state_dir} has more than 1 GiB free: not a filesystem to fill")
    asyncio.run(main(parsed))
