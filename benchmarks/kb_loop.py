"""A simulated month of the KB loop: does analysing tickets and publishing drafts make the bot
answer recurring questions it could not answer before?

The month (``eval/kbloop/month.json``, a generator of our own): 20 hospitals ask, every
working day, recurring questions the sample KB does not cover (8 problems), lay phrasings of
an article it does cover, questions it answers (``tests/data/sample_queries.jsonl``) and
one-off requests. Each question goes through the real ``AnswerEngine.decide``; what the bot
does not answer becomes a ticket in a real database, which an engineer claims, resolves with
the problem's resolution and labels with one tap (article / none / new) — the same stores the
desk uses. After the month the loop runs: ``analyse`` groups the tickets into problems,
``propose`` drafts articles or phrasing additions, and the drafts are published **unedited**
(the worst case: an engineer would improve them). Then held-out phrasings of the recurring
problems — never seen during the month — are asked.

Printed: the share of those held-out recurring questions the bot answers correctly before and
after the loop, wrong answers among them and on the one-offs, the covered questions' accuracy
before and after (no regression), and ``hisbot kb eval --from-history`` on the month's
database (run as the real command) before and after publishing.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/kb_loop.py [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.infra.config import Settings, load_settings  # noqa: E402
from bot.infra.db import make_engine  # noqa: E402
from bot.kb.knowledge import answer_engine, build_in_memory, embedder_for  # noqa: E402
from bot.kb.loop.drafting import common_module, propose, proposed_article  # noqa: E402
from bot.kb.loop.labels import LabelStore  # noqa: E402
from bot.kb.loop.models import Verdict  # noqa: E402
from bot.kb.loop.problems import Coverage, analyse, load_items  # noqa: E402
from bot.redact import redact  # noqa: E402
from bot.registry.sessions import write_session  # noqa: E402
from bot.registry.store import RegistryStore  # noqa: E402
from bot.tickets.store import TicketStore  # noqa: E402
from intents.decide import AnswerEngine, DecisionKind  # noqa: E402
from kb_index.store import import_folder, load_articles, save_article  # noqa: E402

HOSPITALS = 20
DAYS = 30
START = dt.datetime(2026, 11, 2, 8, 0)


@dataclasses.dataclass
class Clock:
    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now


@dataclasses.dataclass(frozen=True)
class Question:
    text: str
    #: The problem id (recurring), "faq:<article>" (covered), or "" (one-off).
    problem: str
    category: str
    resolution: str
    #: The article an engineer labels it with; None: the KB does not cover it.
    article: str | None


def month_questions(
    data: dict, faq: list[dict], rng: random.Random
) -> list[tuple[int, str, Question]]:
    """(day, hospital, question) for the month: each recurring problem comes back 10–16 times
    from different hospitals in its seen phrasings; covered and one-off questions between."""
    asked: list[tuple[int, str, Question]] = []
    for p in data["problems"]:
        seen = p["phrasings"][: p["seen"]]
        for n in range(rng.randint(10, 16)):
            q = Question(seen[n % len(seen)], p["id"], p["category"], p["resolution"], p["article"])
            asked.append((rng.randrange(DAYS), f"h{rng.randrange(HOSPITALS):03d}", q))
    for f in faq:
        q = Question(
            f["query"], f"faq:{f['expected']}", "consult", "按知识库文章处理。", f["expected"]
        )
        asked.append((rng.randrange(DAYS), f"h{rng.randrange(HOSPITALS):03d}", q))
    for text in data["one_offs"]:
        q = Question(text, "", "consult", "已电话联系科室处理。", None)
        asked.append((rng.randrange(DAYS), f"h{rng.randrange(HOSPITALS):03d}", q))
    return sorted(asked, key=lambda a: a[0])


def answered_with(engine: AnswerEngine, text: str) -> str | None:
    d = engine.decide(redact(text))
    return d.article.id if d.kind is DecisionKind.ANSWER and d.article else None


def live_month(settings: Settings, db, engine: AnswerEngine, asked, clock: Clock) -> Counter:
    """Every question decided; the unanswered ones ticketed, resolved and labelled."""
    tickets, labels = TicketStore(db, clock), LabelStore(db, clock)
    stats: Counter = Counter()
    for n, (day, hospital, q) in enumerate(asked):
        clock.now = START + dt.timedelta(days=day, minutes=n)
        got = answered_with(engine, q.text)
        if got is not None:
            stats["answered"] += 1
            stats["answered_wrong"] += got != q.article
            continue
        t = tickets.open_ticket(
            hospital_id=hospital,
            reporter_platform="telegram",
            reporter_user_id=str(7000 + n),
            reporter_name="用户",
            source_platform="telegram",
            source_chat_id=hospital,
            source_message_id=str(n),
            question=redact(q.text),
            category=q.category,
        )
        tickets.claim(t.number, "e01")
        clock.now += dt.timedelta(minutes=30)
        tickets.resolve(t.number, "e01", q.resolution)
        verdict = Verdict.ARTICLE if q.article else (Verdict.NEW if q.problem else Verdict.NONE)
        labels.record(t.number, verdict, q.article, "e01")
        stats["tickets"] += 1
    return stats


def held_out(data: dict) -> list[tuple[str, str]]:
    return [(p["id"], text) for p in data["problems"] for text in p["phrasings"][p["seen"] :]]


def run_loop(settings: Settings, db, engine: AnswerEngine, today: dt.date) -> tuple[list, dict]:
    """Analyse the month, publish every proposal unedited; returns (problems, problem→article)."""
    problems = analyse(load_items(db, START), engine, settings.kbloop)
    existing = {a.id: a for a in load_articles(db)}
    published: dict[str, str] = {}
    adopted: list[tuple[tuple[str, ...], str]] = []
    with write_session(db) as session:
        for p in problems:

            def module_of(prob, p=p) -> str:
                ranked = engine.rank(prob.items[0].text, k=3)
                return common_module(prob, [existing[c.article.id] for c in ranked])

            proposal = propose(p, existing.get, today, module_of)
            if proposal is None:
                continue
            article = proposed_article(proposal, existing.get)
            save_article(session, article, source="web", changed_by="e01")
            adopted.append((p.tickets, article.id))
            for item in p.items:
                published.setdefault(item.key, article.id)
    labels = LabelStore(db)
    for numbers, article_id in adopted:
        labels.adopt(numbers, article_id, "e01")
    return problems, published


def history_eval(config: Path) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(config),
            "kb",
            "eval",
            "--from-history",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(out.stdout)
    return (
        f"{r['queries']} labelled questions: answer accuracy {r['faq_answer_accuracy']}, "
        f"wrong-answer rate {r['wrong_answer_rate']}, out-of-KB escalated {r['oos_escalation_rate']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", help="keep the month's database and config in this folder")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    data = json.loads((REPO / "eval/kbloop/month.json").read_text(encoding="utf-8"))
    faq = [
        json.loads(line)
        for line in (REPO / "tests/data/sample_queries.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip() and json.loads(line)["kind"] == "faq"
    ]
    work = Path(args.keep or tempfile.mkdtemp(prefix="kbloop-"))
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.toml"
    base = (REPO / "config.toml").read_text(encoding="utf-8")
    text = base.replace('url = ""', f'url = "sqlite:///{work}/month.db"', 1)
    text = text.replace('dir = "kb"', f'dir = "{REPO / "kb"}"', 1)
    assert text.count(str(work)) == 1 and str(REPO / "kb") in text, "config.toml layout changed"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)
    clock = Clock()
    db = make_engine(settings.storage_url)
    registry = RegistryStore(db, clock)
    for h in range(HOSPITALS):
        registry.add_hospital(f"h{h:03d}", f"第{h + 1}医院")
    registry.add_engineer("e01", "王工")
    import_folder(db, REPO / "kb")
    embedder = embedder_for(settings)

    def engine_now() -> AnswerEngine:
        index, _ = build_in_memory(settings, load_articles(db), embedder)
        return answer_engine(settings, index, embedder)

    engine = engine_now()
    asked = month_questions(data, faq, rng)
    stats = live_month(settings, db, engine, asked, clock)
    print(
        f"month: {len(asked)} questions from {HOSPITALS} hospitals over {DAYS} days; "
        f"{stats['answered']} answered by the bot ({stats['answered_wrong']} wrong), "
        f"{stats['tickets']} tickets resolved and labelled"
    )
    print("kb eval --from-history, before the loop: " + history_eval(config))

    tests = held_out(data)
    article_of = {p["id"]: p["article"] for p in data["problems"]}
    before = [answered_with(engine, text) for _, text in tests]
    before_right = sum(
        g is not None and g == article_of[pid] for (pid, _), g in zip(tests, before, strict=True)
    )
    before_wrong = sum(
        g is not None and g != article_of[pid] for (pid, _), g in zip(tests, before, strict=True)
    )
    faq_before = sum(answered_with(engine, f["query"]) == f["expected"] for f in faq)

    problems, published = run_loop(settings, db, engine, START.date() + dt.timedelta(days=DAYS))
    kinds = Counter(p.coverage for p in problems)
    print(
        f"loop: {len(problems)} common problems found "
        f"({kinds[Coverage.UNCOVERED]} uncovered → drafts, {kinds[Coverage.NEAR]} near → "
        f"phrasings added, {kinds[Coverage.COVERED]} covered)"
    )
    for p in problems[:12]:
        ids = Counter(_problem_of(asked, i.text) for i in p.items)
        print(
            f"  {len(p.items):>3} questions, {len(p.hospitals):>2} hospitals, {p.coverage.value:<9} "
            f"{p.article_id or '':<8} from: {dict(ids)}  e.g. {p.items[0].text[:24]}"
        )
    # which published article now stands for each recurring problem (majority of its tickets)
    target: dict[str, str] = {}
    for pid in {p["id"] for p in data["problems"]}:
        votes = Counter(
            published[k] for k in published if _problem_of(asked, _text_of(db, k)) == pid
        )
        if votes:
            target[pid] = votes.most_common(1)[0][0]
    engine = engine_now()
    right = wrong = 0
    uncovered = [(pid, text) for pid, text in tests if article_of[pid] is None]
    after = {text: answered_with(engine, text) for _, text in tests}
    for pid, text in tests:
        got, want = after[text], target.get(pid, article_of[pid])
        right += got is not None and got == want
        wrong += got is not None and got != want
    u_right = sum(after[t] is not None and after[t] == target.get(p) for p, t in uncovered)
    u_wrong = sum(after[t] is not None and after[t] != target.get(p) for p, t in uncovered)
    faq_after = sum(answered_with(engine, f["query"]) == f["expected"] for f in faq)
    one_off_wrong = sum(answered_with(engine, t) is not None for t in data["one_offs"])
    n = len(tests)
    nu = len(uncovered)
    print(f"\nrecurring questions the KB did not cover, held out (never seen in the month): {nu}")
    print(
        f"  ANSWERED CORRECTLY AFTER THE LOOP: {u_right}/{nu} = {u_right / nu:.1%} "
        f"(before: 0, no article); wrong answers {u_wrong}/{nu}"
    )
    print(f"all held-out recurring questions (with the near problem's lay phrasings): {n}")
    print(
        f"  answered correctly before the loop: {before_right}/{n} = {before_right / n:.1%}; "
        f"wrong answers {before_wrong}/{n}"
    )
    print(
        f"  answered correctly after the loop:  {right}/{n} = {right / n:.1%}; wrong answers {wrong}/{n}"
    )
    print(
        f"covered questions answered correctly: before {faq_before}/{len(faq)}, after {faq_after}/{len(faq)}"
    )
    print(
        f"one-off requests answered (wrong by definition): {one_off_wrong}/{len(data['one_offs'])}"
    )
    print("kb eval --from-history, after the loop: " + history_eval(config))
    print(f"(database and config in {work})")


_TEXTS: dict[str, str] = {}


def _problem_of(asked, text: str) -> str:
    for _, _, q in asked:
        if redact(q.text) == text or q.text == text:
            return q.problem or "one-off"
    return "?"


def _text_of(db, key: str) -> str:
    if key not in _TEXTS:
        from bot.tickets.store import TicketStore as _T

        _TEXTS[key] = _T(db).get(key.split(":", 1)[1]).question
    return _TEXTS[key]


if __name__ == "__main__":
    main()
