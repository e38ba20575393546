"""Measuring the decision path: ``hisbot kb eval``, ``kb calibrate`` and ``kb eval-sts``.

Evaluation runs exactly what the bot runs (``AnswerEngine.decide``) on a query file, so the
figures describe the product, not a retrieval toy.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from intents.confidence import ThresholdChoice, choose_threshold, confidence, features, fit
from intents.decide import AnswerEngine, DecisionKind, query_text
from intents.settings import ConfidenceModel
from kb_index.embedder import Embedder

KINDS = ("faq", "out-of-kb", "urgent", "chitchat", "pii")
ANSWERABLE = ("faq", "pii")


class QueryFileError(ValueError):
    """A malformed query file; the message names the line."""


@dataclass(frozen=True)
class LabelledQuery:
    id: str
    query: str
    expected: str | None
    kind: str


def read_queries(path: Path) -> list[LabelledQuery]:
    """Parse a JSONL query file; every problem is reported with its line number."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise QueryFileError(f"{path}: cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise QueryFileError(f"{path}: not valid UTF-8 (byte {exc.start})") from exc
    out: list[LabelledQuery] = []
    errors: list[str] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{n}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{path}:{n}: expected a JSON object")
            continue
        problem = _check_query(obj)
        if problem:
            errors.append(f"{path}:{n}: {problem}")
            continue
        out.append(LabelledQuery(str(obj["id"]), obj["query"], obj.get("expected"), obj["kind"]))
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


