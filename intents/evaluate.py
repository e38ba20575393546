"""Measuring the decision path: ``hisbot kb eval``, ``kb calibrate`` and ``kb eval-sts``.

Evaluation runs exactly what the bot runs (``AnswerEngine.decide``) on a query file, so the
figures describe the product, not a retrieval toy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from intents.confidence import (
    ThresholdChoice,
    choose_confirm_threshold,
    choose_threshold,
    features,
)
from intents.decide import AnswerEngine, Decision, DecisionKind, query_text
from intents.jsonl import json_objects
from intents.settings import DecideSettings
from intents.verifier import Verifier, fit_verifier
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


@dataclass(frozen=True)
class Sample:
    """The evidence for one message's top article, and whether that article was right."""

    features: dict[str, float]
    correct: bool
    answerable: bool
    #: False when ``decide`` never answers it directly whatever its confidence (a how-to whose
    #: action the article never names): the thresholds are chosen under that rule.
    may_answer: bool = True


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


@dataclass(frozen=True)
class Budgets:
    """What calibration may spend, as shares of all messages."""

    #: Direct answers with the wrong article.
    wrong_answers: float = 0.015
    #: 「是这个问题吗？」 about the wrong article (the user then says 不是 and it escalates).
    wrong_confirms: float = 0.06
    #: Of the messages asked about, at least this share must be about the right article.
    confirm_precision: float = 0.35


@dataclass(frozen=True)
class Calibration:
    model: Verifier
    threshold: float
    confirm_threshold: float
    #: Direct-answer accuracy and wrong-answer rate at ``threshold``, on predictions for
    #: questions the model was not fitted on (the other KBs' models, or other folds').
    answer_accuracy: float
    wrong_rate: float
    samples: int
    #: Nested k-fold estimate (one KB only): threshold and model both chosen without the
    #: fold judged — what to expect on unseen queries of that KB.
    cv_answer_accuracy: float = 0.0
    cv_wrong_rate: float = 0.0

    def settings(self, base: DecideSettings) -> DecideSettings:
        """``base`` with this calibration's thresholds; the model goes to the engine."""
        return replace(
            base, answer_threshold=self.threshold, confirm_threshold=self.confirm_threshold
        )


def calibrate(
    sets: Sequence[EvalSet],
    budgets: Budgets = Budgets(),
    prepare: Callable[[str], str] = lambda s: s,
    samples: dict[str, list[Sample]] | None = None,
) -> Calibration:
    """Fit the verification model and both thresholds on the labelled queries of ``sets``.

    The budgets are over all messages, as the report's rates are: messages decided before
    retrieval (outages, chit-chat) count in the denominator. The thresholds are chosen on
    *held-out* predictions — each KB's questions scored by a model fitted on the other KBs
    (one KB: on the other folds) — because boosted trees score their own training questions
    far more surely than a new KB's, and a threshold chosen in-sample would answer a new
    KB's near misses. With one set, a nested k-fold estimate is added; across KBs use
    ``leave_one_kb_out`` instead.
    """
    groups: list[list[Sample]] = []
    total = 0
    for s in sets:
        groups.append(
            samples[s.name]
            if samples and s.name in samples
            else retrieval_samples(s.engine, s.queries, prepare)
        )
        total += len(s.queries)
    pooled = [x for g in groups for x in g]
    scale = len(pooled) / max(total, 1)
    meta = {"fitted_on": [s.name for s in sets]}
    model = _fit(pooled, meta)
    answer, confirm = _choose(pooled, _held_out_probabilities(groups), budgets, scale)
    cv_acc = cv_wrong = 0.0
    if len(sets) == 1:
        cv_acc, cv_wrong = _cross_validate(pooled, budgets, scale)
    return Calibration(
        model,
        answer.threshold,
        confirm,
        answer.answer_accuracy,
        answer.wrong_rate * scale,
        len(pooled),
        cv_acc,
        cv_wrong * scale,
    )


def _fit(samples: Sequence[Sample], meta: dict[str, Any] | None = None) -> Verifier:
    return fit_verifier([s.features for s in samples], [s.correct for s in samples], meta)


