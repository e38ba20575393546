"""The synthetic deployment of ``benchmarks/web.py``: a year of a regional support desk.

``write_config`` writes the bot's config (hospitals with their Telegram chats, engineers);
``generate`` creates the schema (the app's Alembic migrations) and the registry (its
``sync_from_config``) and bulk-inserts through SQLAlchemy core into the app's own tables the
tickets (categories, urgencies and statuses in realistic proportions, acceptance and
completion times drawn per urgency), their conversation messages, audit events, articles
tried, desk cards and message links, the year counters and the bot's exchanges.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _web_vocab as vocab
from _load_common import KB_DIR, Json, config_base, load_queries

PASSWORD = "benchmark-password-123"  # of the engineers the driver signs in as


@dataclass(frozen=True)
class Sizes:
    hospitals: int
    engineers: int
    tickets: int
    exchanges: int


def write_config(tmp: Path, sizes: Sizes) -> Path:
    lines = config_base(tmp)
    surnames = vocab.SURNAMES
    for i in range(sizes.engineers):
        roles = '["engineer", "lead", "broadcaster"]' if i < 3 else '["engineer"]'
        name = surnames[i % len(surnames)] + "工" + (str(i // len(surnames)) if i >= 40 else "")
        lines += [
            "[[engineers]]",
            f'id = "e{i + 1:02d}"',
            f'name = "{name}"',
            f"roles = {roles}",
            f"telegram_user = {5000 + i}",
        ]
    for i in range(sizes.hospitals):
        city = vocab.CITIES[i % len(vocab.CITIES)]
        kind = vocab.HOSPITAL_KINDS[(i // len(vocab.CITIES)) % len(vocab.HOSPITAL_KINDS)]
        name = f"{city}{kind}" + (f"{i // 276 + 1}分院" if i >= 276 else "")
        lines += [
            "[[hospitals]]",
            f'id = "h{i + 1:03d}"',
            f'name = "{name}"',
            f'region = "{vocab.REGIONS[i % len(vocab.REGIONS)]}"',
            'his_version = "5.2.1"',
            f"modules = {json.dumps(list(vocab.MODULES[: 3 + i % 6]), ensure_ascii=False)}",
            f'dedicated_engineer = "e{i % sizes.engineers + 1:02d}"',
            f"telegram_chats = [{telegram_chat(i)}]",
        ]
    path = tmp / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def telegram_chat(i: int) -> int:
    return -1001000000000 - i


def _lognormal_minutes(rng: random.Random, median: float, sigma: float) -> dt.timedelta:
    return dt.timedelta(minutes=median * math.exp(rng.gauss(0, sigma)))


def _weighted(rng: random.Random, weights: dict[str, int], n: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=n)


def _created_times(rng: random.Random, n: int, now: dt.datetime) -> list[dt.datetime]:
    """``n`` naive-UTC times over the last 365 days: working hours (China time) and weekdays
    weigh more; sorted (ids and numbers grow with time like the real ones)."""
    hours = [0.2] * 24
    for h in range(8, 18):
        hours[h] = 3.0
    for h in (7, 18, 19, 20):
        hours[h] = 1.0
    start = (now - dt.timedelta(days=365)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [start + dt.timedelta(days=d) for d in range(366)]
    day_w = list(
        itertools.accumulate(
            0.35 if (d + dt.timedelta(hours=8)).weekday() >= 5 else 1.0 for d in days
        )
    )
    hour_w = list(itertools.accumulate(hours))
    out: list[dt.datetime] = []
    while len(out) < n:
        day = rng.choices(days, cum_weights=day_w)[0]
        local_h = rng.choices(range(24), cum_weights=hour_w)[0]
        t = day + dt.timedelta(hours=local_h - 8, seconds=rng.randrange(3600))
        if t < now - dt.timedelta(minutes=5):
            out.append(t)
    return sorted(out)


def _question(rng: random.Random, pool_faq: Sequence[str]) -> tuple[str, str | None]:
    """A hospital user's question and its category (None: from the FAQ pool, category drawn)."""
    if rng.random() < 0.25:
        return rng.choice(pool_faq), None
    problem, category = rng.choice(vocab.PROBLEMS)
    text = problem.format(
        code=rng.choice((2304, 2306, 1102, 4001)),
        ora=rng.choice(("12541", "28000", "01017", "12170")),
        n=rng.randint(1, 9),
        ver=rng.randint(1, 4),
        http=rng.choice((401, 500, 502, 504)),
    )
    prefix = rng.choice(("", "", "@小助手 ", "你好，"))
    suffix = rng.choice(("", "", "，急！", "，麻烦看一下", "。谢谢"))
    return f"{prefix}{rng.choice(vocab.DEPTS)}{text}{suffix}", category


