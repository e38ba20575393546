"""Chaos benchmark: three ``hisbot run`` workers on PostgreSQL, killed at random.

Everything runs on 127.0.0.1: a PostgreSQL cluster of its own (``scripts/postgres.sh`` with
``HISBOT_PG_DIR``/``HISBOT_PG_PORT`` set, so stopping it never touches the test suite's), the
fake Bot API of ``tests/fakes/telegram_api.py`` in this process, and three real
``python -m bot run`` processes in polling mode (one of them polls: the ``receive:telegram``
lease; one leads: the timed jobs; every one handles what it stored, takes over a dead one's
events and sends notices; the desk's cards go from the holder of its ``desk:`` lease). While hospital groups ask questions (a few
urgent: a ticket, its desk card, which an engineer claims) and a notice goes to every group, a
random worker is killed with SIGKILL every few seconds and started again; once, PostgreSQL is
stopped for 20 s. Then traffic stops, the workers drain and the script prints:

* questions without reply / answered more than once (a reply is a message replying to it);
* tickets lost (an urgent question without a ticket) / duplicated (two for one);
* desk cards missing / duplicated; claims (接单 pressed) not applied;
* notice groups lost / duplicated / unknown (deliveries the outbox marked unknown: in flight
  when a worker died, not re-sent, listed in ``notice status``);
* after each kill and after the database returned: seconds until a probe question sent at
  that moment was answered (what a hospital waits), and which leases the killed worker held;
* getUpdates 409 conflicts (two pollers at once);
* inbox events never handled or failed, keyed sends left ``unknown`` (in flight at a kill).

Bounded: about ``warm-up + kills × kill-every + 20 s + drain`` (≈ 3–4 minutes by default). It
asserts nothing. Needs root (it starts PostgreSQL as ``scripts/postgres.sh`` does).

    .venv/bin/python benchmarks/cluster_chaos.py                 # 3 workers, 10 kills, 2,000 groups
    .venv/bin/python benchmarks/cluster_chaos.py --groups 300 --kills 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOKEN = "123456:CHAOS-bench"
DESK = -1009000000001
GROUP_BASE = -1003000000000  # group i is GROUP_BASE - i (hospital h00000 + i)
WANG = 5001
NURSE = 7001
PG_DIR = "/tmp/hisbot-pg-chaos"
PG_PORT = "54339"
NOTICE_MARK = "CHAOS通知"
URGENT = "全院HIS都登不上了，急！"
#: Groups 0..PROBES-1 carry the probe questions, the next URGENT_GROUPS the urgent ones, the
#: rest the ordinary questions (and every group gets the notice).
PROBES = 40
URGENT_GROUPS = 60


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pg(action: str) -> str:
    env = {**os.environ, "HISBOT_PG_DIR": PG_DIR, "HISBOT_PG_PORT": PG_PORT}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def schema_url(base: str) -> str:
    """A fresh schema in the chaos cluster (migrated by the first worker)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    schema = f"chaos_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def prepare_db(url: str, groups: int) -> None:
    """The schema, and one hospital per group (bulk: config.toml would be slow to sync)."""
    from sqlmodel import Session

    from bot.infra.db import make_engine
    from bot.registry.models import Hospital, HospitalChat

    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with Session(engine) as s:
        for i in range(groups):
            hid = f"h{i:05d}"
            s.add(Hospital(id=hid, name=f"医院{i}", region="华东", created_at=now, updated_at=now))
            chat = str(GROUP_BASE - i)
            s.add(HospitalChat(platform="telegram", chat_id=chat, hospital_id=hid, created_at=now))
        s.commit()
    engine.dispose()


def send_notice(url: str) -> int:
    """A notice to every group, confirmed at once (every worker's outbox sends its share)."""
    from bot.broadcasts import BroadcastSettings, BroadcastStore, NoticeDraft, NoticeKind, Targets
    from bot.broadcasts.access import Actor
    from bot.infra.db import make_engine
    from bot.registry import RegistryStore

    engine = make_engine(url, create_tables=False)
    store = BroadcastStore(
        engine, RegistryStore(engine), settings=BroadcastSettings(quiet_hours="")
    )
    who = Actor.cli("e05")
    draft = NoticeDraft(
        NoticeKind.ANNOUNCEMENT,
        Targets(everyone=True),
        title="系统维护",
        body=f"{NOTICE_MARK}：本周六 22:00 起维护 2 小时",
    )
    notice = store.create(draft, who)
    assert notice.id is not None
    store.confirm(notice.id, who, skip_test=True)
    engine.dispose()
    return notice.id


