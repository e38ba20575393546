"""KB articles in the database: the current version of each, and every version ever imported.

The database (not the folder) is the source the index is built from, so the web editor and the
folder import meet in one place, and an article's history survives its file being edited.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from kb_index.articles import Article, ArticleError, FolderScan, scan_folder


class KbArticle(SQLModel, table=True):
    """The current version of an article."""

    __tablename__ = "kb_article"

    id: str = Field(primary_key=True, max_length=64)
    title: str
    category: str = Field(index=True, max_length=32)
    module: str = Field(index=True)
    #: JSON lists of strings: ordered values of this one article, never queried by element.
    tags_json: str = "[]"
    questions_json: str = "[]"
    updated: dt.date
    body: str
    content_hash: str = Field(max_length=64)
    version: int = 1
    source: str = ""
    imported_at: dt.datetime
    #: Set while the article is retired: kept with its history and its page, but not indexed
    #: (the bot no longer answers with it). UTC, like every time here.
    retired_at: dt.datetime | None = None
    #: Who retired it (an engineer id) and why; "" while it is not retired.
    retired_by: str = ""
    retired_reason: str = ""

    @property
    def retired(self) -> bool:
        return self.retired_at is not None

    def to_article(self) -> Article:
        return Article(
            id=self.id,
            title=self.title,
            category=self.category,
            module=self.module,
            tags=tuple(json.loads(self.tags_json)),
            questions=tuple(json.loads(self.questions_json)),
            updated=self.updated,
            body=self.body,
        )


class KbArticleVersion(SQLModel, table=True):
    """Every version of every article, as the Markdown it was imported from."""

    __tablename__ = "kb_article_version"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    pk: int | None = Field(default=None, primary_key=True)
    article_id: str = Field(index=True, max_length=64)
    version: int
    content_hash: str = Field(max_length=64)
    markdown: str
    source: str = ""
    changed_by: str = ""
    created_at: dt.datetime


#: ``KbArticleVersion.source`` of a version saved in the web console (any other value is the
#: folder a version was imported from).
WEB_SOURCE = "web"


@dataclass(frozen=True)
class ImportReport:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    #: Includes ``kept``: nothing was written for those either.
    unchanged: tuple[str, ...]
    errors: tuple[ArticleError, ...]
    #: Files unchanged since their last import whose article was edited on the web since: the
    #: web edit stays current.
    kept: tuple[str, ...] = ()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def save_article(
    session: Session,
    article: Article,
    source: str,
    changed_by: str = "",
    now: dt.datetime | None = None,
) -> str:
    """Insert or update one article; returns "added", "updated", "unchanged" or "kept".

    Unchanged means same searchable content *and* same metadata: re-importing is a no-op.
    Kept: a folder import of a file unchanged since it was last imported, over an article
    edited on the web since. Every start re-imports the folder, and a stale file must not
    silently undo an engineer's web edit; a file that really changed still wins.
    A retired article stays retired: a new version is stored, but only restoring it (in the
    web console) brings it back into the index.
    """
    now = now or _now()
    markdown = article.to_markdown()
    row = session.get(KbArticle, article.id)
    if row is not None and row.to_article() == article:
        return "unchanged"
    if (
        row is not None
        and row.source == WEB_SOURCE
        and source != WEB_SOURCE
        and _last_folder_markdown(session, article.id) == markdown
    ):
        return "kept"
    version = 1 if row is None else row.version + 1
    if row is None:
        row = KbArticle(
            id=article.id,
            title="",
            category="",
            module="",
            updated=article.updated,
            body="",
            content_hash="",
            imported_at=now,
        )
    row.title = article.title
    row.category = article.category
    row.module = article.module
    row.tags_json = json.dumps(list(article.tags), ensure_ascii=False)
    row.questions_json = json.dumps(list(article.questions), ensure_ascii=False)
    row.updated = article.updated
    row.body = article.body
    row.content_hash = article.content_hash
    row.version = version
    row.source = source
    row.imported_at = now
    session.add(row)
    session.add(
        KbArticleVersion(
            article_id=article.id,
            version=version,
            content_hash=article.content_hash,
            markdown=markdown,
            source=source,
            changed_by=changed_by,
            created_at=now,
        )
    )
    return "added" if version == 1 else "updated"


def _last_folder_markdown(session: Session, article_id: str) -> str | None:
    """The Markdown of the newest version that came from a folder, not the web."""
    stmt = (
        select(KbArticleVersion.markdown)
        .where(KbArticleVersion.article_id == article_id)
        .where(KbArticleVersion.source != WEB_SOURCE)
        .order_by(col(KbArticleVersion.version).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def import_folder(
    engine: Engine,
    folder: Path,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    prepare: Callable[[Article], Article] = lambda a: a,
) -> ImportReport:
    """Validate and load a folder of articles in one transaction.

    Bad files are reported and skipped; with ``strict`` any bad file aborts the whole import.
    Articles removed from the folder are kept (the KB is append-only; retire them in the web
    console), so a half-copied folder cannot wipe the KB. ``prepare`` transforms each article
    before it is compared and saved (the bot's redaction gate).
    """
    scan: FolderScan = scan_folder(folder)
    if strict and scan.errors:
        return ImportReport((), (), (), scan.errors)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    kept: list[str] = []
    now = _now()
    with Session(engine) as session:
        for article in map(prepare, scan.articles):
            outcome = save_article(session, article, source=str(folder), now=now)
            if outcome == "kept":
                kept.append(article.id)
                outcome = "unchanged"
            {"added": added, "updated": updated, "unchanged": unchanged}[outcome].append(article.id)
            if progress:
                progress(1)
        session.commit()
    return ImportReport(
        tuple(added), tuple(updated), tuple(unchanged), scan.errors, kept=tuple(kept)
    )


def load_articles(engine: Engine) -> list[Article]:
    """Current version of every article that is not retired, ordered by id (the index's
    order): what the bot answers with."""
    with Session(engine) as session:
        return [r.to_article() for r in list_articles(session, include_retired=False)]


def list_articles(session: Session, include_retired: bool = True) -> list[KbArticle]:
    """The current rows, ordered by id; retired ones too unless ``include_retired`` is off."""
    stmt = select(KbArticle).order_by(col(KbArticle.id))
    if not include_retired:
        stmt = stmt.where(col(KbArticle.retired_at).is_(None))
    rows: Sequence[KbArticle] = session.exec(stmt).all()
    return list(rows)


def retire_article(
    session: Session, article_id: str, by: str, reason: str, now: dt.datetime | None = None
) -> bool | None:
    """Retire an article: it keeps its versions and page but leaves the index. Returns True
    when it was retired now, False when it already was (the first retirement's who, when and
    why are kept), None when there is no such article."""
    row = session.get(KbArticle, article_id)
    if row is None:
        return None
    if row.retired_at is not None:
        return False
    row.retired_at = now or _now()
    row.retired_by = by
    row.retired_reason = reason
    session.add(row)
    return True


def restore_article(session: Session, article_id: str) -> bool | None:
    """Undo ``retire_article``: True when restored now, False when it was not retired, None
    when there is no such article."""
    row = session.get(KbArticle, article_id)
    if row is None:
        return None
    if row.retired_at is None:
        return False
    row.retired_at = None
    row.retired_by = ""
    row.retired_reason = ""
    session.add(row)
    return True


def article_history(engine: Engine, article_id: str) -> list[KbArticleVersion]:
    with Session(engine) as session:
        stmt = (
            select(KbArticleVersion)
            .where(KbArticleVersion.article_id == article_id)
            .order_by(col(KbArticleVersion.version))
        )
        return list(session.exec(stmt).all())
