"""Measuring the decision path: ``hisbot kb eval``, ``kb calibrate`` and ``kb eval-sts``.

Evaluation runs exactly what the bot runs (``AnswerEngine.decide``) on a query file, so the
figures describe the product, not a retrieval toy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from intents.calibration import Budgets, Calibration, Sample, fit_calibration
from intents.confidence import features
from intents.decide import AnswerEngine, Decision, DecisionKind, query_text
from intents.jsonl import json_objects
from kb_index.embedder import Embedder

KINDS = ("faq", "out-of-kb", "urgent", "chitchat", "people", "notice", "pii")
ANSWERABLE = ("faq", "pii")
#: Kinds the bot should leave alone: chit-chat, talk between people, forwarded notices.
QUIET = ("chitchat", "people", "notice")


class QueryFileError(ValueError):
    """A malformed query file; the message names the line."""


@dataclass(frozen=True)
class LabelledQuery:
    id: str
    query: str
    expected: str | None
    kind: str
    #: An out-of-KB question in the vocabulary of an existing article (the hard case).
    near_miss: bool = False
    #: "lay": worded without the article's technical words.
    style: str = ""


def read_queries(path: Path) -> list[LabelledQuery]:
    """Parse a JSONL query file; every problem is reported with its line number."""
    rows, errors = json_objects(path, QueryFileError)
    out: list[LabelledQuery] = []
    for n, obj in rows:
        problem = _check_query(obj)
        if problem:
            errors.append(f"{path}:{n}: {problem}")
            continue
        out.append(
            LabelledQuery(
                str(obj["id"]),
                obj["query"],
                obj.get("expected"),
                obj["kind"],
                near_miss=bool(obj.get("near_miss", False)),
                style=str(obj.get("style", "")),
            )
        )
    if errors:
        raise QueryFileError("\n".join(errors))
    return out


def _check_query(obj: dict[str, Any]) -> str | None:
    for key in ("id", "query", "kind"):
        if key not in obj:
            return f"missing key {key!r}"
    if not isinstance(obj["query"], str):
        return "'query' must be a string"
    if obj["kind"] not in KINDS:
        return f"'kind' must be one of {', '.join(KINDS)}, not {obj['kind']!r}"
    expected = obj.get("expected")
    if expected is not None and not isinstance(expected, str):
        return "'expected' must be an article id or null"
    if obj["kind"] in ANSWERABLE and expected is None:
        return f"kind {obj['kind']!r} needs an expected article"
    return None


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values), q))


class _Tally:
    """Counts behind the report's rates; adds up across KBs for pooled figures."""

    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def add(self, key: str, value: bool = True) -> None:
        self.n[key] = self.n.get(key, 0) + int(value)

    def __getitem__(self, key: str) -> int:
        return self.n.get(key, 0)

    def merge(self, other: _Tally) -> None:
        for k, v in other.n.items():
            self.n[k] = self.n.get(k, 0) + v


