"""Two KB imports at once on a fresh database (two workers starting together): both succeed,
one adds the articles and the other finds them unchanged — no ``UniqueViolation kb_article_pkey``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine

from bot.kb.importing import KbImport, import_kb
from kb_index.store import load_articles
from tests.conftest import SAMPLE_KB


def test_two_concurrent_imports_on_a_fresh_database(make_db: Callable[..., Engine]) -> None:
    engines = [make_db(), make_db(create=False)]  # two processes' engines on one database
    start = threading.Barrier(2)

    def run(engine: Engine) -> KbImport:
        start.wait()
        return import_kb(engine, Path(SAMPLE_KB))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, engines))
    articles = len(load_articles(engines[0]))
    assert articles == 15
    added = sorted(len(r.report.added) for r in results)
    unchanged = sorted(len(r.report.unchanged) for r in results)
    assert added == [0, articles] and unchanged == [0, articles]
    assert all(not r.report.errors and not r.report.updated for r in results)