def _folds(n: int, k: int, seed: int = 20261125) -> list[list[int]]:
    """``k`` disjoint folds of ``range(n)`` (deterministic shuffle)."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    return [order[i::k] for i in range(k)]


def _held_out_probabilities(groups: Sequence[Sequence[Sample]], k: int = 5) -> list[float]:
    """Each sample scored by a model that never saw it, in pooled order: leave one group
    (KB) out when there are several, else ``k`` folds of the one."""
    pooled = [x for g in groups for x in g]
    starts = np.cumsum([0, *(len(g) for g in groups)]).tolist()
    if sum(1 for g in groups if g) >= 2:
        folds = [list(range(starts[i], starts[i + 1])) for i in range(len(groups)) if groups[i]]
    else:
        folds = _folds(len(pooled), k)
    probs = [0.0] * len(pooled)
    for fold in folds:
        held = set(fold)
        model = _fit([x for i, x in enumerate(pooled) if i not in held])
        for i, p in zip(fold, model.probabilities([pooled[i].features for i in fold]), strict=True):
            probs[i] = p
    return probs


def _choose(
    pooled: Sequence[Sample], probs: Sequence[float], budgets: Budgets, scale: float
) -> tuple[ThresholdChoice, float]:
    """Both thresholds from (held-out) probabilities of ``pooled``."""
    correct = [s.correct for s in pooled]
    # budgets are over all messages; these samples are the share ``scale`` of them; a sample
    # that may not be answered directly counts as never reaching the answer threshold
    answer = choose_threshold(
        [p if s.may_answer else 0.0 for p, s in zip(probs, pooled, strict=True)],
        correct,
        [s.answerable for s in pooled],
        budgets.wrong_answers / max(scale, 1e-9),
    )
    below = math.nextafter(answer.threshold, 0.0)  # asked about instead, however sure
    confirm = choose_confirm_threshold(
        [p if s.may_answer else min(p, below) for p, s in zip(probs, pooled, strict=True)],
        correct,
        answer.threshold,
        budgets.wrong_confirms / max(scale, 1e-9),
        budgets.confirm_precision,
    )
    return answer, confirm


def _cross_validate(
    pooled: Sequence[Sample], budgets: Budgets, scale: float, folds: int = 5
) -> tuple[float, float]:
    """Answer accuracy and wrong rate on held-out folds, each fold's model and threshold
    chosen on the other folds only."""
    n = len(pooled)
    if n < folds * 4:
        return 0.0, 0.0
    right = wrong = 0
    for fold in _folds(n, folds):
        held = set(fold)
        train = [x for i, x in enumerate(pooled) if i not in held]
        choice, _ = _choose(train, _held_out_probabilities([train]), budgets, scale)
        model = _fit(train)
        test = [pooled[i] for i in fold]
        for s, p in zip(test, model.probabilities([s.features for s in test]), strict=True):
            if s.may_answer and p >= choice.threshold:
                right += s.correct
                wrong += not s.correct
    n_answerable = max(sum(s.answerable for s in pooled), 1)
    return right / n_answerable, wrong / n


def leave_one_kb_out(
    sets: Sequence[EvalSet],
    budgets: Budgets = Budgets(),
    prepare: Callable[[str], str] = lambda s: s,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Each KB judged by a model fitted on the *other* KBs only; figures per KB and pooled.

    This is the figure that predicts a new customer's KB: nothing is fitted on the KB it is
    judged on.
    """
    if len(sets) < 2:
        raise ValueError("leave-one-KB-out needs at least two KBs")
    samples = {s.name: retrieval_samples(s.engine, s.queries, prepare) for s in sets}
    per_kb: dict[str, Any] = {}
    pooled = _Tally()
    latencies: list[float] = []
    for held in sets:
        if progress:
            progress(held.name)
        others = [s for s in sets if s.name != held.name]
        cal = calibrate(others, budgets, prepare, samples=samples)
        engine = held.engine.with_settings(cal.settings(held.engine.settings), cal.model)
        tally, per_query, lat = _run(engine, held.queries, prepare)
        pooled.merge(tally)
        latencies.extend(lat)
        report = report_from(tally)
        report["fitted_on"] = [s.name for s in others]
        report["answer_threshold"] = cal.threshold
        report["confirm_threshold"] = cal.confirm_threshold
        report["per_query"] = per_query
        per_kb[held.name] = report
    summary = report_from(pooled)
    summary["p50_ms"] = round(_percentile(latencies, 50), 2)
    summary["p95_ms"] = round(_percentile(latencies, 95), 2)
    return {"mode": "leave-one-kb-out", "pooled": summary, "per_kb": per_kb}


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
