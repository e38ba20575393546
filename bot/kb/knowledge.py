"""Wiring the KB pieces together from settings: import, build, and the answer engine.

The CLI, the chat demo and (later) the running bot all come through here, so "where is the
index, which model, which thresholds" is decided in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from bot.cli.progress import progress_bar
from bot.infra.config import Settings
from intents.classify import MessageClassifier
from intents.decide import AnswerEngine
from intents.verifier import Verifier
from kb_index.articles import Article
from kb_index.embedder import Embedder, load_embedder
from kb_index.index import IndexError_, SearchIndex, ViewRecipe, embedding_key
from kb_index.lay_terms import LayTerms
from kb_index.store import load_articles


def embedder_for(settings: Settings) -> Embedder:
    return load_embedder(settings.embedding, resolve=settings.base_dir)


def view_recipe(settings: Settings) -> ViewRecipe:
    return ViewRecipe(
        kinds=tuple(settings.retrieval.views), chunk_chars=settings.retrieval.chunk_chars
    )


def index_dir(settings: Settings) -> Path:
    return settings.index_path


def build_index(
    settings: Settings, engine: Engine, embedder: Embedder
) -> tuple[SearchIndex, int, Path]:
    """Build the index from the database's articles, re-embedding only what changed, and
    persist it. Returns the index, how many articles were embedded, and where it was written."""
    articles = load_articles(engine)
    index, embedded = build_in_memory(
        settings, articles, embedder, previous=previous_index(settings)
    )
    folder = index.save(index_dir(settings))
    return index, embedded, folder


def build_in_memory(
    settings: Settings,
    articles: Sequence[Article],
    embedder: Embedder,
    previous: SearchIndex | None = None,
) -> tuple[SearchIndex, int]:
    with progress_bar(len(articles), "embedding articles") as advance:
        return SearchIndex.build(
            articles, embedder, view_recipe(settings), previous=previous, progress=advance
        )


def previous_index(settings: Settings) -> SearchIndex | None:
    """The persisted index, whose vectors a rebuild reuses; None when there is none yet."""
    try:
        return SearchIndex.load(index_dir(settings))
    except IndexError_:
        return None


def load_index(settings: Settings, embedder: Embedder) -> SearchIndex:
    """The persisted index, refusing one built with a different model."""
    key = embedding_key(embedder.model_id, view_recipe(settings))
    return SearchIndex.load(index_dir(settings), expected_model_id=key)


def message_classifier(settings: Settings) -> MessageClassifier:
    """The configured message classifier (a relative path starts at the config's folder)."""
    name = settings.decide.message_model
    path: Path | None = None
    if name:
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = settings.base_dir / path
    return MessageClassifier.load(path, settings.decide.bot_names)


def verifier(settings: Settings) -> Verifier:
    """The configured verification model (a relative path starts at the config's folder)."""
    name = settings.decide.verification_model
    return Verifier.load(settings.path(name) if name else None)


def answer_engine(
    settings: Settings,
    index: SearchIndex,
    embedder: Embedder,
    classifier: MessageClassifier | None = None,
) -> AnswerEngine:
    """The engine the settings ask for; pass ``classifier`` to share one loaded model."""
    return AnswerEngine(
        index,
        embedder,
        settings.decide,
        dense_weight=settings.retrieval.dense_weight,
        classifier=classifier or message_classifier(settings),
        lay_terms=lay_terms(settings),
        verifier=verifier(settings),
    )


def lay_terms(settings: Settings) -> LayTerms:
    """The everyday-phrase table the settings ask for (built-in plus the site's file)."""
    retrieval = settings.retrieval
    if not retrieval.lay_terms:
        return LayTerms(())
    site = settings.path(retrieval.lay_terms_file) if retrieval.lay_terms_file else None
    return LayTerms.with_site_file(site)