def write_config(folder: Path, url: str, tg: Any) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[storage]
url = "{url}"
[kb]
dir = "{ROOT / "kb"}"
index_dir = "{folder / "index"}"
[telegram]
engineers_chat = {DESK}
poll_timeout = 5
base_url = "{tg.base_url}"
base_file_url = "{tg.base_file_url}"
[web]
enabled = false
[broadcast]
quiet_hours = ""
[[engineers]]
id = "e01"
name = "王工"
telegram_user = {WANG}
[[engineers]]
id = "e05"
name = "通知员"
roles = ["broadcaster"]
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Worker:
    slot: int
    config: Path
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def ready(self) -> bool:
        """Started up (migrated, indexed, adapters started) since its last start."""
        log_file = self.logs / f"worker{self.slot}.log"
        return log_file.read_bytes().count(b"hisbot running") >= self.starts

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "HISBOT_TELEGRAM_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
        out = open(self.logs / f"worker{self.slot}.log", "ab")  # noqa: SIM115 (the child's)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(self.config), "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
        out.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Record:
    questions: list[tuple[int, int, str, float]] = field(default_factory=list)  # chat, id, kind, at
    pressed: set[int] = field(default_factory=set)  # desk card message ids 接单 was pressed on
    recoveries: list[tuple[str, float | None]] = field(default_factory=list)
    db_down: tuple[float, float] = (0.0, 0.0)  # monotonic, from the stop to the restart


def replies_to(tg: Any, chat: int, message_id: int, saying: str = "") -> int:
    return sum(
        1 for m in tg.sent_messages(chat) if m.reply_to == message_id and saying in (m.text or "")
    )


async def ask(tg: Any, rec: Record, chat: int, text: str, kind: str) -> int:
    msg = tg.user_message(chat, NURSE, text, first_name="护士小张")
    rec.questions.append((chat, msg["message_id"], kind, time.monotonic()))
    return int(msg["message_id"])


async def probe(tg: Any, rec: Record, label: str, chat: int, limit: float) -> None:
    """Ask now; record how long until the answer (None: not within ``limit``)."""
    t0 = time.monotonic()
    mid = await ask(tg, rec, chat, "收费处小王密码输错好几次 现在登不上了 提示ORA-28000", "probe")
    while time.monotonic() - t0 < limit:
        if replies_to(tg, chat, mid):
            rec.recoveries.append((label, time.monotonic() - t0))
            return
        await asyncio.sleep(0.1)
    rec.recoveries.append((label, None))


async def traffic(
    tg: Any, rec: Record, questions: list[str], groups: int, stop: asyncio.Event
) -> None:
    rng = random.Random(7)
    urgent = iter(range(PROBES, PROBES + URGENT_GROUPS))
    ordinary = PROBES + URGENT_GROUPS
    while not stop.is_set():
        if rng.random() < 0.15:
            group = next(urgent, None)
            if group is not None:
                await ask(tg, rec, GROUP_BASE - group, URGENT, "urgent")
        else:
            group = rng.randrange(ordinary, max(ordinary + 1, groups))
            await ask(tg, rec, GROUP_BASE - group, rng.choice(questions), "question")
        await asyncio.sleep(1.0)


def press_new_cards(tg: Any, rec: Record) -> None:
    """An engineer presses 接单 on every card not pressed yet, once."""
    for card in tg.sent_messages(DESK):
        labels = [b["text"] for b in card.buttons]
        if "接单" in labels and card.message_id not in rec.pressed:
            rec.pressed.add(card.message_id)
            data = card.buttons[labels.index("接单")]["callback_data"]
            tg.callback_query(DESK, WANG, card.message_id, data)


async def claims(tg: Any, rec: Record, stop: asyncio.Event) -> None:
    while not stop.is_set():
        press_new_cards(tg, rec)
        await asyncio.sleep(0.5)


