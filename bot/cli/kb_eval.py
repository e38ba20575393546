"""``hisbot kb eval | calibrate | train-classifier``: measuring and fitting the answer engine.

An *eval set* is a folder with the KB in ``kb/`` and labelled queries in one ``*.jsonl`` file
(the layout of ``eval/kbs/*`` and of the shared dev set). Figures that predict a new customer's
KB are the leave-one-KB-out ones: each KB judged by a model fitted on the others only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.infra.config import Settings

#: The figures printed (in this order) for a report; ``--json`` prints everything.
FIGURES = (
    "queries",
    "faq_top1",
    "faq_top3",
    "faq_answer_accuracy",
    "lay_answer_accuracy",
    "wrong_answer_rate",
    "confirm_rate",
    "wrong_confirm_rate",
    "faq_confirmed_right_rate",
    "oos_escalation_rate",
    "oos_escalated_or_confirmed_rate",
    "near_miss_escalation_rate",
    "near_miss_escalated_or_confirmed_rate",
    "urgent_rate",
    "chitchat_quiet_rate",
    "people_quiet_rate",
    "notice_quiet_rate",
    "clarify_rate",
    "p50_ms",
    "p95_ms",
)


class EvalCliError(Exception):
    """Printed as one line by the CLI, exit code 2."""


def eval_set_paths(folder: Path) -> tuple[str, Path, Path]:
    """(name, kb folder, query file) of an eval-set folder."""
    kb = folder / "kb"
    files = sorted(folder.glob("*.jsonl"))
    if not kb.is_dir():
        raise EvalCliError(f"{folder}: an eval set needs a kb/ folder")
    if len(files) != 1:
        raise EvalCliError(f"{folder}: an eval set needs exactly one *.jsonl query file")
    return folder.name, kb, files[0]


def _redactor() -> Callable[[str], str]:
    from bot.redact import redact

    return redact


def _load_sets(settings: Settings, folders: Sequence[str]) -> list[Any]:
    sets = _build_sets(settings, [eval_set_paths(Path(folder)) for folder in folders])
    if len({s.name for s in sets}) != len(sets):
        raise EvalCliError("eval sets need distinct folder names")
    return sets


def _single_set(settings: Settings, kb: str, queries: str) -> Any:
    kb_dir = Path(kb)
    if not kb_dir.is_dir():
        raise EvalCliError(f"{kb_dir}: KB folder not found")
    return _build_sets(settings, [(kb_dir.name, kb_dir, Path(queries))])[0]


def _build_sets(settings: Settings, sources: Sequence[tuple[str, Path, Path]]) -> list[Any]:
    """One fresh in-memory index per (name, KB folder, query file); one embedder and one
    message classifier shared by all. Query files are read first: a bad one fails fast."""
    from bot.kb.knowledge import answer_engine, build_in_memory, embedder_for, message_classifier
    from intents.evaluate import EvalSet, read_queries
    from kb_index.articles import scan_folder
    from kb_index.embedder import CachingEmbedder

    labelled = [read_queries(queries) for _, _, queries in sources]
    # every query is decided again per fold: embed each text once
    embedder = CachingEmbedder(embedder_for(settings))
    classifier = message_classifier(settings)
    sets = []
    for (name, kb, _), queries in zip(sources, labelled, strict=True):
        scan = scan_folder(kb)
        for err in scan.errors:
            print(f"warning: skipped {err}", file=sys.stderr)
        index, _ = build_in_memory(settings, scan.articles, embedder)
        sets.append(EvalSet(name, answer_engine(settings, index, embedder, classifier), queries))
    return sets


def cmd_kb_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.progress import progress_bar
    from intents.evaluate import evaluate, leave_one_kb_out

    if args.from_history:
        from bot.kb.loop.history_cli import cmd_eval_from_history

        return cmd_eval_from_history(args, settings)
    if args.loko:
        if args.kb or args.queries:
            raise EvalCliError("--loko takes eval-set folders, not --kb/--queries")
        if len(args.loko) < 2:
            raise EvalCliError("leave-one-KB-out needs at least two KBs (eval-set folders)")
        if args.folds and not 2 <= args.folds <= len(args.loko):
            raise EvalCliError(f"--folds {args.folds}: between 2 and the number of KBs")
        sets = _load_sets(settings, args.loko)
        report = leave_one_kb_out(
            sets,
            _budgets(args, settings),
            prepare=_redactor(),
            progress=lambda n: print(f"held out: {n}", file=sys.stderr),
            jobs=args.jobs,
            folds=args.folds,
        )
        if args.json:
            print(json.dumps(report, ensure_ascii=False))
            return 0
        _print_table(report)
        return 0
    if args.folds:
        raise EvalCliError("--folds goes with --loko")
    if not (args.kb and args.queries):
        raise EvalCliError("give --kb and --queries (or --loko SET SET …)")
    one = _single_set(settings, args.kb, args.queries)
    with progress_bar(len(one.queries), "evaluating") as advance:
        report = evaluate(one.engine, one.queries, prepare=_redactor(), progress=advance)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    for key in ("model", *FIGURES):
        print(f"{key:>38}: {report.get(key)}")
    misses = [q for q in report["per_query"] if _is_miss(q)]
    if misses:
        print(f"\n{len(misses)} queries not decided as expected:")
        for q in misses:
            print(
                f"  {q['id']:<8} {q['kind']:<9} expected={q['expected']} got {q['decision']} "
                f"{q['article'] or ''} (conf {q['confidence']}, {q['message_class']}) top={q['top']}"
            )
    return 0


def _print_table(report: dict[str, Any]) -> None:
    names = list(report["per_kb"])
    print(
        f"{'leave-one-KB-out':>38}  "
        + "  ".join(f"{n[:10]:>10}" for n in names)
        + f"  {'pooled':>10}"
    )
    for key in FIGURES:
        row = [report["per_kb"][n].get(key) for n in names] + [report["pooled"].get(key)]
        print(f"{key:>38}  " + "  ".join(f"{_fmt(v):>10}" for v in row))


def _share(text: str) -> float:
    """An argparse type: a share strictly between 0 and 1 (「0.0025」)."""
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < share < 1.0:
        raise argparse.ArgumentTypeError(f"a share must be between 0 and 1, not {text}")
    return share


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _is_miss(q: dict[str, object]) -> bool:
    want = {
        "faq": "answer",
        "pii": "answer",
        "out-of-kb": "escalate",
        "urgent": "urgent",
        "chitchat": "smalltalk",
        "people": "smalltalk",
        "notice": "smalltalk",
    }[str(q["kind"])]
    return q["decision"] != want or (want == "answer" and q["article"] != q["expected"])


def _budgets(args: argparse.Namespace, settings: Settings) -> Any:
    from intents.calibration import Budgets

    wrong = (
        args.max_wrong_rate if args.max_wrong_rate is not None else settings.decide.max_wrong_rate
    )
    return Budgets(wrong_answers=wrong, wrong_confirms=args.max_wrong_confirm_rate)


def cmd_kb_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from intents.evaluate import calibrate
    from intents.verifier import TooFewLabels

    if args.set:
        if args.kb or args.queries:
            raise EvalCliError("give either --set folders or --kb/--queries, not both")
        sets = _load_sets(settings, args.set)
    elif args.kb and args.queries:
        sets = [_single_set(settings, args.kb, args.queries)]
    elif not args.from_history:
        raise EvalCliError(
            "give --kb and --queries, one --set per eval-set folder, or --from-history"
        )
    else:
        sets = []
    history_line = ""
    if args.from_history:  # the deployment's labelled questions join the sets
        from bot.kb.loop.history_cli import describe, history_set

        one, history = history_set(settings, args.since)
        sets.append(one)
        history_line = describe(history)
    out = Path(args.out)
    if out.is_dir():
        raise EvalCliError(f"--out {out} is a folder; give the model file's path")
    try:  # fail before the minutes of fitting, not after
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalCliError(f"--out {out}: {exc.strerror or exc}") from exc
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise EvalCliError(f"--out {out}: not writable")
    try:
        cal = calibrate(sets, _budgets(args, settings), prepare=_redactor(), jobs=args.jobs)
    except TooFewLabels as exc:
        raise EvalCliError(str(exc)) from exc
    try:
        cal.model.save(out)
    except OSError as exc:
        raise EvalCliError(f"--out {out}: {exc.strerror or exc}") from exc
    names = ", ".join(s.name for s in sets)
    if history_line:
        print(history_line)
    print(f"# fitted on {cal.samples} messages that reach retrieval, from: {names}")
    held = "the other KBs' models" if len(sets) > 1 else "the other folds' models"
    print(
        f"# scored by {held}: answer accuracy {cal.answer_accuracy:.3f}, "
        f"wrong-answer rate {cal.wrong_rate:.3f}"
    )
    if len(sets) == 1:
        print(
            f"# nested 5-fold held-out: answer accuracy {cal.cv_answer_accuracy:.3f}, "
            f"wrong-answer rate {cal.cv_wrong_rate:.3f}"
        )
    elif args.set:
        print("# held-out figures: hisbot kb eval --loko " + " ".join(args.set))
    print(f"# verification model written to {out}")
    if math.isinf(cal.threshold):
        print(
            f"# no threshold keeps wrong answers within budget on {cal.samples} questions: with "
            "this calibration the bot never answers directly (it asks or escalates); label "
            "more questions — a few hundred, a third of them ones the KB cannot answer"
        )
    print("[decide]")
    print(f"answer_threshold = {cal.threshold}")
    print(f"confirm_threshold = {cal.confirm_threshold}")
    print(f"verification_model = {json.dumps(str(out.resolve()), ensure_ascii=False)}")
    return 0


def cmd_kb_train_classifier(args: argparse.Namespace, settings: Settings) -> int:
    from bot.kb.knowledge import embedder_for
    from intents.classifier_training import (
        SCOPE_QUESTION_RATE,
        cross_validate,
        embed,
        fit_scope_head,
        read_corpus,
        train,
    )

    corpus = read_corpus([Path(p) for p in args.corpus])
    if not corpus:
        raise EvalCliError("the corpus is empty")
    # read together, so an id used in both is refused like one used twice in either
    scope_only = read_corpus([Path(p) for p in args.corpus + args.scope_corpus])[len(corpus) :]
    embedder = embedder_for(settings)
    print(
        f"embedding {len(corpus) + len(scope_only)} messages with {embedder.model_id}",
        file=sys.stderr,
    )
    vectors = embed(embedder, [m.text for m in [*corpus, *scope_only]])
    if args.cv:
        print(
            json.dumps(
                cross_validate(corpus, vectors[: len(corpus)], embedder.model_id),
                ensure_ascii=False,
            )
        )
    rate = SCOPE_QUESTION_RATE if args.scope_rate is None else args.scope_rate
    scope = fit_scope_head([*corpus, *scope_only], vectors, rate)
    meta: dict[str, object] = {
        "messages": len(corpus),
        "corpus": [Path(p).name for p in args.corpus],
    }
    if scope is None:
        print(
            "# no scope head: too few outages or questions to choose its threshold", file=sys.stderr
        )
    else:
        meta["scope_corpus"] = [Path(p).name for p in args.scope_corpus]
        print(
            f"# scope head: {scope.rows} outages and questions ({scope.outages} outages); its "
            f"threshold {scope.head.threshold:.4f} pages {rate:.2%} of the cross-validated "
            f"questions and {scope.cv_outage_recall:.2%} of the outages",
            file=sys.stderr,
        )
    clf = train(
        corpus, vectors[: len(corpus)], embedder.model_id, scope=scope.head if scope else None
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clf.save(out, meta)
    print(f"message classifier written to {out} (set [decide] message_model to use it)")
    return 0


#: The figures ``kb eval-classifier`` prints (in this order); ``--json`` prints everything.
TRIAGE_FIGURES = (
    "messages",
    "accuracy",
    "hard_accuracy",
    "outage_urgent_rate",
    "question_kept_rate",
    "question_quiet_rate",
    "question_urgent_rate",
    "chitchat_quiet_rate",
    "people_quiet_rate",
    "notice_quiet_rate",
    "notice_urgent_rate",
    "quiet_urgent_rate",
)


def cmd_kb_eval_classifier(args: argparse.Namespace, settings: Settings) -> int:
    """The deployment's message classifier and thresholds on a labelled corpus, as the bot
    applies them (addressing first, then the classifier; no KB needed)."""
    from bot.kb.knowledge import embedder_for, message_classifier
    from intents.classifier_training import evaluate_triage, read_corpus
    from intents.triage import MessageTriage

    corpus = read_corpus([Path(p) for p in args.corpus])
    if not corpus:
        raise EvalCliError("the corpus is empty")
    triage = MessageTriage(message_classifier(settings), embedder_for(settings), settings.decide)
    report = evaluate_triage(triage, corpus, prepare=_redactor())
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    for key in TRIAGE_FIGURES:
        print(f"{key:>22}: {_fmt(report[key])}")
    names = list(report["confusion"])
    print(f"\n{'labelled → taken as':>22}  " + "  ".join(f"{n:>8}" for n in names))
    for label, row in report["confusion"].items():
        print(f"{label:>22}  " + "  ".join(f"{row[n]:>8}" for n in names))
    misses = [r for r in report["per_message"] if r["label"] != r["taken_as"]]
    if misses:
        print(f"\n{len(misses)} messages not taken as labelled:")
        for r in misses:
            print(
                f"  {r['id']:<8} {r['label']:>8} → {r['taken_as']:<8} {r['text'][:60]}  ({r['reason']})"
            )
    return 0


def add_eval_parsers(
    kb: Any, wrap: Callable[[Callable[[argparse.Namespace, Settings], int]], Any]
) -> None:
    """Register the commands under ``hisbot kb``; ``wrap`` supplies the settings."""
    s = kb.add_parser("eval", help="run the decision path on labelled queries")
    s.add_argument("--kb", help="KB folder (indexed fresh, in memory)")
    s.add_argument("--queries", help="JSONL: id, query, expected, kind")
    s.add_argument(
        "--loko",
        nargs="+",
        metavar="SET",
        help="leave-one-KB-out over eval-set folders (kb/ + one *.jsonl each)",
    )
    s.add_argument(
        "--folds",
        type=int,
        default=0,
        metavar="K",
        help="with --loko: hold out K interleaved groups of KBs instead of one KB at a time "
        "(K fits instead of one per KB)",
    )
    _history_args(s)
    _fitting_args(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=wrap(cmd_kb_eval))
    s = kb.add_parser(
        "calibrate",
        help="fit the verification model (written to --out) and its thresholds (printed)",
    )
    s.add_argument("--kb")
    s.add_argument("--queries")
    s.add_argument("--set", action="append", help="eval-set folder (repeatable)")
    s.add_argument("--out", required=True, help="where to write the verification model (.npz)")
    _history_args(s)
    _fitting_args(s)
    s.set_defaults(func=wrap(cmd_kb_calibrate))
    s = kb.add_parser(
        "eval-classifier",
        help="measure the message classifier and its thresholds on a labelled corpus",
    )
    s.add_argument("corpus", nargs="+", help="JSONL: id, text, label (optional: hard)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=wrap(cmd_kb_eval_classifier))
    s = kb.add_parser("train-classifier", help="train the message classifier on a corpus")
    s.add_argument("corpus", nargs="+", help="JSONL: id, text, label")
    s.add_argument("--out", required=True, help="where to write the .npz model")
    s.add_argument("--cv", action="store_true", help="print 5-fold held-out accuracy first")
    s.add_argument(
        "--scope-corpus",
        nargs="*",
        default=[],
        metavar="FILE",
        help="more labelled messages for the scope head only (their outages and questions)",
    )
    s.add_argument(
        "--scope-rate",
        type=_share,
        default=None,
        metavar="SHARE",
        help="the share of cross-validated questions the scope head may page (default 0.0025)",
    )
    s.set_defaults(func=wrap(cmd_kb_train_classifier))


def _history_args(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--from-history",
        action="store_true",
        help="the questions engineers labelled when resolving tickets, against this "
        "deployment's KB (its database)",
    )
    s.add_argument(
        "--since", type=int, metavar="DAYS", help="with --from-history: only the last DAYS days"
    )


def _processes(value: str) -> int:
    """``--jobs``: a whole number of processes, at least one."""
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"a number of processes (at least 1), not {value!r}")
    return jobs


def _fitting_args(s: argparse.ArgumentParser) -> None:
    """What fitting the verification model may spend: processes, and the budgets."""
    s.add_argument(
        "--jobs",
        type=_processes,
        default=1,
        help="fit the held-out verification models in this many processes (e.g. the core count)",
    )
    s.add_argument(
        "--max-wrong-rate",
        type=float,
        default=None,
        help="wrong direct answers, a share of all messages (default: [decide] max_wrong_rate)",
    )
    s.add_argument(
        "--max-wrong-confirm-rate",
        type=float,
        default=0.06,
        help="「是这个问题吗？」 about the wrong article",
    )
