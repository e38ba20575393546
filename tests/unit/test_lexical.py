"""kb_index.lexical: BM25 over character n-grams and exact Latin tokens."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from kb_index.articles import Article
from kb_index.index import lexical_document
from kb_index.lexical import LexicalIndex
from kb_index.text import lexical_terms

DOCS = [
    "住院医保结算报错 2304 金额不一致，需要重新上传明细",
    "数据库报 ORA-01653 表空间不足，无法扩展，保存失败",
    "数据库报 ORA-01652 临时表空间不足，查询报表失败",
    "门诊收费打印发票提示打印机脱机",
    "客户端登录提示 ORA-12541 无监听程序",
]


@pytest.fixture
def index() -> LexicalIndex:
    return LexicalIndex.build([lexical_terms(d) for d in DOCS])


def ranking(index: LexicalIndex, query: str) -> list[int]:
    return [int(i) for i in np.argsort(-index.score(query).bm25, kind="stable")]


def test_exact_error_code_ranks_its_document_first(index: LexicalIndex) -> None:
    # ORA-01652 and ORA-01653 share all their Chinese words; only the code tells them apart
    assert ranking(index, "保存的时候报ORA-01653")[0] == 1
    assert ranking(index, "查询的时候报ORA-01652")[0] == 2
    assert ranking(index, "ora-12541")[0] == 4


def test_code_without_prefix_still_matches_via_the_split_part(index: LexicalIndex) -> None:
    scores = index.score("报 01653").bm25
    assert int(np.argmax(scores)) == 1
    assert scores[2] < scores[1]


def test_chinese_words_rank_their_document_first(index: LexicalIndex) -> None:
    assert ranking(index, "发票打不出来 说打印机脱机")[0] == 3
    assert ranking(index, "出院结算金额不一致")[0] == 0


def test_scores_are_zero_for_documents_without_shared_terms(index: LexicalIndex) -> None:
    scores = index.score("发票")
    assert scores.bm25[3] > 0
    assert np.all(scores.bm25[[0, 1, 2, 4]] == 0)
    assert np.all(scores.coverage[[0, 1, 2, 4]] == 0)


@pytest.mark.parametrize(
    "query",
    [
        "ORA-01653",
        "保存的时候报ORA-01653",
        "发票",
        "完全无关的一句话 xyz",
        "",
        "👍",
        "表空间 表空间 表空间",
    ],
)
def test_coverage_is_a_share_between_0_and_1(index: LexicalIndex, query: str) -> None:
    s = index.score(query)
    assert s.coverage.shape == (len(DOCS),)
    assert s.bm25.shape == (len(DOCS),)
    assert np.all(s.coverage >= 0) and np.all(s.coverage <= 1 + 1e-6)
    assert np.all(s.bm25 >= 0)


def test_full_coverage_when_every_query_term_is_in_the_document(index: LexicalIndex) -> None:
    assert index.score("打印机脱机").coverage[3] == pytest.approx(1.0)


def test_unknown_terms_lower_coverage(index: LexicalIndex) -> None:
    full = index.score("ORA-01653").coverage[1]
    diluted = index.score("ORA-01653 麻醉记录单").coverage[1]
    assert full == pytest.approx(1.0)
    assert 0 < diluted < full


def test_idf_rewards_rare_terms(index: LexicalIndex) -> None:
    # "数据库" is in two documents, "发票" in one
    common = index.idf[index.vocab["b:数据"]]
    rare = index.idf[index.vocab["b:发票"]]
    assert rare > common
    n, df = len(DOCS), 2
    assert common == pytest.approx(math.log(1 + (n - df + 0.5) / (df + 0.5)), rel=1e-5)


def test_repeated_document_terms_saturate(index: LexicalIndex) -> None:
    once = LexicalIndex.build([lexical_terms("发票"), lexical_terms("打印")])
    many = LexicalIndex.build([lexical_terms("发票 " * 50), lexical_terms("打印")])
    s1, s50 = once.score("发票").bm25[0], many.score("发票").bm25[0]
    assert s50 > s1
    assert s50 < s1 * 2.5  # BM25's k1 bounds the tf gain


def test_save_load_round_trip_gives_identical_scores(index: LexicalIndex, tmp_path: Path) -> None:
    path = tmp_path / "lexical.npz"
    index.save(path)
    loaded = LexicalIndex.load(path)
    assert loaded.size == index.size
    assert loaded.vocab == index.vocab
    for query in ["保存的时候报ORA-01653", "发票打不出来", "2304 结算", "无关 xyz", ""]:
        a, b = index.score(query), loaded.score(query)
        np.testing.assert_array_equal(a.bm25, b.bm25)
        np.testing.assert_array_equal(a.coverage, b.coverage)


def test_save_load_round_trip_of_the_sample_kb(
    sample_articles: tuple[Article, ...], tmp_path: Path
) -> None:
    index = LexicalIndex.build([lexical_document(a) for a in sample_articles])
    index.save(tmp_path / "kb.npz")
    loaded = LexicalIndex.load(tmp_path / "kb.npz")
    query = "zy医保结算报2304 金额对不上"
    np.testing.assert_array_equal(index.score(query).bm25, loaded.score(query).bm25)
    assert int(np.argmax(loaded.score(query).bm25)) == [a.id for a in sample_articles].index(
        "hb-002"
    )


def test_empty_index_scores_nothing_and_round_trips(tmp_path: Path) -> None:
    empty = LexicalIndex.build([])
    assert empty.size == 0
    assert empty.score("医保").bm25.shape == (0,)
    empty.save(tmp_path / "empty.npz")
    assert LexicalIndex.load(tmp_path / "empty.npz").size == 0


def test_single_document_index_scores_it() -> None:
    one = LexicalIndex.build([lexical_terms("医保结算报错")])
    s = one.score("医保结算")
    assert s.bm25[0] > 0
    assert s.coverage[0] == pytest.approx(1.0)


def test_contains_looks_up_one_term_in_one_document(index: LexicalIndex) -> None:
    assert index.contains("b:脱机", 3)
    assert not index.contains("b:脱机", 0)
    assert index.contains("w:ora-01653", 1) and not index.contains("w:ora-01653", 2)
    assert not index.contains("b:从未", 0)  # a term no document has
    assert not index.contains("b:脱机", 99)  # past the last document
