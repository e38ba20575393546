"""kb_index.index: building, searching, persisting and reloading the search index.

A deterministic hashing embedder (tests/conftest.py) stands in for the model, so these tests
check the index's own logic: view building, vector reuse, fusion, and crash-safe persistence.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from kb_index.articles import Article
from kb_index.index import (
    IndexMissing,
    IndexModelMismatch,
    SearchIndex,
    ViewRecipe,
    article_views,
    embedding_key,
    fuse,
)
from kb_index.lay_terms import LayTerms
from kb_index.lexical import LexicalIndex
from kb_index.text import STOP_CHARS, cjk_runs

QUERIES = {
    "医保结算2304报错 金额对不上": "hb-002",
    "收费员账号被锁了 ORA-28000": "hb-011",
    "LQ-730K打摆药单全是乱码": "hb-007",
    "新电脑登录报ORA-12541": "hb-001",
}


def ids(hits: Sequence[object]) -> list[str]:
    return [h.article.id for h in hits]


@pytest.fixture
def built(sample_articles: tuple[Article, ...], hash_embedder) -> SearchIndex:
    index, embedded = SearchIndex.build(sample_articles, hash_embedder)
    assert embedded == len(sample_articles)
    return index


def expected_views(articles: Sequence[Article], recipe: ViewRecipe | None = None) -> int:
    return sum(len(article_views(a, recipe or ViewRecipe())) for a in articles)


# ---- views ------------------------------------------------------------------------------


def test_views_of_an_article(sample_articles: tuple[Article, ...]) -> None:
    art = next(a for a in sample_articles if a.id == "hb-002")
    views = article_views(art, ViewRecipe())
    kinds = [k for k, _ in views]
    assert kinds == ["title", "question", "question", "question", "symptom"]
    assert views[0][1] == art.title
    assert views[-1][1].startswith(art.title + "：住院病人出院结算时")
    only_title = article_views(art, ViewRecipe(kinds=("title",)))
    assert only_title == [("title", art.title)]
    body = article_views(art, ViewRecipe(kinds=("title", "body"), chunk_chars=100))
    chunks = [t for k, t in body if k == "body"]
    assert len(chunks) >= 2
    assert all(not line.startswith("#") for c in chunks for line in c.splitlines())


def test_embedding_key_depends_on_model_and_recipe() -> None:
    a = embedding_key("m1", ViewRecipe())
    assert a != embedding_key("m2", ViewRecipe())
    assert a != embedding_key("m1", ViewRecipe(kinds=("title",)))
    assert a != embedding_key("m1", ViewRecipe(chunk_chars=100))
    assert a.startswith("m1|")


# ---- build and search -------------------------------------------------------------------


def test_build_and_search_ranks_the_matching_article_first(
    built: SearchIndex, hash_embedder, sample_articles
) -> None:
    assert len(built) == 15
    assert built.faiss_index.ntotal == expected_views(sample_articles)
    assert built.model_id == embedding_key(hash_embedder.model_id, ViewRecipe())
    for query, expected in QUERIES.items():
        hits = built.search(query, hash_embedder, k=5)
        assert ids(hits)[0] == expected, (query, ids(hits))
        assert len(hits) == 5
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len(set(ids(hits))) == 5


def test_hits_carry_their_evidence(built: SearchIndex, hash_embedder) -> None:
    top = built.search("ORA-28000 账号被锁", hash_embedder, k=3)[0]
    assert top.article.id == "hb-011"
    assert top.article.category == "usage"  # copied from the article
    assert top.article.title == "个别操作员登录提示账户已锁定"
    assert -1.0 <= top.dense <= 1.0 + 1e-5
    assert top.dense_question <= top.dense + 1e-6  # title/questions are a subset of the views
    assert top.bm25 > 0
    assert 0 < top.coverage <= 1.0 + 1e-6
    assert built.get("hb-011") == top.article
    assert built.get("nope") is None


def test_title_share_is_how_much_of_the_title_the_message_names(
    built: SearchIndex, hash_embedder
) -> None:
    def share(query: str, lay_terms: LayTerms | None = None) -> float:
        hits = built.search(query, hash_embedder, k=15, lay_terms=lay_terms)
        return next(h.title_share for h in hits if h.article.id == "hb-011")

    assert built.get("hb-011").title == "个别操作员登录提示账户已锁定"  # type: ignore[union-attr]
    assert share("个别操作员登录提示账户已锁定") == pytest.approx(1.0)
    assert share("ORA-28000") == 0.0
    assert 0.0 < share("账户锁定了") < share("登录提示账户已锁定") < 1.0
    # an everyday phrase counts with the technical word it stands for
    assert share("账号锁住了", LayTerms([("锁住", "锁定")])) > share("账号锁住了")


def test_mentions_asks_whether_an_article_names_a_word(
    built: SearchIndex, sample_articles: tuple[Article, ...]
) -> None:
    first = sample_articles[0]
    word = next(r[i : i + 2] for r in cjk_runs(first.body) for i in range(len(r) - 1)
                if not STOP_CHARS.intersection(r[i : i + 2]))  # fmt: skip
    assert built.mentions(first.id, word)
    assert not built.mentions(first.id, "冲红")  # neither 冲红 nor 冲 in a sample article
    assert built.mentions(first.id, "给他")  # a stop character first: cannot rule it out
    assert not built.mentions("no-such-article", word)


def test_k_larger_than_the_kb_returns_every_article(built: SearchIndex, hash_embedder) -> None:
    assert sorted(ids(built.search("医保", hash_embedder, k=100))) == [
        f"hb-{i:03d}" for i in range(1, 16)
    ]


def test_dense_weight_extremes(built: SearchIndex, hash_embedder) -> None:
    lexical_only = built.search("ORA-28000", hash_embedder, k=1, dense_weight=0.0)[0]
    assert lexical_only.article.id == "hb-011"
    assert lexical_only.score == pytest.approx(1.0)  # max-normalised BM25 of the best article
    dense_only = built.search("ORA-28000", hash_embedder, k=1, dense_weight=1.0)[0]
    assert dense_only.score == pytest.approx(dense_only.dense)


def test_fuse_max_normalises_bm25() -> None:
    dense = np.array([0.5, 0.9, 0.1], dtype=np.float32)
    bm25 = np.array([4.0, 2.0, 0.0], dtype=np.float32)
    np.testing.assert_allclose(fuse(dense, bm25, 0.5), [0.75, 0.7, 0.05], rtol=1e-6)
    np.testing.assert_allclose(fuse(dense, np.zeros(3, dtype=np.float32), 0.5), dense * 0.5)


def test_empty_kb_builds_and_search_returns_nothing(hash_embedder, tmp_path: Path) -> None:
    index, embedded = SearchIndex.build([], hash_embedder)
    assert embedded == 0 and len(index) == 0
    assert index.search("医保结算", hash_embedder) == []
    index.save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index", expected_model_id=index.model_id)
    assert len(loaded) == 0
    assert loaded.search("医保结算", hash_embedder) == []


# ---- incremental rebuild ----------------------------------------------------------------


def test_rebuild_reuses_vectors_of_unchanged_articles(
    sample_articles: tuple[Article, ...], make_hash_embedder
) -> None:
    emb = make_hash_embedder()
    first, _ = SearchIndex.build(sample_articles, emb)
    assert emb.embedded == expected_views(sample_articles)

    changed = [
        dataclasses.replace(a, body=a.body.replace("## 现象\n", "## 现象\n补充：多见于月底。"))
        if a.id == "hb-007"
        else a
        for a in sample_articles
    ]
    emb.embedded = 0
    emb.passage_calls.clear()
    second, embedded = SearchIndex.build(changed, emb, previous=first)
    assert embedded == 1
    hb007 = next(a for a in changed if a.id == "hb-007")
    assert emb.embedded == len(article_views(hb007, ViewRecipe()))
    assert [t for call in emb.passage_calls for t in call] == [
        t for _, t in article_views(hb007, ViewRecipe())
    ]
    # reused vectors are the very same ones
    np.testing.assert_array_equal(
        second.faiss_index.reconstruct_n(0, second.faiss_index.ntotal)[:5],
        first.faiss_index.reconstruct_n(0, 5),
    )
    # and the rebuilt index searches exactly like a fresh build
    fresh, _ = SearchIndex.build(changed, make_hash_embedder())
    for query in QUERIES:
        assert ids(second.search(query, emb)) == ids(fresh.search(query, emb))


def test_rebuild_after_save_and_load_reuses_vectors(
    sample_articles, make_hash_embedder, tmp_path: Path
) -> None:
    emb = make_hash_embedder()
    SearchIndex.build(sample_articles, emb)[0].save(tmp_path)
    emb.embedded = 0
    previous = SearchIndex.load(tmp_path)
    _, embedded = SearchIndex.build(sample_articles, emb, previous=previous)
    assert embedded == 0
    assert emb.embedded == 0


def test_new_and_removed_articles_on_rebuild(sample_articles, make_hash_embedder) -> None:
    emb = make_hash_embedder()
    first, _ = SearchIndex.build(sample_articles[:10], emb)
    emb.embedded = 0
    second, embedded = SearchIndex.build(sample_articles[5:], emb, previous=first)
    assert embedded == 5  # hb-011..hb-015 are new; hb-006..hb-010 reused
    assert emb.embedded == expected_views(sample_articles[10:])
    assert [a.id for a in second.articles] == [a.id for a in sample_articles[5:]]


def test_another_model_or_recipe_re_embeds_everything(sample_articles, make_hash_embedder) -> None:
    first, _ = SearchIndex.build(sample_articles, make_hash_embedder())
    other = make_hash_embedder(model_id="hash-bigram-v2")
    _, embedded = SearchIndex.build(sample_articles, other, previous=first)
    assert embedded == 15
    same = make_hash_embedder()
    recipe = ViewRecipe(kinds=("title", "question"))
    _, embedded = SearchIndex.build(sample_articles, same, recipe=recipe, previous=first)
    assert embedded == 15
    assert same.embedded == expected_views(sample_articles, recipe)


def test_progress_counts_every_article(sample_articles, make_hash_embedder) -> None:
    emb = make_hash_embedder()
    calls: list[int] = []
    first, _ = SearchIndex.build(sample_articles, emb, progress=calls.append)
    assert sum(calls) == 15
    calls.clear()
    SearchIndex.build(sample_articles, emb, previous=first, progress=calls.append)
    assert sum(calls) == 15


# ---- persistence ------------------------------------------------------------------------


def version_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def test_save_then_load_gives_the_same_results(
    built: SearchIndex, hash_embedder, tmp_path: Path
) -> None:
    root = tmp_path / "index"
    folder = built.save(root)
    assert folder.parent == root and folder.name.startswith("v-")
    assert (root / "CURRENT").read_text(encoding="utf-8").strip() == folder.name
    assert {p.name for p in folder.iterdir()} == {
        "dense.faiss",
        "lexical.npz",
        "view_article.npy",
        "manifest.json",
    }
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model_id"] == built.model_id
    assert manifest["dimensions"] == hash_embedder.dim

    loaded = SearchIndex.load(root, expected_model_id=built.model_id)
    assert loaded.model_id == built.model_id
    assert loaded.articles == built.articles
    assert loaded.view_kind == built.view_kind
    for query in [*QUERIES, "完全无关的话", "👍"]:
        a, b = built.search(query, hash_embedder, k=5), loaded.search(query, hash_embedder, k=5)
        assert ids(a) == ids(b)
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)


def test_load_with_another_model_is_a_mismatch(built: SearchIndex, tmp_path: Path) -> None:
    built.save(tmp_path)
    other = embedding_key("sentence-transformers:bge-small-zh:abc:123", ViewRecipe())
    with pytest.raises(IndexModelMismatch) as info:
        SearchIndex.load(tmp_path, expected_model_id=other)
    message = str(info.value)
    assert "hisbot kb build" in message
    assert built.model_id in message and other in message


def test_load_of_another_format_is_a_mismatch(built: SearchIndex, tmp_path: Path) -> None:
    folder = built.save(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexModelMismatch, match="hisbot kb build"):
        SearchIndex.load(tmp_path)


def test_missing_index_folder(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="hisbot kb build"):
        SearchIndex.load(tmp_path / "never-built")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexMissing):
        SearchIndex.load(tmp_path / "empty")


def test_current_pointing_at_a_deleted_folder(built: SearchIndex, tmp_path: Path) -> None:
    folder = built.save(tmp_path)
    shutil.rmtree(folder)
    with pytest.raises(IndexMissing, match="hisbot kb build"):
        SearchIndex.load(tmp_path)


def test_empty_current_file(built: SearchIndex, tmp_path: Path) -> None:
    built.save(tmp_path)
    (tmp_path / "CURRENT").write_text("", encoding="utf-8")
    with pytest.raises(IndexMissing):
        SearchIndex.load(tmp_path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "manifest-garbage": lambda f: (f / "manifest.json").write_text("{not json", encoding="utf-8"),
    "manifest-no-articles": lambda f: (f / "manifest.json").write_text(
        '{"format": 1}', encoding="utf-8"
    ),
    "manifest-missing": lambda f: (f / "manifest.json").unlink(),
    "faiss-truncated": lambda f: _truncate(f / "dense.faiss"),
    "faiss-missing": lambda f: (f / "dense.faiss").unlink(),
    "lexical-missing": lambda f: (f / "lexical.npz").unlink(),
    "lexical-garbage": lambda f: (f / "lexical.npz").write_bytes(b"\x00" * 64),
    "views-truncated": lambda f: _truncate(f / "view_article.npy"),
    "views-wrong-length": lambda f: np.save(f / "view_article.npy", np.zeros(3, dtype=np.int32)),
}

CORRUPTION_BUGS: dict[str, Callable[[Path], None]] = {
    # zipfile.BadZipFile is neither OSError nor ValueError
    "lexical-truncated": lambda f: _truncate(f / "lexical.npz"),
    # numpy raises EOFError on an empty file
    "lexical-empty": lambda f: (f / "lexical.npz").write_bytes(b""),
    "views-empty": lambda f: (f / "view_article.npy").write_bytes(b""),
    # valid JSON that is not an object: AttributeError on manifest.get
    "manifest-not-an-object": lambda f: (f / "manifest.json").write_text("[]", encoding="utf-8"),
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_corrupt_index_is_missing_not_a_traceback(
    built: SearchIndex, tmp_path: Path, corrupt: str
) -> None:
    folder = built.save(tmp_path)
    CORRUPTIONS[corrupt](folder)
    with pytest.raises(IndexMissing, match="hisbot kb build"):
        SearchIndex.load(tmp_path)


@pytest.mark.parametrize("corrupt", list(CORRUPTION_BUGS), ids=list(CORRUPTION_BUGS))
def test_corrupt_index_files_that_escape_as_tracebacks(
    built: SearchIndex, tmp_path: Path, corrupt: str
) -> None:
    folder = built.save(tmp_path)
    CORRUPTION_BUGS[corrupt](folder)
    with pytest.raises(IndexMissing, match="hisbot kb build"):
        SearchIndex.load(tmp_path)


@pytest.mark.parametrize(
    "target",
    ["faiss.write_index", "LexicalIndex.save", "numpy.save"],
)
def test_crash_mid_save_keeps_the_previous_index(
    built: SearchIndex,
    sample_articles: tuple[Article, ...],
    hash_embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    root = tmp_path / "index"
    old_folder = built.save(root)
    smaller, _ = SearchIndex.build(sample_articles[:3], hash_embedder)

    def boom(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if target == "faiss.write_index":
        monkeypatch.setattr(faiss, "write_index", boom)
    elif target == "LexicalIndex.save":
        monkeypatch.setattr(LexicalIndex, "save", boom)
    else:
        monkeypatch.setattr(np, "save", boom)
    with pytest.raises(OSError, match="No space left"):
        smaller.save(root)
    monkeypatch.undo()

    assert version_dirs(root) == [old_folder.name]  # no stray .tmp-… folder
    assert (root / "CURRENT").read_text(encoding="utf-8").strip() == old_folder.name
    loaded = SearchIndex.load(root, expected_model_id=built.model_id)
    assert len(loaded) == 15
    assert ids(loaded.search("ORA-28000 账号被锁", hash_embedder))[0] == "hb-011"


def test_crash_while_switching_current_keeps_the_previous_index(
    built: SearchIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kb_index.index as index_module

    root = tmp_path / "index"
    old_folder = built.save(root)
    real = index_module._write_atomic

    def fail_on_current(path: Path, text: str) -> None:
        if path.name == "CURRENT":
            raise OSError(5, "Input/output error")
        real(path, text)

    monkeypatch.setattr(index_module, "_write_atomic", fail_on_current)
    with pytest.raises(OSError):
        built.save(root)
    monkeypatch.undo()
    assert (root / "CURRENT").read_text(encoding="utf-8").strip() == old_folder.name
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
    assert len(SearchIndex.load(root)) == 15


def test_save_replaces_current_and_cleans_stale_folders(built: SearchIndex, tmp_path: Path) -> None:
    root = tmp_path / "index"
    first = built.save(root)
    stale_tmp = root / ".tmp-v-crashed"
    stale_tmp.mkdir()
    second = built.save(root)
    assert (root / "CURRENT").read_text(encoding="utf-8").strip() == second.name
    assert not stale_tmp.exists()
    assert version_dirs(root) == sorted([first.name, second.name])
    assert len(SearchIndex.load(root)) == 15


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Control the timestamp in version folder names: ``clock("20260412-100000")``."""
    import time

    real = time.strftime
    now = {"stamp": "20260412-100000"}

    def strftime(fmt: str, *args: object) -> str:
        return now["stamp"] if fmt == "%Y%m%d-%H%M%S" else real(fmt, *args)

    monkeypatch.setattr(time, "strftime", strftime)
    return lambda stamp: now.update(stamp=stamp)


def test_save_keeps_the_live_version_and_the_one_before(
    built: SearchIndex, tmp_path: Path, clock: Callable[[str], None]
) -> None:
    root = tmp_path / "index"
    versions = []
    for stamp in ("20260412-100000", "20260412-100500", "20260412-101000"):
        clock(stamp)
        versions.append(built.save(root).name)
    # a process that read the previous CURRENT a moment ago can still open its files
    assert version_dirs(root) == versions[1:]
    assert (root / "CURRENT").read_text(encoding="utf-8").strip() == versions[2]


def test_save_keeps_the_previous_version_within_the_same_second(
    built: SearchIndex,
    tmp_path: Path,
    clock: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    real_uuid4 = uuid.uuid4
    prefix = {"hex": ""}
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(prefix["hex"] + real_uuid4().hex[6:]))
    root = tmp_path / "index"
    clock("20260412-100000")
    names = []
    for hex_prefix in ("ffffff", "000000", "888888"):  # creation order is not name order
        prefix["hex"] = hex_prefix
        names.append(built.save(root).name)
    _, second, third = names
    assert (root / "CURRENT").read_text(encoding="utf-8").strip() == third
    assert version_dirs(root) == sorted([second, third])