def evaluate(
    engine: AnswerEngine,
    queries: Sequence[LabelledQuery],
    prepare: Callable[[str], str] = lambda s: s,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the decision path on every query and compute the report's figures.

    ``prepare`` is what the bot does to a message before deciding (PII redaction).
    ``faq_answer_accuracy`` and ``wrong_answer_rate`` count direct answers only; confirmations
    (「是这个问题吗？」) are counted apart.
    """
    t, per_query, latencies = _run(engine, queries, prepare, progress)
    report = report_from(t)
    report.update(
        {
            "model": engine.embedder.model_id,
            "p50_ms": round(_percentile(latencies, 50), 2),
            "p95_ms": round(_percentile(latencies, 95), 2),
            "per_query": per_query,
        }
    )
    return report


def _run(
    engine: AnswerEngine,
    queries: Sequence[LabelledQuery],
    prepare: Callable[[str], str],
    progress: Callable[[int], None] | None = None,
) -> tuple[_Tally, list[dict[str, Any]], list[float]]:
    per_query: list[dict[str, Any]] = []
    latencies: list[float] = []
    t = _Tally()
    engine.decide("预热")  # warm the index and the model: figures are for a running bot
    for q in queries:
        text = prepare(q.query)
        t0 = time.perf_counter()
        decision = engine.decide(text)
        latencies.append((time.perf_counter() - t0) * 1000)
        top = decision.top_ids[:3]
        if not top:  # urgent/smalltalk skip retrieval; rank anyway for top-k figures
            top = [c.article.id for c in engine.rank(text, k=3)]
        per_query.append(_score(t, q, decision, top))
        if progress:
            progress(1)
    return t, per_query, latencies


def _score(t: _Tally, q: LabelledQuery, decision: Decision, top: list[str]) -> dict[str, Any]:
    article = decision.article.id if decision.article else None
    kind = decision.kind
    answered = kind is DecisionKind.ANSWER
    confirmed = kind is DecisionKind.CONFIRM
    handed_over = kind in (DecisionKind.ESCALATE, DecisionKind.URGENT)
    t.add("queries")
    t.add(f"n:{q.kind}")
    if q.kind in ANSWERABLE:
        t.add("answerable")
        t.add("top1", bool(top) and top[0] == q.expected)
        t.add("top3", q.expected in top)
        t.add("answered_right", answered and article == q.expected)
        t.add("confirmed_right", confirmed and article == q.expected)
        if q.style == "lay":
            t.add("lay")
            t.add("lay_right", answered and article == q.expected)
    t.add("wrong", answered and article != q.expected)
    t.add("confirm", confirmed)
    t.add("wrong_confirm", confirmed and article != q.expected)
    t.add("clarify", kind is DecisionKind.CLARIFY)
    if q.kind == "out-of-kb":
        t.add("oos_escalated", handed_over)
        t.add("oos_safe", handed_over or confirmed)
        if q.near_miss:
            t.add("near_miss")
            t.add("near_miss_escalated", handed_over)
            t.add("near_miss_safe", handed_over or confirmed)
    t.add(f"ok:{q.kind}", _as_expected(q.kind, kind))
    return {
        "id": q.id,
        "kind": q.kind,
        "expected": q.expected,
        "decision": kind.value,
        "article": article,
        "confidence": round(decision.confidence, 4),
        "message_class": decision.message_class,
        "top": top,
    }


def _as_expected(query_kind: str, kind: DecisionKind) -> bool:
    if query_kind == "urgent":
        return kind is DecisionKind.URGENT
    if query_kind in QUIET:
        return kind is DecisionKind.SMALLTALK
    return False


def report_from(t: _Tally) -> dict[str, Any]:
    """The report's figures from its counts (one KB, or several added up)."""

    def rate(num: str, den: str) -> float | None:
        return round(t[num] / t[den], 4) if t[den] else None

    return {
        "queries": t["queries"],
        "faq_top1": rate("top1", "answerable"),
        "faq_top3": rate("top3", "answerable"),
        "faq_answer_accuracy": rate("answered_right", "answerable"),
        "faq_confirmed_right_rate": rate("confirmed_right", "answerable"),
        "lay_answer_accuracy": rate("lay_right", "lay"),
        "wrong_answer_rate": rate("wrong", "queries"),
        "confirm_rate": rate("confirm", "queries"),
        "wrong_confirm_rate": rate("wrong_confirm", "queries"),
        "oos_escalation_rate": rate("oos_escalated", "n:out-of-kb"),
        "oos_escalated_or_confirmed_rate": rate("oos_safe", "n:out-of-kb"),
        "near_miss_escalation_rate": rate("near_miss_escalated", "near_miss"),
        "near_miss_escalated_or_confirmed_rate": rate("near_miss_safe", "near_miss"),
        "urgent_rate": rate("ok:urgent", "n:urgent"),
        "chitchat_quiet_rate": rate("ok:chitchat", "n:chitchat"),
        "people_quiet_rate": rate("ok:people", "n:people"),
        "notice_quiet_rate": rate("ok:notice", "n:notice"),
        "clarify_rate": rate("clarify", "queries"),
        "counts": {k: t[f"n:{k}"] for k in KINDS},
    }


@dataclass(frozen=True)
class EvalSet:
    """One KB with its labelled queries, as the engine sees it."""

    name: str
    engine: AnswerEngine
    queries: Sequence[LabelledQuery]


def retrieval_samples(
    engine: AnswerEngine, queries: Sequence[LabelledQuery], prepare: Callable[[str], str]
) -> list[Sample]:
    """Samples for the messages that reach retrieval, exactly as ``decide`` sees them (the
    message classifier and addressing go first)."""
    out: list[Sample] = []
    for q in queries:
        message = prepare(q.query)
        decision = engine.decide(message)
        if (
            decision.kind in (DecisionKind.SMALLTALK, DecisionKind.URGENT)
            or not decision.candidates
        ):
            continue
        hits = [c.hit for c in decision.candidates]
        text = query_text(message, engine.settings.max_chars)
        out.append(
            Sample(
                features(hits, text),
                hits[0].article.id == q.expected,
                q.kind in ANSWERABLE,
                may_answer=engine.unnamed_action(text, hits[0].article.id) is None,
            )
        )
    return out


def calibrate(
    sets: Sequence[EvalSet],
    budgets: Budgets = Budgets(),
    prepare: Callable[[str], str] = lambda s: s,
    samples: dict[str, list[Sample]] | None = None,
    jobs: int = 1,
) -> Calibration:
    """Fit the verification model and both thresholds on the labelled queries of ``sets``
    (each a KB): the engine decides every query, and the samples that reach retrieval go to
    ``intents.calibration.fit_calibration`` (its held-out models fitted in ``jobs``
    processes). ``samples`` reuses samples already taken."""
    groups: list[list[Sample]] = []
    total = 0
    for s in sets:
        groups.append(
            samples[s.name]
            if samples and s.name in samples
            else retrieval_samples(s.engine, s.queries, prepare)
        )
        total += len(s.queries)
    return fit_calibration(groups, total, budgets, {"fitted_on": [s.name for s in sets]}, jobs)


def interleaved(sets: Sequence[EvalSet], k: int) -> list[list[EvalSet]]:
    """``k`` groups of KBs, every k-th one in a group (deterministic, no group empty)."""
    return [list(sets[i::k]) for i in range(min(k, len(sets)))]


def leave_one_kb_out(
    sets: Sequence[EvalSet],
    budgets: Budgets = Budgets(),
    prepare: Callable[[str], str] = lambda s: s,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
    folds: int = 0,
) -> dict[str, Any]:
    """Each KB judged by a model fitted on the *other* KBs only; figures per KB and pooled.

    This is the figure that predicts a new customer's KB: nothing is fitted on the KB it is
    judged on. ``folds`` > 0 holds out that many interleaved groups of KBs instead of one KB
    at a time (a KB is judged by a model fitted without its whole group: a little less
    training, ``folds`` fits instead of one per KB).
    """
    if len(sets) < 2:
        raise ValueError("leave-one-KB-out needs at least two KBs")
    held_groups = interleaved(sets, folds) if folds else [[s] for s in sets]
    if len(held_groups) < 2:
        raise ValueError("holding out groups of KBs needs at least two groups")
    samples = {s.name: retrieval_samples(s.engine, s.queries, prepare) for s in sets}
    per_kb: dict[str, Any] = {}
    pooled = _Tally()
    latencies: list[float] = []
    for held in held_groups:
        if progress:
            progress(", ".join(s.name for s in held))
        names = {s.name for s in held}
        others = [s for s in sets if s.name not in names]
        cal = calibrate(others, budgets, prepare, samples, jobs)
        for kb in held:
            engine = kb.engine.with_settings(cal.settings(kb.engine.settings), cal.model)
            tally, per_query, lat = _run(engine, kb.queries, prepare)
            pooled.merge(tally)
            latencies.extend(lat)
            report = report_from(tally)
            report["fitted_on"] = [s.name for s in others]
            report["answer_threshold"] = cal.threshold
            report["confirm_threshold"] = cal.confirm_threshold
            report["per_query"] = per_query
            per_kb[kb.name] = report
    summary = report_from(pooled)
    summary["p50_ms"] = round(_percentile(latencies, 50), 2)
    summary["p95_ms"] = round(_percentile(latencies, 95), 2)
    return {
        "mode": f"{folds} folds of KBs" if folds else "leave-one-kb-out",
        "pooled": summary,
        "per_kb": {s.name: per_kb[s.name] for s in sets},
    }


def read_sts(path: Path) -> list[tuple[str, str, float]]:
    """STS-B lines ``sentence1<TAB>sentence2<TAB>score``; malformed lines are errors."""
    pairs: list[tuple[str, str, float]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except (IndexError, ValueError):
            raise QueryFileError(
                f"{path}:{n}: expected 'sentence1<TAB>sentence2<TAB>score'"
            ) from None
    return pairs


def spearman(a: Iterable[float], b: Iterable[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    x = np.asarray(list(a), dtype=np.float64)
    y = np.asarray(list(b), dtype=np.float64)

    def ranks(v: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
        order = v.argsort(kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # average the ranks of ties
            idx = v == value
            if idx.sum() > 1:
                r[idx] = r[idx].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return float((rx * ry).sum() / den) if den else 0.0


def eval_sts(
    embedder: Embedder,
    pairs: Sequence[tuple[str, str, float]],
    batch: int = 64,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Spearman correlation between cosine similarity and the gold scores (symmetric task:
    both sentences embedded as queries)."""
    sims: list[float] = []
    for i in range(0, len(pairs), batch):
        chunk = pairs[i : i + batch]
        a = embedder.embed_queries([p[0] for p in chunk])
        b = embedder.embed_queries([p[1] for p in chunk])
        sims.extend(float(x) for x in (a * b).sum(axis=1))
        if progress:
            progress(len(chunk))
    return spearman(sims, [p[2] for p in pairs])
