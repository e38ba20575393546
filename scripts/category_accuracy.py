"""Ticket category accuracy on the labelled eval sets: how often an escalated question is
registered under the right service category.

The labelled sets are eval/kbs/*/ (a KB folder and queries.jsonl). A FAQ query's category is
the category of the article it is labelled with (its gold label). To judge the category of an
*escalation* — a question the KB has no article for — each FAQ query is asked with its own
article left out of the ranking, so the nearest articles are what they are for a real
unanswered question: about something else. Printed per KB and pooled:

* before: the nearest articles' majority category (what tickets were opened with);
* module words: the question's module words first, the nearest articles without them;
* words else usage: module words, and without them usage, the most common category
  (``bot.tickets.category_guess.guess_category``, what tickets are opened with now);
* one tap: the gold category is the guess or one of the (up to three) 改为… buttons the
  notice and the card offer;
* always usage: the most common category, as a floor.

    .venv/bin/python scripts/category_accuracy.py [eval/kbs/ward …] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.infra.config import Settings
from bot.kb.knowledge import answer_engine, build_in_memory, embedder_for, message_classifier
from bot.tickets.categories import suggest_category
from bot.tickets.category_guess import guess_category, likely_categories, module_votes
from intents.evaluate import read_queries
from kb_index.articles import scan_folder

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sets = args.sets or sorted(p for p in (REPO / "eval/kbs").iterdir() if p.is_dir())
    settings = Settings()
    embedder = embedder_for(settings)
    classifier = message_classifier(settings)
    rows: dict[str, dict[str, float]] = {}
    pooled = {
        "n": 0,
        "before": 0,
        "module_words": 0,
        "words_else_usage": 0,
        "in_top3": 0,
        "always_usage": 0,
    }
    for folder in sets:
        articles = scan_folder(folder / "kb").articles
        category = {a.id: a.category for a in articles}
        index, _ = build_in_memory(settings, articles, embedder)
        engine = answer_engine(settings, index, embedder, classifier)
        tally = dict.fromkeys(pooled, 0)
        for q in read_queries(folder / "queries.jsonl"):
            if q.kind != "faq" or q.expected not in category:
                continue
            gold = category[q.expected]
            nearest = [
                h.article.category for h in engine.rank(q.query, 4) if h.article.id != q.expected
            ][:3]
            tally["n"] += 1
            tally["before"] += suggest_category(nearest) == gold
            words = module_votes(q.query)
            tally["module_words"] += (
                guess_category(q.query) if words else suggest_category(nearest)
            ) == gold
            tally["words_else_usage"] += guess_category(q.query) == gold
            tally["in_top3"] += gold in likely_categories(q.query, (), 4)
            tally["always_usage"] += gold == "usage"
        for key in pooled:
            pooled[key] += tally[key]
        rows[folder.name] = {k: (v / tally["n"] if k != "n" else v) for k, v in tally.items()}
    rows["pooled"] = {k: (v / pooled["n"] if k != "n" else v) for k, v in pooled.items()}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ("before", "module_words", "words_else_usage", "in_top3", "always_usage")
    # in_top3 is printed as "one tap" (the guess and the three buttons)
    print(f"{'set':<12} {'n':>4} " + " ".join(f"{c:>16}" for c in columns))
    for name, r in rows.items():
        print(f"{name:<12} {r['n']:>4} " + " ".join(f"{r[c]:>16.3f}" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