def _exchange(at: dt.datetime, question_message_id: str, **cols: Any) -> Json:
    """An ``exchange`` row asked at ``at`` (naive UTC), its thread starting at the question."""
    aware = at.replace(tzinfo=dt.UTC)
    return {
        "thread_root": question_message_id,
        "question_message_id": question_message_id,
        **cols,
        "created_at": aware,
        "updated_at": aware,
    }


@dataclass(frozen=True)
class _Fate:
    """Where a ticket stands now."""

    status: str
    accepted_by: str | None = None
    accepted_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    resolution: str | None = None


Actor = tuple[str, str | None, str]  # (kind, id, name) of an audit event's actor
BOT: Actor = ("bot", None, "bot")


class _Desk:
    """Draws the rows of a year of the desk (seeded), kept per table."""

    def __init__(self, settings: Any, seed: int) -> None:
        from kb_index.articles import scan_folder

        self.rng = random.Random(seed)
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        kb = scan_folder(KB_DIR).articles
        self.titles = {a.id: a.title for a in kb}
        self.by_category: dict[str, list[str]] = {}
        for a in kb:
            self.by_category.setdefault(a.category, []).append(a.id)
        self.kb_ids = [a.id for a in kb]
        queries = load_queries()
        kb_questions = [question for a in kb for question in a.questions]
        kinds = ("faq", "out-of-kb", "urgent")
        self.pool_faq = [q["query"] for q in queries if q["kind"] in kinds] + kb_questions
        self.answered = [q["query"] for q in queries if q["kind"] in ("faq", "pii")]
        self.answered += kb_questions
        self.engineers = [e.id for e in settings.engineers]
        self.hospitals = [h.id for h in settings.hospitals]
        self.eng_names = {e.id: e.name for e in settings.engineers}
        # a few big hospitals, many small ones (Zipf-like share of the tickets)
        self.h_weights = list(
            itertools.accumulate(1 / (1 + i) ** 0.7 for i in range(len(self.hospitals)))
        )
        self.h_index = {h: i for i, h in enumerate(self.hospitals)}
        self._msg_ids = itertools.count(100_000)
        self.seq_by_year: Counter[int] = Counter()
        self.tickets: list[Json] = []
        self.messages: list[Json] = []
        self.events: list[Json] = []
        self.articles: list[Json] = []
        self.cards: list[Json] = []
        self.links: list[Json] = []
        self.exchanges: list[Json] = []

    def msg_id(self) -> str:
        return str(next(self._msg_ids))

    def event(self, tid: int, at: dt.datetime, kind: str, actor: Actor, **kw: Any) -> None:
        self.events.append(
            {
                "ticket_id": tid,
                "at": at,
                "actor_kind": actor[0],
                "actor_id": actor[1],
                "actor_name": actor[2],
                "kind": kind,
                "from_value": kw.get("from_value"),
                "to_value": kw.get("to_value"),
                "text": kw.get("text"),
            }
        )

    def message(self, tid: int, at: dt.datetime, direction: str, author: Actor, text: str,
                ref: tuple[str, str, str] | None) -> None:  # fmt: skip
        self.messages.append(
            {
                "ticket_id": tid,
                "at": at,
                "direction": direction,
                "author": author[2],
                "author_id": author[1],
                "text": text,
                "ref_platform": ref[0] if ref else None,
                "ref_chat_id": ref[1] if ref else None,
                "ref_message_id": ref[2] if ref else None,
            }
        )

    def tickets_of_the_year(self, n: int) -> None:
        created = _created_times(self.rng, n, self.now)
        urgencies = _weighted(self.rng, vocab.URGENCY_WEIGHT, n)
        for tid, (at, urgency) in enumerate(zip(created, urgencies, strict=True), start=1):
            self.ticket(tid, at, urgency)

    def ticket(self, tid: int, at: dt.datetime, urgency: str) -> None:
        """A ticket with its opening message and events, the bot's exchange that escalated
        it, its desk card and, once accepted, the conversation up to where it stands."""
        rng = self.rng
        hospital = rng.choices(self.hospitals, cum_weights=self.h_weights)[0]
        hi = self.h_index[hospital]
        self.seq_by_year[at.year] += 1
        number = f"{at.year}-{self.seq_by_year[at.year]:06d}"
        question, category = _question(rng, self.pool_faq)
        if category is None:
            category = _weighted(rng, vocab.CATEGORY_WEIGHT, 1)[0]
        via = rng.choices(("telegram", "slack", "web"), weights=(70, 5, 25))[0]
        reporter_name = rng.choice(vocab.SURNAMES) + rng.choice(vocab.REPORTERS)
        if via == "web":
            platform, chat = "web", hospital
            user = rng.choice((f"web:{rng.choice(self.engineers)}", f"web-link:{hi + 1}"))
        else:  # the hospital's Telegram group (Slack reporters are counted as Telegram here)
            platform, chat = "telegram", str(telegram_chat(hi))
            user = str(700_000 + hi * 50 + rng.randrange(50))
        source_msg = self.msg_id()
        fate = self._fate(at, urgency)
        updated = max(
            x for x in (at, fate.accepted_at, fate.completed_at, fate.closed_at) if x is not None
        )
        self.tickets.append(
            {
                "id": tid,
                "number": number,
                "hospital_id": hospital,
                "reporter_platform": platform,
                "reporter_user_id": user,
                "reporter_name": reporter_name,
                "source_platform": platform,
                "source_chat_id": chat,
                "source_thread_id": None,
                "source_message_id": source_msg,
                "category": category,
                "urgency": urgency,
                "status": fate.status,
                "accepted_by": fate.accepted_by,
                "accepted_at": fate.accepted_at,
                "completed_at": fate.completed_at,
                "closed_at": fate.closed_at,
                "resolution": fate.resolution,
                "question": question,
                "created_at": at,
                "updated_at": updated,
            }
        )
        reporter = ("hospital_user", f"{platform}:{user}", reporter_name)
        self.message(tid, at, "hospital", reporter, question, None)
        self.event(tid, at, "opened", reporter, to_value="new")
        tried: list[str] = []
        if platform != "web":
            # the bot's exchange that escalated, the articles it had offered, the links
            offered = self.by_category.get(category) or self.kb_ids
            tried = rng.sample(offered, k=int(rng.random() < 0.6))
            if rng.random() < 0.3:
                tried += [a for a in rng.sample(self.kb_ids, 1) if a not in tried]
            decision = "urgent" if urgency == "P1" and rng.random() < 0.7 else "escalate"
            if tried:
                decision = rng.choice(("answer", "clarify"))
            reply_msg = self.msg_id()
            self.exchanges.append(
                _exchange(
                    at,
                    source_msg,
                    hospital_id=hospital,
                    platform=platform,
                    chat_id=chat,
                    reporter_user_id=user,
                    reporter_name=reporter_name,
                    question=question,
                    decision=decision,
                    article_ids=",".join(tried),
                    confidence=round(rng.uniform(0.05, 0.7), 4),
                    reply_message_id=reply_msg,
                    outcome="escalated",
                    ticket_number=number,
                )
            )
            self.links += [
                {"platform": platform, "chat_id": chat, "message_id": m, "ticket_number": number,
                 "side": "hospital", "created_at": at.replace(tzinfo=dt.UTC)}
                for m in (source_msg, reply_msg)
            ]  # fmt: skip
        for pos, aid in enumerate(tried):
            self.articles.append(
                {"ticket_id": tid, "article_id": aid, "title": self.titles[aid], "position": pos}
            )
        card_at = at + dt.timedelta(seconds=rng.uniform(0.3, 3))
        card_msg = self.msg_id()
        self.cards.append({"ticket_id": tid, "platform": "telegram", "chat_id": "-1009999",
                           "message_id": card_msg, "posted_at": card_at})  # fmt: skip
        self.event(tid, card_at, "card_posted", BOT, to_value=f"telegram:-1009999:{card_msg}")
        if fate.accepted_by is not None and fate.accepted_at is not None:
            self._work(tid, fate, reporter, (platform, chat))

    def _fate(self, at: dt.datetime, urgency: str) -> _Fate:
        """Old tickets are done, a few forgotten; recent ones still in work."""
        rng, now = self.rng, self.now
        age = now - at
        if age < dt.timedelta(days=1):
            fate = rng.choices(("new", "accepted", "in_progress", "resolved"), (30, 25, 20, 25))[0]
        elif age < dt.timedelta(days=7):
            fate = rng.choices(
                ("new", "accepted", "in_progress", "resolved", "closed"), (3, 7, 10, 45, 35)
            )[0]
        else:
            fate = rng.choices(("accepted", "in_progress", "resolved", "closed"), (1, 1, 25, 73))[0]
        if fate == "new":
            return _Fate("new")
        accepted_at = at + _lognormal_minutes(rng, vocab.ACCEPT_MEDIAN[urgency], 1.0)
        if accepted_at >= now:
            return _Fate("new")
        accepted = _Fate("accepted", rng.choice(self.engineers), accepted_at)
        if fate == "accepted":
            return accepted
        in_progress = _Fate("in_progress", accepted.accepted_by, accepted_at)
        done = accepted_at + _lognormal_minutes(rng, vocab.RESOLVE_MEDIAN[urgency], 1.1)
        if fate == "in_progress" or done >= now:
            return in_progress
        resolution = rng.choice(vocab.RESOLUTIONS)
        close = done + dt.timedelta(hours=rng.uniform(2, 72))
        status, closed_at = (
            ("closed", close) if fate == "closed" and close < now else ("resolved", None)
        )
        return _Fate(status, accepted.accepted_by, accepted_at, done, closed_at, resolution)

    def _work(self, tid: int, fate: _Fate, reporter: Actor, chat: tuple[str, str]) -> None:
        """The events and messages of an accepted ticket, from acceptance on."""
        rng = self.rng
        assert fate.accepted_by is not None and fate.accepted_at is not None
        eng = ("engineer", fate.accepted_by, self.eng_names[fate.accepted_by])
        self.event(tid, fate.accepted_at, "accepted", eng, from_value="new", to_value="accepted")
        t = fate.accepted_at
        if fate.status != "accepted" and rng.random() < 0.5:
            t += dt.timedelta(minutes=rng.uniform(1, 30))
            self.event(tid, t, "status_changed", eng, from_value="accepted", to_value="in_progress")
        for _ in range(rng.choice((0, 1, 1, 2))):
            t += dt.timedelta(minutes=rng.uniform(1, 60))
            if fate.completed_at is not None and t >= fate.completed_at:
                break
            text = rng.choice(vocab.ENGINEER_REPLIES)
            self.message(tid, t, "engineer", eng, text, (*chat, self.msg_id()))
            self.event(tid, t, "relayed_to_hospital", eng, text=text)
            if rng.random() < 0.6:
                t += dt.timedelta(minutes=rng.uniform(1, 20))
                text = rng.choice(vocab.HOSPITAL_FOLLOW_UPS)
                self.message(tid, t, "hospital", reporter, text, (*chat, self.msg_id()))
                self.event(tid, t, "relayed_to_engineers", reporter, text=text)
        if rng.random() < 0.15:
            self.event(tid, t + dt.timedelta(minutes=1), "note", eng, text="已联系厂商，等待回复")
        if fate.completed_at is not None:
            prev = "in_progress" if fate.status != "accepted" else "accepted"
            self.event(tid, fate.completed_at, "resolved", eng, from_value=prev,
                       to_value="resolved", text=fate.resolution)  # fmt: skip
        if fate.closed_at is not None:
            self.event(tid, fate.closed_at, "closed", ("system", None, "system"),
                       from_value="resolved", to_value="closed")  # fmt: skip

    def other_exchanges(self, n: int) -> None:
        """The bot's exchanges that opened no ticket: answered or offered a choice, some
        marked solved."""
        rng = self.rng
        for at in _created_times(rng, n, self.now):
            hi = rng.choices(range(len(self.hospitals)), cum_weights=self.h_weights)[0]
            decision = rng.choices(("answer", "clarify"), (78, 22))[0]
            shown = rng.sample(self.kb_ids, 1 if decision == "answer" else rng.randint(2, 3))
            outcome = rng.choices(("solved", "pending", "unsolved"), (38, 58, 4))[0]
            self.exchanges.append(
                _exchange(
                    at,
                    self.msg_id(),
                    hospital_id=self.hospitals[hi],
                    platform="telegram",
                    chat_id=str(telegram_chat(hi)),
                    reporter_user_id=str(700_000 + hi * 50 + rng.randrange(50)),
                    reporter_name=rng.choice(vocab.SURNAMES) + rng.choice(vocab.REPORTERS),
                    question=rng.choice(self.answered),
                    decision=decision,
                    article_ids=",".join(shown),
                    confidence=round(rng.uniform(0.2, 0.99), 4),
                    reply_message_id=self.msg_id(),
                    outcome=outcome,
                    ticket_number=None,
                )
            )
        self.exchanges.sort(key=lambda e: e["created_at"])

    def rows(self) -> dict[str, list[Json]]:
        """Per table, in insertion order."""
        counters = [{"year": y, "last": last} for y, last in sorted(self.seq_by_year.items())]
        return {
            "ticket": self.tickets,
            "ticket_message": self.messages,
            "ticket_event": self.events,
            "ticket_article": self.articles,
            "ticket_card": self.cards,
            "ticket_counter": counters,
            "message_link": self.links,
            "exchange": self.exchanges,
        }


