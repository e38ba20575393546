"""``kb import`` through the redaction gate: a KB file is a text like any other.

An article copied from a real ticket must not put a patient into the KB, and one file with a
NUL byte must not abort the import (PostgreSQL refuses NUL in text). Each article is cleaned
(``bot.privacy.gate.clean``: control characters deleted, personal data masked) before it is
compared and saved, so re-importing the same file is still a no-op, and the import says which
articles were changed. A draft from ``kb problems --drafts`` that the import publishes takes its
problem's 需要新文章 labels (``bot.kb.loop.draft_files``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from bot.cluster.advisory import serialized
from bot.kb.loop.draft_files import SidecarReport, adopt_published
from bot.kb.loop.labels import LabelStore
from bot.privacy.gate import clean
from kb_index.articles import Article
from kb_index.store import ImportReport, import_folder

#: An import that lost a race for a new article runs again once, in a fresh transaction.
IMPORT_ATTEMPTS = 2


@dataclasses.dataclass(frozen=True)
class KbImport:
    report: ImportReport
    #: Articles whose text had personal data masked or control characters removed.
    cleaned: tuple[str, ...]
    #: Draft sidecars whose labels moved to the article this import published.
    labels: SidecarReport


def clean_article(article: Article) -> Article:
    return dataclasses.replace(
        article,
        title=clean(article.title),
        module=clean(article.module),
        tags=tuple(clean(t) for t in article.tags),
        questions=tuple(clean(q) for q in article.questions),
        body=clean(article.body),
    )


def import_kb(
    engine: Engine,
    folder: Path,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
) -> KbImport:
    """``kb_index.store.import_folder`` with every article cleaned first (one transaction;
    bad files reported and skipped, or with ``strict`` nothing imported), then the labels of
    the drafts it added or changed adopted. Safe to run twice at once on one database."""
    # Two imports at once (two workers starting on a fresh database, or `kb import` beside a
    # starting bot) would both find a new article missing and both insert it. On PostgreSQL
    # the second waits for the first here; on SQLite (no advisory locks) it fails on the
    # unique key and runs again in a fresh transaction, which finds the rows the first wrote.
    cleaned: list[str] = []

    def prepare(raw: Article) -> Article:
        article = clean_article(raw)
        if article != raw:
            cleaned.append(article.id)
        return article

    with serialized(engine, "kb-import"):
        for attempt in range(IMPORT_ATTEMPTS):
            cleaned.clear()
            try:
                report = import_folder(
                    engine, folder, strict=strict, progress=progress, prepare=prepare
                )
                break
            except IntegrityError:
                if attempt + 1 == IMPORT_ATTEMPTS:
                    raise
        published = {*report.added, *report.updated}
        labels = adopt_published(LabelStore(engine), folder, published)
    return KbImport(report, tuple(cleaned), labels)
