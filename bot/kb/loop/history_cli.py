"""``hisbot kb eval --from-history`` and ``kb calibrate --from-history``: the deployment
measures and tunes itself on its own labelled questions, against its own KB (the articles in
its database, indexed in memory reusing the persisted index's vectors)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from bot.cli.kb_eval import FIGURES, EvalCliError
from bot.infra.config import Settings
from bot.kb.loop.history import HistoryError, HistorySet, history_queries, require_enough
from bot.kb.loop.labels import LabelStore
from intents.evaluate import EvalSet

#: The name the history set goes by in reports and calibration headers.
HISTORY = "history"


def history_set(settings: Settings, since_days: int | None) -> tuple[EvalSet, HistorySet]:
    """The deployment's labelled questions and an engine over its current KB."""
    from bot.infra.db import make_engine
    from bot.kb.knowledge import answer_engine, build_in_memory, embedder_for, previous_index
    from kb_index.store import load_articles

    if since_days is not None and since_days <= 0:
        raise EvalCliError("--since takes a number of days (at least 1)")
    db = make_engine(settings.storage_url)
    since = (
        dt.datetime.now(dt.UTC) - dt.timedelta(days=since_days) if since_days is not None else None
    )
    articles = load_articles(db)
    history = history_queries(LabelStore(db).labelled(since), {a.id for a in articles})
    try:
        require_enough(history)
    except HistoryError as exc:
        raise EvalCliError(str(exc)) from None
    embedder = embedder_for(settings)
    index, _ = build_in_memory(settings, articles, embedder, previous=previous_index(settings))
    return EvalSet(HISTORY, answer_engine(settings, index, embedder), history.queries), history


def describe(history: HistorySet) -> str:
    out_of_kb = len(history.queries) - history.answerable
    line = (
        f"# from history: {len(history.queries)} labelled questions "
        f"({history.answerable} with an article, {out_of_kb} none / new article)"
    )
    if history.stale:
        line += f"; {history.stale} left out (their article is no longer in the KB)"
    return line


def cmd_eval_from_history(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.kb_eval import _redactor
    from bot.cli.progress import progress_bar
    from intents.evaluate import evaluate

    if args.kb or args.queries or args.loko:
        raise EvalCliError(
            "--from-history evaluates the deployment's own KB: no --kb/--queries/--loko"
        )
    one, history = history_set(settings, args.since)
    with progress_bar(len(one.queries), "evaluating") as advance:
        report = evaluate(one.engine, one.queries, prepare=_redactor(), progress=advance)
    report["stale_labels"] = history.stale
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(describe(history), file=sys.stderr)
    for key in ("model", *FIGURES):
        print(f"{key:>38}: {report.get(key)}")
    return 0
