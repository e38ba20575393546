"""The composition root's start-up over the database: the registry synced from config, the
KB imported and indexed, the answer engine, and the engine's article look-ups."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from bot.cluster.advisory import serialized
from bot.infra.config import Settings
from bot.infra.gateway import Database
from bot.kb.editing import KbReload, LiveKnowledge
from bot.kb.importing import import_kb
from bot.kb.knowledge import answer_engine, build_index, embedder_for
from bot.registry.store import RegistryStore
from intents.decide import AnswerEngine
from kb_index.articles import Article
from kb_index.store import KbArticle

log = logging.getLogger(__name__)


def start_up(settings: Settings, db: Engine) -> tuple[RegistryStore, AnswerEngine]:
    """The registry synced from config and the answer engine over the imported KB. Workers
    starting at once on one database do it one after the other (check-then-insert work, and
    a shared index folder on one host)."""
    registry = RegistryStore(db)
    with serialized(db, "start-up"):
        report = registry.sync_from_config(settings.hospitals, settings.engineers)
        for warning in report.warnings:
            log.warning("registry: %s", warning)
        engine = prepare_knowledge(settings, db)
    return registry, engine


def prepare_knowledge(settings: Settings, db: Engine) -> AnswerEngine:
    """Import the KB folder when present and (re)build the index incrementally."""
    folder = settings.path(settings.kb.dir)
    if folder.is_dir():
        result = import_kb(db, folder)
        report = result.report
        for article_id in result.cleaned:
            log.warning(
                "KB import: %s: personal data masked or control characters removed", article_id
            )
        for err in report.errors:
            log.warning("KB import: %s", err)
        for warning in result.labels.warnings:
            log.warning("KB import: %s", warning)
        for a in result.labels.adopted:
            log.info("KB import: %s now answers %d tickets' questions", a.article_id, a.changed)
        log.info(
            "KB %s: %d added, %d updated, %d unchanged (%d edited on the web kept)",
            folder,
            len(report.added),
            len(report.updated),
            len(report.unchanged),
            len(report.kept),
        )
    else:
        log.warning(
            "KB folder %s not found: answering from the articles already in the database", folder
        )
    embedder = embedder_for(settings)
    index, embedded, _ = build_index(settings, db, embedder)
    log.info("search index: %d articles (%d embedded)", len(index), embedded)
    return answer_engine(settings, index, embedder)


def live_knowledge(
    settings: Settings, gateway: Database, engine: AnswerEngine
) -> tuple[LiveKnowledge, KbReload | None]:
    """The one writer of KB changes to the running engine, and its watch for changes made
    outside (``hisbot kb import``/``kb build``; None: ``[kb] reload_seconds = 0``)."""
    knowledge = LiveKnowledge(settings, gateway, engine)
    every = settings.kb.reload_seconds
    return knowledge, KbReload(knowledge, every) if every > 0 else None


def article_lookup(db: Engine) -> Callable[[str], Article | None]:
    """An article by its id, as stored (runs on the database's threads)."""

    def lookup(article_id: str) -> Article | None:
        with Session(db) as session:
            row = session.get(KbArticle, article_id)
            return row.to_article() if row else None

    return lookup


def article_title(engine: AnswerEngine) -> Callable[[str], str]:
    """An article's title in the engine's current index (a KB reload swaps it), else its id."""

    def title(article_id: str) -> str:
        entry = engine.index.get(article_id)
        return entry.title if entry else article_id

    return title
