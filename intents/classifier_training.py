"""Training the message classifier (``hisbot kb train-classifier``) and measuring it held out.

A labelled corpus is JSONL: ``{"id": …, "text": …, "label": "question|outage|chitchat|people|
notice"}``. Two heads are fitted with L2-regularised softmax regression (L-BFGS): one over
[embedding | n-grams] for the embedding model in use, one over n-grams alone (used under any
other model). Class weights balance the corpus, so the prior of the training mix does not leak
into the decision. The scope head (``fit_scope_head``) is fitted on the outage and question rows
alone, with a threshold chosen by cross-validation so that it pages almost no question.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import minimize

from intents.addressing import surface
from intents.classify import HASH_BITS, MessageClassifier, ScopeHead, ngram_ids
from intents.jsonl import json_objects
from intents.message_class import CLASSES, MessageClass
from intents.triage import QUIET_CLASSES, MessageTriage
from kb_index.embedder import Embedder
from kb_index.text import prepare_query


class CorpusError(ValueError):
    """A malformed corpus file; the message names the line."""


@dataclass(frozen=True)
class LabelledMessage:
    id: str
    text: str
    label: MessageClass
    #: Written to be hard on purpose (reported apart by ``evaluate_triage``).
    hard: bool = False


def read_corpus(paths: Sequence[Path]) -> list[LabelledMessage]:
    out: list[LabelledMessage] = []
    errors: list[str] = []
    seen: set[str] = set()
    labels = {c.value for c in CLASSES}
    for path in paths:
        rows, problems = json_objects(path, CorpusError)
        errors.extend(problems)
        for n, obj in rows:
            if not isinstance(obj.get("text"), str):
                errors.append(f"{path}:{n}: expected an object with a string 'text'")
            elif obj.get("label") not in labels:
                errors.append(f"{path}:{n}: 'label' must be one of {', '.join(sorted(labels))}")
            elif (ident := str(obj.get("id", f"{path.name}:{n}"))) in seen:
                errors.append(f"{path}:{n}: duplicate id {ident!r}")
            else:
                seen.add(ident)
                out.append(
                    LabelledMessage(
                        ident, obj["text"], MessageClass(obj["label"]), bool(obj.get("hard"))
                    )
                )
    if errors:
        raise CorpusError("\n".join(errors))
    return out


def ngram_matrix(texts: Sequence[str], bits: int = HASH_BITS) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        ids = np.unique(ngram_ids(surface(text), bits))
        rows.extend([i] * len(ids))
        cols.extend(ids.tolist())
        vals.extend([1.0 / max(np.sqrt(len(ids)), 1.0)] * len(ids))
    return sparse.csr_matrix(
        (np.asarray(vals, np.float64), (rows, cols)), shape=(len(texts), 1 << bits)
    )


def fit_softmax(
    x: sparse.csr_matrix | npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    l2: float,
    classes: int = len(CLASSES),
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Balanced, L2-regularised multinomial logistic regression; returns (weights, bias)."""
    n, d = x.shape
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    sample_w = (n / (classes * np.maximum(counts, 1.0)))[y]
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w = theta[: classes * d].reshape(classes, d)
        b = theta[classes * d :]
        z = np.asarray(x @ w.T) + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        ll = -float((sample_w * np.log(np.maximum((p * onehot).sum(axis=1), 1e-12))).sum())
        g = (p - onehot) * sample_w[:, None]
        gw = np.asarray((x.T @ g).T) + l2 * w
        gb = g.sum(axis=0)
        return ll + 0.5 * l2 * float((w * w).sum()), np.concatenate([gw.ravel(), gb])

    theta0 = np.zeros(classes * d + classes)
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = res.x
    return theta[: classes * d].reshape(classes, d), theta[classes * d :]


