"""Editing the KB while the bot runs: an article saved in the web console is answered with at
the very next chat message, without a restart and without re-embedding the whole KB.

A save writes a new version (``source="web"``, who changed it), rebuilds the index from the
database re-embedding only the changed article, swaps it into the running ``AnswerEngine`` (one
attribute assignment: a question being answered keeps the index it started with), then persists
it so a restart does not embed again. Saves are serialised: two engineers saving at once must
not both build from the same old index and have the later swap drop the earlier article.

Retiring and restoring an article go the same way (under the same lock): the flag is written,
the index rebuilt without (or again with) the article and swapped in, so the very next chat
question no longer gets (or again gets) it.

Changes made outside this process — ``hisbot kb import``/``kb build`` from a shell, another
process's console — are picked up by ``sync`` (``KbReload`` calls it every ``[kb]
reload_seconds``): it compares what the database holds with what the running index holds,
and when they differ swaps in the persisted index if that one matches the database (a ``kb
build`` already embedded it), else rebuilds re-embedding only the changed articles.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import col

from bot.infra.config import Settings
from bot.infra.gateway import Database
from bot.kb.knowledge import index_dir, load_index, view_recipe
from bot.registry.sessions import read_session, write_session
from intents.decide import AnswerEngine
from kb_index.articles import Article, ArticleError, parse_article
from kb_index.index import IndexError_, SearchIndex
from kb_index.store import (
    WEB_SOURCE,
    KbArticle,
    load_articles,
    restore_article,
    retire_article,
    save_article,
)

log = logging.getLogger(__name__)

#: Where validation errors say they come from (``ArticleError.source``).
EDITOR = "web editor"
#: Form limits: a KB article is a page, not a log dump.
MAX_CHARS = {"title": 200, "module": 100, "tags": 1000, "questions": 4000, "body": 50_000}
_TAG_SPLIT = re.compile(r"[,，、;；\n]")


@dataclass(frozen=True)
class Draft:
    """An article as the web editor holds it: the form's strings, exactly as typed, so a form
    with an error comes back with the input kept."""

    id: str = ""
    title: str = ""
    category: str = ""
    module: str = ""
    #: Comma-separated.
    tags: str = ""
    #: One per line.
    questions: str = ""
    body: str = ""

    @classmethod
    def of(cls, article: Article) -> Draft:
        return cls(
            id=article.id,
            title=article.title,
            category=article.category,
            module=article.module,
            tags=", ".join(article.tags),
            questions="\n".join(article.questions),
            body=article.body,
        )

    def to_article(self, updated: dt.date) -> Article:
        """The article, validated by the same rules as a KB file (``ArticleError`` names the
        field): it goes through its own Markdown, so the web cannot store what a folder import
        would reject."""
        for name, limit in MAX_CHARS.items():
            if len(getattr(self, name)) > limit:
                raise ArticleError(EDITOR, name, f"longer than {limit} characters")
        candidate = Article(
            id=self.id.strip(),
            title=self.title.strip(),
            category=self.category.strip(),
            module=self.module.strip(),
            tags=tuple(t.strip() for t in _TAG_SPLIT.split(self.tags) if t.strip()),
            questions=tuple(q.strip() for q in self.questions.splitlines() if q.strip()),
            updated=updated,
            body=self.body.replace("\r\n", "\n").strip(),
        )
        return parse_article(candidate.to_markdown(), EDITOR)

    def redacted(self, redact: Callable[[str], str]) -> tuple[Draft, tuple[str, ...]]:
        """The draft with personal data masked in its free text, and the fields that changed:
        an example copied from a real ticket must not put a patient into the KB."""
        changes = {
            name: redact(getattr(self, name))
            for name in ("title", "module", "tags", "questions", "body")
        }
        masked = tuple(n for n, v in changes.items() if v != getattr(self, n))
        return dataclasses.replace(self, **changes), masked


class EditConflict(Exception):
    """The article changed since the editor opened it (or, for a new one, its id is taken)."""

    def __init__(self, article_id: str, current_version: int | None) -> None:
        self.article_id = article_id
        self.current_version = current_version
        super().__init__(f"{article_id}: now at version {current_version}")


@dataclass(frozen=True)
class SaveResult:
    #: "added", "updated" or "unchanged" (nothing written).
    outcome: str
    version: int
    #: Articles (re-)embedded by the index rebuild: 1 for an edit, 0 when unchanged.
    embedded: int = 0
    #: False when the article was saved but the index could not be rebuilt: the bot answers
    #: from the old index until the next save or restart.
    indexed: bool = True


@dataclass(frozen=True)
class RetireResult:
    #: False when nothing was written: it already was retired (or, restoring, was not).
    changed: bool
    #: Articles embedded by the rebuild (a restored one is embedded again).
    embedded: int = 0
    #: False when the flag was written but the index could not be rebuilt.
    indexed: bool = True


#: What answering depends on, per article: (id, title, category, module, content hash).
Fingerprint = tuple[tuple[str, str, str, str, str], ...]


def database_fingerprint(db: Engine) -> Fingerprint:
    """The articles the bot should answer with (not retired), as the index would hold them:
    one small query, cheap enough to run every few seconds."""
    live = sa_select(
        col(KbArticle.id),
        col(KbArticle.title),
        col(KbArticle.category),
        col(KbArticle.module),
        col(KbArticle.content_hash),
    ).where(col(KbArticle.retired_at).is_(None))
    with read_session(db) as s:
        rows = s.connection().execute(live).all()
    return tuple(sorted((str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows))


def index_fingerprint(index: SearchIndex) -> Fingerprint:
    return tuple(
        sorted((a.id, a.title, a.category, a.module, a.content_hash) for a in index.articles)
    )


class LiveKnowledge:
    """Saves web edits and keeps the running engine's index in step with the database."""

    def __init__(self, settings: Settings, gateway: Database, engine: AnswerEngine) -> None:
        """``gateway``: the bot's database gateway (saves run on its writer); rebuilding the
        index is CPU work and runs in a worker thread of its own."""
        self.settings = settings
        self.gateway = gateway
        self.db = gateway.engine
        self.engine = engine
        self._lock = asyncio.Lock()

    async def save(self, article: Article, changed_by: str, based_on: int | None) -> SaveResult:
        """Save ``article`` as edited from version ``based_on`` (None: a new article) and
        re-index it; ``EditConflict`` when someone else saved in between."""
        async with self._lock:
            result = await self.gateway.write(lambda: self._write(article, changed_by, based_on))
            if result.outcome == "unchanged":
                return result
            indexed, embedded = await self._reindex(f"{article.id} saved")
            if not indexed:
                return dataclasses.replace(result, indexed=False)
            log.info("KB %s %s by %s: index swapped", article.id, result.outcome, changed_by)
            return dataclasses.replace(result, embedded=embedded)

    async def retire(self, article_id: str, by: str, reason: str = "") -> RetireResult:
        """Retire the article and drop it from the running index; ``KeyError`` when there is
        no such article. Retiring a retired article writes nothing (it only rebuilds the index
        if an earlier rebuild failed and the article is still in it)."""
        return await self._flag(article_id, by, retire=True, reason=reason)

    async def restore(self, article_id: str, by: str) -> RetireResult:
        """Bring a retired article back into the running index (``KeyError``: no article);
        idempotent like ``retire``."""
        return await self._flag(article_id, by, retire=False)

    async def _flag(self, article_id: str, by: str, retire: bool, reason: str = "") -> RetireResult:
        def write() -> bool | None:
            with write_session(self.db) as session:
                if retire:
                    return retire_article(session, article_id, by, reason)
                return restore_article(session, article_id)

        verb = "retired" if retire else "restored"
        async with self._lock:
            changed = await self.gateway.write(write)
            if changed is None:
                raise KeyError(article_id)
            in_index = self.engine.index.get(article_id) is not None
            if not changed and in_index != retire:
                return RetireResult(changed=False)
            # changed, or a repeat after a failed rebuild left the index out of step: rebuild
            indexed, embedded = await self._reindex(f"{article_id} {verb}")
            log.info("KB %s %s by %s: index swapped=%s", article_id, verb, by, indexed)
            return RetireResult(changed=changed, embedded=embedded, indexed=indexed)

    async def sync(self) -> str:
        """Bring the running index in step with the database after a change made elsewhere:
        "current" (nothing to do), "loaded" (the persisted index matched the database and was
        swapped in: nothing embedded), "rebuilt" (changed articles embedded) or "failed"
        (the old index keeps answering; the next call tries again)."""
        async with self._lock:
            wanted = await self.gateway.read(lambda: database_fingerprint(self.db))
            if wanted == index_fingerprint(self.engine.index):
                return "current"
            persisted = await asyncio.to_thread(self._persisted)
            if persisted is not None and index_fingerprint(persisted) == wanted:
                self.engine.index = persisted
                log.info("KB changed outside the bot: persisted index swapped in")
                return "loaded"
            indexed, embedded = await self._reindex("changed outside the bot")
            log.info("KB changed outside the bot: index rebuilt (%d embedded)", embedded)
            return "rebuilt" if indexed else "failed"

    def _persisted(self) -> SearchIndex | None:
        """The persisted index if it is readable and of this engine's model, else None."""
        try:
            return load_index(self.settings, self.engine.embedder)
        except IndexError_:
            return None

    async def _reindex(self, what: str) -> tuple[bool, int]:
        """Rebuild, swap and persist the index (the caller holds the lock); (False, 0) when
        the rebuild failed and the old index keeps answering."""
        try:
            index, embedded = await asyncio.to_thread(self._build)
        except Exception:
            log.exception("KB %s, but rebuilding the index failed", what)
            return False, 0
        self.engine.index = index
        try:
            await asyncio.to_thread(index.save, index_dir(self.settings))
        except OSError:  # answering is already up to date; a restart re-embeds once
            log.exception("persisting the index (%s) failed", what)
        return True, embedded

    def _write(self, article: Article, changed_by: str, based_on: int | None) -> SaveResult:
        # one immediate transaction: the version check and the write cannot be split by
        # another writer (a CLI import in another process included)
        with write_session(self.db) as session:
            row = session.get(KbArticle, article.id)
            current = row.version if row is not None else None
            if current != based_on:
                raise EditConflict(article.id, current)
            if row is not None and row.to_article() == dataclasses.replace(
                article, updated=row.updated
            ):
                return SaveResult("unchanged", row.version)  # a save without an edit
            outcome = save_article(session, article, source=WEB_SOURCE, changed_by=changed_by)
            return SaveResult(outcome, (current or 0) + (outcome != "unchanged"))

    def _build(self) -> tuple[SearchIndex, int]:
        """A new index over the database's articles; unchanged articles reuse the running
        index's vectors."""
        return SearchIndex.build(
            load_articles(self.db),
            self.engine.embedder,
            view_recipe(self.settings),
            previous=self.engine.index,
        )


class KbReload:
    """Calls ``LiveKnowledge.sync`` every ``every`` seconds until stopped, so a running bot
    answers from a KB imported or built from the command line without a restart."""

    def __init__(self, knowledge: LiveKnowledge, every: float) -> None:
        self.knowledge = knowledge
        self.every = every
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="kb-reload")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.every)
                return
            except TimeoutError:
                pass
            try:
                await self.knowledge.sync()
            except Exception:  # a broken database for a moment must not end the watch
                log.exception("checking the KB for changes failed")