def leases_of(url: str) -> dict[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, owner FROM lease")).all()
        return {str(name): str(owner) for name, owner in rows}
    except Exception:
        return {}
    finally:
        engine.dispose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import json

    from tests.fakes.telegram_api import FakeTelegram

    base = pg("start")
    url = schema_url(base)
    questions = [
        json.loads(line)["query"]
        for line in (ROOT / "tests" / "data" / "sample_queries.jsonl").read_text().splitlines()
        if '"faq"' in line
    ]
    log(f"preparing {args.groups} groups in {url.split('?')[0]}")
    await asyncio.to_thread(prepare_db, url, args.groups)
    rec = Record()
    folder = Path(tempfile.mkdtemp(prefix="hisbot-chaos-"))  # kept: the workers' logs
    async with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(DESK, chat_type="supergroup", title="工程师群")
        tg.add_user(WANG, first_name="王工")
        for i in range(args.groups):
            tg.add_chat(GROUP_BASE - i, chat_type="supergroup", title=f"医院{i}")
        config = write_config(folder, url, tg)
        workers = [Worker(i, config, folder) for i in range(args.workers)]
        t_start = time.monotonic()
        for w in workers:
            w.start()
        # ready: a worker polls and one answers
        await probe(tg, rec, "start", GROUP_BASE, 300)
        log(f"workers up in {time.monotonic() - t_start:.1f}s (logs in {folder})")
        rec.recoveries.clear()
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(traffic(tg, rec, questions, args.groups, stop)),
            asyncio.create_task(claims(tg, rec, stop)),
        ]
        notice_id = await asyncio.to_thread(send_notice, url)
        rng = random.Random(args.seed)
        probes: list[asyncio.Task[None]] = []
        probe_group = iter(range(1, PROBES))
        for k in range(args.kills):
            await asyncio.sleep(args.kill_every)
            if k == args.kills // 2:
                log("stopping PostgreSQL for 20 s")
                down = time.monotonic()
                await asyncio.to_thread(pg, "stop")
                await asyncio.sleep(20)
                await asyncio.to_thread(pg, "start")
                rec.db_down = (down, time.monotonic())
                probes.append(
                    asyncio.create_task(
                        probe(tg, rec, "db back", GROUP_BASE - next(probe_group), 120)
                    )
                )
                await asyncio.sleep(args.kill_every)
            w = rng.choice(workers)
            assert w.proc is not None
            pid = w.proc.pid
            held = [
                n
                for n, o in (await asyncio.to_thread(leases_of, url)).items()
                if f":{pid}:" in o and not n.startswith("worker:")  # each holds its own
            ]
            up = sum(1 for other in workers if other is not w and other.ready())
            w.kill()
            label = (
                f"kill {k + 1} (pid {pid}: {', '.join(held) or 'no lease'}; "
                f"{up} other worker(s) up)"
            )
            log(label)
            w.start()
            probes.append(
                asyncio.create_task(probe(tg, rec, label, GROUP_BASE - next(probe_group), 120))
            )
        await asyncio.sleep(args.kill_every)
        stop.set()
        await asyncio.gather(*tasks, *probes)
        log("traffic stopped; draining")
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            pending = [q for q in rec.questions if not replies_to(tg, q[0], q[1])]
            if not pending and notice_done(url, notice_id):
                break
            press_new_cards(tg, rec)
            await asyncio.sleep(1.0)
        await asyncio.sleep(3)  # cards and claims in flight
        for w in workers:
            await asyncio.to_thread(w.stop)
        return figures(tg, rec, url, notice_id, args)


def notice_done(url: str, notice_id: int) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM notice WHERE id = :i"), {"i": notice_id}
            ).scalar()
        return status == "sent"
    except Exception:
        return False
    finally:
        engine.dispose()