def embed(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """The embedding the answer engine computes for a message (same preparation)."""
    out = [
        embedder.embed_queries([prepare_query(t) for t in texts[i : i + 64]])
        for i in range(0, len(texts), 64)
    ]
    return np.vstack(out).astype(np.float64) if out else np.zeros((0, embedder.dim))


def train(
    corpus: Sequence[LabelledMessage],
    embeddings: npt.NDArray[np.float64] | None = None,
    model_id: str = "",
    l2: float = 0.3,
    scope: ScopeHead | None = None,
) -> MessageClassifier:
    """Fit both heads; the embedding head only when ``embeddings`` (one row per message, from
    the model ``model_id``) are given. ``scope`` (``fit_scope_head``) is kept with them."""
    y = np.array([CLASSES.index(m.label) for m in corpus], dtype=np.int64)
    ng = ngram_matrix([m.text for m in corpus])
    w_ng, b_ng = fit_softmax(ng, y, l2)
    full_w = full_b = None
    if embeddings is not None and model_id:
        x = sparse.hstack([sparse.csr_matrix(embeddings), ng]).tocsr()
        w, b = fit_softmax(x, y, l2)
        full_w, full_b = w.astype(np.float32), b.astype(np.float32)
    return MessageClassifier(
        w_ng.astype(np.float32),
        b_ng.astype(np.float32),
        full_w,
        full_b,
        model_id,
        scope=scope if full_w is not None else None,
    )


#: The share of its cross-validated questions the scope head may page: it is consulted only where
#: the triage would pass a message on as a question, so each question it pages is a P1 nobody
#: needed (twenty-first session: 1 % and 0.5 % paged too many of the KB sets' questions).
SCOPE_QUESTION_RATE = 0.0025
#: Fewer rows of either kind than this and no threshold can be chosen: no head.
SCOPE_MIN_ROWS = 20


@dataclass(frozen=True)
class ScopeFit:
    """The scope head, and what its cross-validation saw (printed by ``train-classifier``)."""

    head: ScopeHead
    rows: int
    outages: int
    #: share of the cross-validated outages at or over the threshold
    cv_outage_recall: float


def fit_scope_head(
    corpus: Sequence[LabelledMessage],
    embeddings: npt.NDArray[np.float64],
    question_rate: float = SCOPE_QUESTION_RATE,
    folds: int = 5,
    seed: int = 7,
    l2: float = 0.3,
) -> ScopeFit | None:
    """Outage against question over [embedding | n-grams], on the corpus's rows of those two
    kinds; the threshold is the lowest at which the held-out heads of ``folds``-fold
    cross-validation page at most ``question_rate`` of the questions. None when the corpus has
    too few of either kind to choose one."""
    keep = [
        i for i, m in enumerate(corpus) if m.label in (MessageClass.OUTAGE, MessageClass.QUESTION)
    ]
    y = np.array([int(corpus[i].label is MessageClass.OUTAGE) for i in keep], dtype=np.int64)
    if min(int(y.sum()), len(y) - int(y.sum())) < SCOPE_MIN_ROWS:
        return None
    x = sparse.hstack(
        [sparse.csr_matrix(embeddings[keep]), ngram_matrix([corpus[i].text for i in keep])]
    ).tocsr()
    held_out = np.empty(len(keep))
    order = np.random.default_rng(seed).permutation(len(keep))
    for k in range(folds):
        test = order[k::folds]
        fit = np.setdiff1d(order, test)
        w, b = fit_softmax(x[fit], y[fit], l2, 2)
        held_out[test] = _p_outage(w, b, x[test])
    questions = np.sort(held_out[y == 0])
    threshold = float(
        questions[min(int(np.ceil(len(questions) * (1 - question_rate))), len(questions) - 1)]
    )
    w, b = fit_softmax(x, y, l2, 2)
    # two-class softmax = logistic regression on the difference of the two rows
    head = ScopeHead((w[1] - w[0]).astype(np.float32), float(b[1] - b[0]), threshold)
    recall = float((held_out[y == 1] >= threshold).mean())
    return ScopeFit(head, len(keep), int(y.sum()), round(recall, 4))


def _p_outage(
    w: npt.NDArray[np.float64], b: npt.NDArray[np.float64], x: sparse.csr_matrix
) -> npt.NDArray[np.float64]:
    z = np.asarray(x @ (w[1] - w[0])).ravel() + (b[1] - b[0])
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
    return out


def cross_validate(
    corpus: Sequence[LabelledMessage],
    embeddings: npt.NDArray[np.float64] | None,
    model_id: str,
    folds: int = 5,
    seed: int = 7,
) -> dict[str, object]:
    """Held-out accuracy and per-class recall over k folds (deterministic shuffle)."""
    order = np.random.default_rng(seed).permutation(len(corpus))
    pred = np.empty(len(corpus), dtype=np.int64)
    for k in range(folds):
        test = order[k::folds]
        fit_idx = np.setdiff1d(order, test)
        clf = train(
            [corpus[i] for i in fit_idx],
            embeddings[fit_idx] if embeddings is not None else None,
            model_id,
        )
        for i in test:
            e = embeddings[i].astype(np.float32) if embeddings is not None else None
            pred[i] = CLASSES.index(clf.scores(corpus[i].text, e, model_id).best)
    y = np.array([CLASSES.index(m.label) for m in corpus])
    recall = {
        c.value: round(float((pred[y == i] == i).mean()), 4) if (y == i).any() else None
        for i, c in enumerate(CLASSES)
    }
    return {
        "messages": len(corpus),
        "accuracy": round(float((pred == y).mean()), 4),
        "recall": recall,
    }


def evaluate_triage(
    triage: MessageTriage, corpus: Sequence[LabelledMessage], prepare: Callable[[str], str]
) -> dict[str, Any]:
    """What the bot does with each labelled message before retrieval, as ``decide`` does it.

    The rates that matter are the errors' costs, not the classifier's accuracy: an outage not
    raised as one (``outage_urgent_rate``), a question dropped silently (``question_quiet_rate``)
    or raised as a P1 (``question_urgent_rate``), and the quiet kinds kept quiet. ``prepare`` is
    the redaction gate every message passes first.
    """
    rows: list[dict[str, Any]] = []
    for m in corpus:
        text = prepare(m.text)
        got = triage(text)
        rows.append(
            {
                "id": m.id,
                "text": text,  # as redacted: a report is shown and kept
                "label": m.label.value,
                "hard": m.hard,
                "taken_as": got.taken_as.value,
                "reason": got.reason,
            }
        )
    names = [c.value for c in CLASSES]
    confusion = {a: dict.fromkeys(names, 0) for a in names}
    for r in rows:
        confusion[r["label"]][r["taken_as"]] += 1

    def rate(label: MessageClass, taken: Sequence[MessageClass]) -> float | None:
        return _pooled_rate(confusion, [label], taken)

    quiet = QUIET_CLASSES
    hard = [r for r in rows if r["hard"]]
    return {
        "messages": len(rows),
        "accuracy": round(sum(r["label"] == r["taken_as"] for r in rows) / max(len(rows), 1), 4),
        "hard_accuracy": (
            round(sum(r["label"] == r["taken_as"] for r in hard) / len(hard), 4) if hard else None
        ),
        "outage_urgent_rate": rate(MessageClass.OUTAGE, [MessageClass.OUTAGE]),
        "question_kept_rate": rate(MessageClass.QUESTION, [MessageClass.QUESTION]),
        "question_quiet_rate": rate(MessageClass.QUESTION, quiet),
        "question_urgent_rate": rate(MessageClass.QUESTION, [MessageClass.OUTAGE]),
        "chitchat_quiet_rate": rate(MessageClass.CHITCHAT, quiet),
        "people_quiet_rate": rate(MessageClass.PEOPLE, quiet),
        "notice_quiet_rate": rate(MessageClass.NOTICE, quiet),
        "notice_urgent_rate": rate(MessageClass.NOTICE, [MessageClass.OUTAGE]),
        "quiet_urgent_rate": _pooled_rate(confusion, quiet, [MessageClass.OUTAGE]),
        "confusion": confusion,
        "per_message": rows,
    }


def _pooled_rate(
    confusion: dict[str, dict[str, int]],
    labels: Sequence[MessageClass],
    taken: Sequence[MessageClass],
) -> float | None:
    total = sum(sum(confusion[lab.value].values()) for lab in labels)
    hit = sum(confusion[lab.value][t.value] for lab in labels for t in taken)
    return round(hit / total, 4) if total else None
