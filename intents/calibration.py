"""Fitting the verification model and choosing its thresholds from labelled samples.

Pure arithmetic over ``Sample`` rows (the top article's evidence, and whether it was right):
``intents.evaluate`` turns a KB's labelled queries into samples by running the engine, and
hands them here grouped by KB.

The thresholds are chosen on *held-out* scores — each KB's samples scored by a model fitted
on the other KBs (one KB: on the other folds) — because boosted trees score the questions they
were fitted on far more surely than a new KB's, and a threshold chosen on those would answer a
new KB's near misses.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from intents.confidence import ThresholdChoice, choose_confirm_threshold, choose_threshold
from intents.settings import DecideSettings
from intents.verifier import Verifier, fit_verifier


@dataclass(frozen=True)
class Sample:
    """The evidence for one message's top article, and whether that article was right."""

    features: dict[str, float]
    correct: bool
    answerable: bool
    #: False when ``decide`` never answers it directly whatever its confidence (a how-to whose
    #: action the article never names): the thresholds are chosen under that rule.
    may_answer: bool = True


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


def fit_calibration(
    groups: Sequence[Sequence[Sample]],
    total: int,
    budgets: Budgets = Budgets(),
    meta: Mapping[str, Any] | None = None,
    jobs: int = 1,
) -> Calibration:
    """The model fitted on every sample, its thresholds chosen on held-out scores.

    ``groups`` are the samples of each KB (one group: k folds instead); ``total`` is the
    number of messages they came from — the budgets are over all messages, as the report's
    rates are, so messages decided before retrieval (outages, chit-chat) count too. With one
    group a nested k-fold estimate is added. ``jobs`` > 1 fits the held-out models in that
    many processes (the same models, the same scores: only the wall time changes).
    """
    pooled = [x for g in groups for x in g]
    scale = len(pooled) / max(total, 1)
    model = _fit(pooled, meta)
    answer, confirm = _choose(pooled, _held_out_probabilities(groups, jobs=jobs), budgets, scale)
    cv_acc = cv_wrong = 0.0
    if len(groups) == 1:
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


def _fit(samples: Sequence[Sample], meta: Mapping[str, Any] | None = None) -> Verifier:
    return fit_verifier([s.features for s in samples], [s.correct for s in samples], meta)


def _folds(n: int, k: int, seed: int = 20261125) -> list[list[int]]:
    """``k`` disjoint folds of ``range(n)`` (deterministic shuffle)."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    return [order[i::k] for i in range(k)]


def _held_out_probabilities(
    groups: Sequence[Sequence[Sample]], k: int = 5, jobs: int = 1
) -> list[float]:
    """Each sample scored by a model that never saw it, in pooled order: leave one group
    (KB) out when there are several, else ``k`` folds of the one."""
    pooled = [x for g in groups for x in g]
    starts = np.cumsum([0, *(len(g) for g in groups)]).tolist()
    if sum(1 for g in groups if g) >= 2:
        folds = [list(range(starts[i], starts[i + 1])) for i in range(len(groups)) if groups[i]]
    else:
        folds = _folds(len(pooled), k)
    helds = [[pooled[i] for i in fold] for fold in folds]
    trains = [_without(pooled, fold) for fold in folds]
    probs = [0.0] * len(pooled)
    with _mapper(jobs) as run:
        for fold, scores in zip(folds, run(_fold_scores, trains, helds), strict=True):
            for i, p in zip(fold, scores, strict=True):
                probs[i] = p
    return probs


def _without(pooled: Sequence[Sample], fold: Sequence[int]) -> list[Sample]:
    """``pooled`` less the samples at the indices of ``fold``."""
    held = set(fold)
    return [x for i, x in enumerate(pooled) if i not in held]


def _fold_scores(train: Sequence[Sample], held: Sequence[Sample]) -> list[float]:
    """``held`` scored by a model fitted on ``train`` (module level: a worker process runs it)."""
    return _fit(train).probabilities([s.features for s in held])


Mapper = Callable[..., Iterable[list[float]]]


@contextmanager
def _mapper(jobs: int) -> Iterator[Mapper]:
    """``map`` itself, or a pool's ``map`` over ``jobs`` processes (started fresh, not forked:
    the caller may hold model threads a fork would copy mid-flight)."""
    if jobs <= 1:
        yield map
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool.map


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
        train = _without(pooled, fold)
        choice, _ = _choose(train, _held_out_probabilities([train]), budgets, scale)
        test = [pooled[i] for i in fold]
        for s, p in zip(test, _fold_scores(train, test), strict=True):
            if s.may_answer and p >= choice.threshold:
                right += s.correct
                wrong += not s.correct
    n_answerable = max(sum(s.answerable for s in pooled), 1)
    return right / n_answerable, wrong / n