def figures(
    tg: Any, rec: Record, url: str, notice_id: int, args: argparse.Namespace
) -> dict[str, Any]:
    import re

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        tickets = conn.execute(text("SELECT number, hospital_id, accepted_by FROM ticket")).all()
        inbox = dict(
            conn.execute(text("SELECT state, count(*) FROM inbox_event GROUP BY state")).all()
        )
        sends = dict(
            conn.execute(text("SELECT state, count(*) FROM outbox_message GROUP BY state")).all()
        )
        deliveries = conn.execute(
            text("SELECT chat_id, status FROM delivery WHERE notice_id = :i"), {"i": notice_id}
        ).all()
    engine.dispose()
    asked = [q for q in rec.questions if q[2] != "probe"]
    # an ordinary question gets one reply; an urgent one several (ticket opened, paging
    # result, 已受理), of which the one saying the ticket was registered must come once
    replies = {
        (c, m): replies_to(tg, c, m, "登记工单" if kind == "urgent" else "")
        for c, m, kind, _ in asked
    }
    down_from, down_to = rec.db_down
    in_outage = {(c, m) for c, m, _, at in asked if down_from <= at <= down_to + 1}
    urgent_hospitals = {f"h{GROUP_BASE - c:05d}" for c, _, kind, _ in asked if kind == "urgent"}
    per_hospital: dict[str, int] = {}
    for _, hospital, _ in tickets:
        per_hospital[hospital] = per_hospital.get(hospital, 0) + 1
    number = re.compile(r"#(\d{4}-\d{6})")
    cards: dict[str, int] = {}
    for call in tg.calls_to("sendMessage"):  # as sent: a claim edits the 接单 button away
        params = call.params
        if call.status == 200 and params.get("chat_id") == DESK and "接单" in str(params):
            # a card shows one ticket, a digest (汇总) several: each counts as shown once
            for found in set(number.findall(str(params.get("text") or ""))):
                cards[found] = cards.get(found, 0) + 1
    claimed_numbers = set()
    for m in tg.sent_messages(DESK):
        found = number.search(m.text or "")
        if found and m.message_id in rec.pressed:
            claimed_numbers.add(found.group(1))
    accepted = {n for n, _, by in tickets if by}
    groups = [GROUP_BASE - i for i in range(args.groups)]
    got = {c: 0 for c in groups}
    for c in groups:
        got[c] = sum(1 for m in tg.sent_messages(c) if NOTICE_MARK in (m.text or ""))
    unknown = {int(c) for c, status in deliveries if status == "unknown"}
    recovered = [s for _, s in rec.recoveries if s is not None]
    return {
        "questions": len(asked),
        "questions_without_reply": sum(1 for n in replies.values() if n == 0),
        "of_them_asked_while_db_down": sum(
            1 for q, n in replies.items() if n == 0 and q in in_outage
        ),
        "questions_answered_twice": sum(1 for n in replies.values() if n > 1),
        "urgent_questions": len(urgent_hospitals),
        "tickets": len(tickets),
        "tickets_lost": sum(1 for h in urgent_hospitals if per_hospital.get(h, 0) == 0),
        "tickets_duplicated": sum(1 for h in urgent_hospitals if per_hospital.get(h, 0) > 1),
        "cards_missing": sum(1 for n, _, _ in tickets if cards.get(n, 0) == 0),
        "cards_duplicated": sum(1 for n in cards.values() if n > 1),
        "claims_pressed": len(claimed_numbers),
        "claims_not_applied": len(claimed_numbers - accepted),
        "notice_groups": len(groups),
        "notice_lost": sum(1 for c in groups if got[c] == 0 and c not in unknown),
        "notice_duplicated": sum(1 for c in groups if got[c] > 1),
        "notice_unknown": len(unknown),
        "notice_unknown_delivered": sum(1 for c in unknown if got.get(c)),
        "events_not_handled": inbox.get("pending", 0),
        "events_failed": inbox.get("failed", 0),
        "keyed_sends_unknown": sends.get("unknown", 0),
        "conflicts_409": sum(1 for c in tg.calls_to("getUpdates") if c.status == 409),
        "recoveries": rec.recoveries,
        "recovery_median": statistics.median(recovered) if recovered else None,
        "recovery_max": max(recovered) if recovered else None,
        "recovery_failed": sum(1 for _, s in rec.recoveries if s is None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--kill-every", type=float, default=6.0)
    parser.add_argument("--drain", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    t0 = time.monotonic()
    out = asyncio.run(run(args))
    print(
        f"cluster chaos: {args.workers} workers on PostgreSQL, {args.kills} × kill -9, "
        f"PostgreSQL stopped 20 s once; {time.monotonic() - t0:.0f} s"
    )
    for key, value in out.items():
        if key != "recoveries":
            print(f"  {key:28} {value if not isinstance(value, float) else f'{value:.1f}'}")
    print("  time to answer a question asked at the moment of:")
    for label, seconds in out["recoveries"]:
        print(f"    {label:64} {'not answered' if seconds is None else f'{seconds:.1f} s'}")


if __name__ == "__main__":
    main()