def generate(db_url: str, config: Path, sizes: Sizes, seed: int, logins: int) -> Json:
    """Create the schema (the app's migrations), the registry (its config sync) and bulk-insert
    tickets, their messages/events/articles/cards/links, the year counters and exchanges; set
    the password of the first ``logins`` engineers. Returns row counts, timings and what the
    driver's URLs need."""
    from sqlalchemy import func, insert, select
    from sqlmodel import SQLModel

    from bot.infra.config import load_settings
    from bot.infra.db import make_engine
    from bot.registry.store import RegistryStore
    from bot.web.auth import ConsoleStore

    t0 = time.perf_counter()
    settings = load_settings(config)
    engine = make_engine(db_url)
    RegistryStore(engine).sync_from_config(settings.hospitals, settings.engineers)
    t_registry = time.perf_counter() - t0

    desk = _Desk(settings, seed)
    desk.tickets_of_the_year(sizes.tickets)
    desk.other_exchanges(max(0, sizes.exchanges - len(desk.exchanges)))
    t_gen = time.perf_counter() - t0 - t_registry

    tables = SQLModel.metadata.tables
    with engine.begin() as conn:
        for name, rows in desk.rows().items():
            for i in range(0, len(rows), 5000):
                conn.execute(insert(tables[name]), rows[i : i + 5000])
    t_insert = time.perf_counter() - t0 - t_registry - t_gen
    store = ConsoleStore(engine)
    for e in desk.engineers[:logins]:
        store.set_password(e, PASSWORD)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(tables[name])).scalar_one()
            for name in (
                "hospital", "engineer", "ticket", "ticket_message", "ticket_event",
                "ticket_article", "ticket_card", "message_link", "exchange",
            )
        }  # fmt: skip
        status = tables["ticket"].c.status
        statuses = dict(conn.execute(select(status, func.count()).group_by(status)).all())
    engine.dispose()
    path = Path(db_url.split(":///", 1)[1])
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    years = sorted(desk.seq_by_year)
    return {
        "rows": counts,
        "statuses": statuses,
        "tickets_per_year": {str(y): desk.seq_by_year[y] for y in years},
        "db_mb": size / 1e6,
        "registry_s": t_registry,
        "generate_s": t_gen,
        "insert_s": t_insert,
        "total_s": time.perf_counter() - t0,
        "ticket_numbers": [t["number"] for t in desk.tickets],
        "kb_ids": desk.kb_ids,
        "hospitals": desk.hospitals,
    }