def evaluate(
    engine: AnswerEngine,
    queries: Sequence[LabelledQuery],
    prepare: Callable[[str], str] = lambda s: s,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the decision path on every query and compute the report's figures.

    ``prepare`` is what the bot does to a message before deciding (PII redaction).
    """
    per_query: list[dict[str, Any]] = []
    latencies: list[float] = []
    counts = dict.fromkeys(KINDS, 0)
    top1 = top3 = answered_right = wrong = clarified = 0
    oos_escalated = urgent_ok = quiet = 0
    engine.decide("预热")  # warm the index and the model: figures are for a running bot
    for q in queries:
        text = prepare(q.query)
        t0 = time.perf_counter()
        decision = engine.decide(text)
        latencies.append((time.perf_counter() - t0) * 1000)
        top = decision.top_ids[:3]
        if not top:  # urgent/smalltalk skip retrieval; rank anyway for top-k figures
            top = [c.article.id for c in engine.rank(text, k=3)]
        counts[q.kind] += 1
        article = decision.article.id if decision.article else None
        is_answer = decision.kind is DecisionKind.ANSWER
        if q.kind in ANSWERABLE:
            top1 += bool(top) and top[0] == q.expected
            top3 += q.expected in top
            answered_right += is_answer and article == q.expected
        if is_answer and article != q.expected:
            wrong += 1
        clarified += decision.kind is DecisionKind.CLARIFY
        if q.kind == "out-of-kb":
            oos_escalated += decision.kind in (DecisionKind.ESCALATE, DecisionKind.URGENT)
        if q.kind == "urgent":
            urgent_ok += decision.kind is DecisionKind.URGENT
        if q.kind == "chitchat":
            quiet += decision.kind is DecisionKind.SMALLTALK
        per_query.append(
            {
                "id": q.id,
                "kind": q.kind,
                "expected": q.expected,
                "decision": decision.kind.value,
                "article": article,
                "confidence": round(decision.confidence, 4),
                "top": top,
            }
        )
        if progress:
            progress(1)
    n_ans = counts["faq"] + counts["pii"]

    def rate(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    return {
        "queries": len(queries),
        "model": engine.embedder.model_id,
        "faq_top1": rate(top1, n_ans),
        "faq_top3": rate(top3, n_ans),
        "faq_answer_accuracy": rate(answered_right, n_ans),
        "wrong_answer_rate": rate(wrong, len(queries)),
        "oos_escalation_rate": rate(oos_escalated, counts["out-of-kb"]),
        "urgent_rate": rate(urgent_ok, counts["urgent"]),
        "chitchat_quiet_rate": rate(quiet, counts["chitchat"]),
        "clarify_rate": rate(clarified, len(queries)),
        "p50_ms": round(_percentile(latencies, 50), 2),
        "p95_ms": round(_percentile(latencies, 95), 2),
        "counts": counts,
        "per_query": per_query,
    }


@dataclass(frozen=True)
class Calibration:
    model: ConfidenceModel
    threshold: float
    answer_accuracy: float
    wrong_rate: float
    samples: int
    #: k-fold estimate on held-out folds: what to expect on queries the fit never saw.
    cv_answer_accuracy: float = 0.0
    cv_wrong_rate: float = 0.0


def calibrate(
    engine: AnswerEngine,
    queries: Sequence[LabelledQuery],
    max_wrong_rate: float,
    prepare: Callable[[str], str] = lambda s: s,
    l2: float = 1.0,
) -> Calibration:
    """Fit the confidence model and the answer threshold on labelled queries.

    Only queries that reach retrieval are used (outages and chit-chat are decided by rules
    before it), exactly as ``decide`` would see them.
    """
    from intents.outage import detect_outage
    from intents.smalltalk import detect_smalltalk

    feats: list[dict[str, float]] = []
    correct: list[bool] = []
    answerable: list[bool] = []
    for q in queries:
        text = query_text(prepare(q.query), engine.settings.max_chars)
        if detect_outage(text).is_outage or detect_smalltalk(text).is_smalltalk:
            continue
        ranked = engine.rank(text, k=5)
        if not ranked:
            continue
        feats.append(features([r.hit for r in ranked]))
        correct.append(ranked[0].article.id == q.expected)
        answerable.append(q.kind in ANSWERABLE)
    # the budget is over all messages, as ``wrong_answer_rate`` is: rule-decided ones included
    budget = max_wrong_rate * len(queries) / max(len(feats), 1)
    model, choice = _fit_and_choose(feats, correct, answerable, budget, l2)
    cv_acc, cv_wrong = _cross_validate(feats, correct, answerable, budget, l2)
    scale = len(feats) / max(len(queries), 1)
    choice = ThresholdChoice(choice.threshold, choice.answer_accuracy, choice.wrong_rate * scale)
    cv_wrong *= scale
    return Calibration(
        model,
        choice.threshold,
        choice.answer_accuracy,
        choice.wrong_rate,
        len(feats),
        cv_acc,
        cv_wrong,
    )


def _fit_and_choose(
    feats: Sequence[dict[str, float]],
    correct: Sequence[bool],
    answerable: Sequence[bool],
    max_wrong_rate: float,
    l2: float,
) -> tuple[ConfidenceModel, ThresholdChoice]:
    model = fit(feats, correct, l2=l2)
    probs = [confidence(model, f) for f in feats]
    return model, choose_threshold(probs, correct, answerable, max_wrong_rate)


def _cross_validate(
    feats: Sequence[dict[str, float]],
    correct: Sequence[bool],
    answerable: Sequence[bool],
    max_wrong_rate: float,
    l2: float,
    folds: int = 5,
    repeats: int = 4,
) -> tuple[float, float]:
    """Answer accuracy and wrong rate on held-out folds (deterministic shuffles)."""
    n = len(feats)
    if n < folds * 2:
        return 0.0, 0.0
    right = wrong = 0
    rng = np.random.default_rng(20261125)
    for _ in range(repeats):
        order = rng.permutation(n)
        for k in range(folds):
            test = set(order[k::folds].tolist())
            train = [i for i in range(n) if i not in test]
            model, choice = _fit_and_choose(
                [feats[i] for i in train],
                [correct[i] for i in train],
                [answerable[i] for i in train],
                max_wrong_rate,
                l2,
            )
            for i in test:
                if confidence(model, feats[i]) >= choice.threshold:
                    right += correct[i]
                    wrong += not correct[i]
    n_answerable = max(sum(answerable), 1)
    return right / (n_answerable * repeats), wrong / (n * repeats)


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
