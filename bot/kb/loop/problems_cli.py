"""``hisbot kb problems``: the common problems of the last days, and their drafts.

``--drafts DIR`` writes one file per proposal: a new article's draft as ``<draft id>.md``,
or an existing article with the hospitals' phrasings added as ``<article id>.md``, each with
its problem's tickets in ``<id>.tickets`` (``bot.kb.loop.draft_files``). An engineer edits them
and publishes with ``hisbot kb import DIR`` (or in the console).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cli.kb_eval import EvalCliError
from bot.infra.config import Settings


def cmd_kb_problems(args: argparse.Namespace, settings: Settings) -> int:
    from bot.infra.db import make_engine
    from bot.kb.knowledge import answer_engine, build_in_memory, embedder_for, previous_index
    from bot.kb.loop.draft_files import write_draft
    from bot.kb.loop.drafting import common_module, propose, proposed_article
    from bot.kb.loop.problems import analyse, load_items
    from bot.kb.loop.summary import coverage_text, summary
    from bot.registry.store import RegistryStore
    from kb_index.store import load_articles

    if args.days <= 0:
        raise EvalCliError("--days takes a number of days (at least 1)")
    db = make_engine(settings.storage_url)
    now = dt.datetime.now(dt.UTC)
    items = load_items(db, now - dt.timedelta(days=args.days))
    articles = {a.id: a for a in load_articles(db)}
    embedder = embedder_for(settings)
    index, _ = build_in_memory(
        settings, list(articles.values()), embedder, previous=previous_index(settings)
    )
    engine = answer_engine(settings, index, embedder)
    problems = analyse(items, engine, settings.kbloop)
    registry = RegistryStore(db)

    def hospital_name(hospital_id: str) -> str:
        h = registry.get_hospital(hospital_id)
        return h.name if h else hospital_id

    def module_of(problem: Any) -> str:
        ranked = engine.rank(problem.items[0].text, k=3)
        return common_module(problem, [articles[c.article.id] for c in ranked])

    written: list[str] = []
    if args.drafts:
        folder = Path(args.drafts)
        folder.mkdir(parents=True, exist_ok=True)
        for p in problems:
            proposal = propose(p, articles.get, now.date(), module_of)
            if proposal is None:
                continue
            article = proposed_article(proposal, articles.get)
            written.append(str(write_draft(folder, article, p.tickets)))
    if args.json:
        print(
            json.dumps(_as_json(problems, coverage_text, articles.get, written), ensure_ascii=False)
        )
        return 0
    heading = "本周新出现的常见问题" if args.days == 7 else f"近 {args.days} 天的常见问题"
    print(f"{len(items)} questions analysed (tickets and unanswered questions)")
    print(summary(problems, articles.get, hospital_name, heading, limit=args.limit))
    for name in written:
        print(f"draft written: {name}")
    return 0


def _as_json(
    problems: list[Any], coverage_text: Callable[..., str], article: Any, written: list[str]
) -> dict[str, Any]:
    return {
        "problems": [
            {
                "questions": [i.text for i in p.items],
                "hospitals": list(p.hospitals),
                "category": p.category,
                "tickets": list(p.tickets),
                "resolutions": list(p.resolutions),
                "coverage": p.coverage.value,
                "article": p.article_id,
                "confidence": round(p.confidence, 4),
                "verdict": coverage_text(p, article),
            }
            for p in problems
        ],
        "drafts": written,
    }


def add_problems_parser(
    kb: Any, wrap: Callable[[Callable[[argparse.Namespace, Settings], int]], Any]
) -> None:
    s = kb.add_parser(
        "problems", help="common problems of the last days (tickets, unanswered questions)"
    )
    s.add_argument("--days", type=int, default=7, help="the period analysed (default 7)")
    s.add_argument("--limit", type=int, default=10, help="problems printed (default 10)")
    s.add_argument("--drafts", metavar="DIR", help="write article drafts / phrasing additions")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=wrap(cmd_kb_problems))
