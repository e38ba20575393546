"""``kb import`` through the redaction gate: a KB file is a text like any other.

An article copied from a real ticket must not put a patient into the KB, and one file with a
NUL byte must not abort the import (PostgreSQL refuses NUL in text). Each article is cleaned
(``bot.privacy.gate.clean``: control characters deleted, personal data masked) before it is
compared and saved, so re-importing the same file is still a no-op, and the import says which
articles were changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from bot.privacy.gate import clean
from kb_index.articles import Article, scan_folder
from kb_index.store import ImportReport, save_article


@dataclasses.dataclass(frozen=True)
class KbImport:
    report: ImportReport
    #: Articles whose text had personal data masked or control characters removed.
    cleaned: tuple[str, ...]


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
    bad files reported and skipped, or with ``strict`` nothing imported)."""
    scan = scan_folder(folder)
    if strict and scan.errors:
        return KbImport(ImportReport((), (), (), scan.errors), ())
    outcomes: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": [], "kept": []}
    cleaned: list[str] = []
    with Session(engine) as session:
        for raw in scan.articles:
            article = clean_article(raw)
            if article != raw:
                cleaned.append(article.id)
            outcome = save_article(session, article, source=str(folder))
            outcomes[outcome].append(article.id)
            if progress:
                progress(1)
        session.commit()
    report = ImportReport(
        tuple(outcomes["added"]),
        tuple(outcomes["updated"]),
        tuple(outcomes["unchanged"] + outcomes["kept"]),
        scan.errors,
        kept=tuple(outcomes["kept"]),
    )
    return KbImport(report, tuple(cleaned))
