"""Common problems: resolved tickets and unanswered questions grouped, ranked, and checked
against the KB.

A problem is a group of questions (``clustering``) with the hospitals it hit, the tickets'
resolutions and the engineers' labels, and a coverage verdict: ``covered`` (the bot now
answers most of its questions with one article), ``near`` (one article nearly covers it, or
the engineers said it does: add the hospitals' phrasings to it) or ``uncovered`` (draft a new
article). Everything here is blocking (database, embedding): callers on the loop use a worker
thread.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import col, select

from bot.conversation.exchanges import Exchange
from bot.infra.clock import as_utc
from bot.kb.loop.clustering import group_questions
from bot.kb.loop.models import QuestionLabel, Verdict
from bot.kb.loop.settings import KbLoopSettings
from bot.privacy.models import ERASED
from bot.registry.sessions import read_session
from bot.tickets.models import Ticket
from intents.decide import AnswerEngine
from kb_index.embedder import Vectors
from kb_index.text import prepare_query


class Coverage(StrEnum):
    COVERED = "covered"
    NEAR = "near"
    UNCOVERED = "uncovered"
    #: The engineers labelled most of its questions "无需文章": not a KB matter.
    NOT_KB = "not_kb"


@dataclass(frozen=True)
class ProblemItem:
    """One question: a ticket's (with its resolution and label) or an unanswered exchange's."""

    key: str
    text: str
    hospital_id: str
    category: str
    at: dt.datetime
    ticket_number: str | None = None
    resolution: str = ""
    label: Verdict | None = None
    label_article: str | None = None


@dataclass(frozen=True)
class Problem:
    items: tuple[ProblemItem, ...]
    coverage: Coverage
    #: The article that covers or nearly covers it (None: uncovered).
    article_id: str | None
    #: The average answer confidence of that article over the group's questions.
    confidence: float

    @property
    def hospitals(self) -> tuple[str, ...]:
        return tuple(sorted({i.hospital_id for i in self.items}))

    @property
    def category(self) -> str:
        return Counter(i.category for i in self.items).most_common(1)[0][0]

    @property
    def resolutions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.resolution for i in self.items if i.resolution))

    @property
    def tickets(self) -> tuple[str, ...]:
        return tuple(i.ticket_number for i in self.items if i.ticket_number)

    @property
    def first_seen(self) -> dt.datetime:
        return min(i.at for i in self.items)


def load_items(
    db: Engine, since: dt.datetime, until: dt.datetime | None = None
) -> list[ProblemItem]:
    """Tickets opened in the period, and questions the bot escalated there without a ticket
    (``escalation = "offer"`` not taken up); erased questions are left out."""
    start = as_utc(since)
    with read_session(db) as s:
        stmt = (
            select(Ticket, QuestionLabel)
            .join(QuestionLabel, col(QuestionLabel.ticket_id) == col(Ticket.id), isouter=True)
            .where(col(Ticket.created_at) >= start)
            .order_by(col(Ticket.id))
        )
        if until is not None:
            stmt = stmt.where(col(Ticket.created_at) < as_utc(until))
        tickets = s.exec(stmt).all()
        ex = (  # every stored time comes back aware UTC
            select(Exchange)
            .where(
                col(Exchange.created_at) >= start.replace(tzinfo=dt.UTC),
                col(Exchange.decision) == "escalate",
                col(Exchange.ticket_number).is_(None),
            )
            .order_by(col(Exchange.id))
        )
        if until is not None:
            ex = ex.where(col(Exchange.created_at) < as_utc(until).replace(tzinfo=dt.UTC))
        exchanges = s.exec(ex).all()
    items = [
        ProblemItem(
            key=f"ticket:{t.number}",
            text=t.question,
            hospital_id=t.hospital_id,
            category=t.category,
            at=t.created_at,
            ticket_number=t.number,
            resolution=t.resolution or "",
            label=Verdict(label.verdict) if label else None,
            label_article=label.article_id if label else None,
        )
        for t, label in tickets
    ]
    items += [
        ProblemItem(f"exchange:{e.id}", e.question, e.hospital_id, "consult", e.created_at)
        for e in exchanges
    ]
    return [i for i in items if i.text.strip() and i.text != ERASED]


def analyse(
    items: Sequence[ProblemItem], engine: AnswerEngine, settings: KbLoopSettings
) -> list[Problem]:
    """The common problems among ``items`` (groups of at least ``min_group_size``), ranked by
    hospitals hit, then by how often they came."""
    if not items:
        return []
    texts = [prepare_query(i.text) for i in items]
    vectors = engine.embedder.embed_queries(texts)
    groups = group_questions(
        [i.key for i in items],
        [i.text for i in items],
        [i.category for i in items],
        vectors,
        settings.group_similarity,
        settings.cross_category_penalty,
    )
    problems = [
        _judge(tuple(items[i] for i in g), engine, settings, vectors[g])
        for g in groups
        if len(g) >= settings.min_group_size
    ]
    return sorted(problems, key=lambda p: (-len(p.hospitals), -len(p.items), p.first_seen))


def _judge(
    items: tuple[ProblemItem, ...],
    engine: AnswerEngine,
    settings: KbLoopSettings,
    vectors: Vectors,
) -> Problem:
    """Coverage of one group: what the engine answers now, and what the engineers said."""
    answered: Counter[str] = Counter()
    plausible: Counter[str] = Counter()
    confidence: dict[str, list[float]] = {}
    for item, qvec in zip(items, vectors, strict=True):
        ranked = engine.rank(item.text, k=3, qvec=qvec)
        for scored in ranked:
            confidence.setdefault(scored.article.id, []).append(scored.confidence)
        if ranked and ranked[0].confidence >= engine.settings.answer_threshold:
            answered[ranked[0].article.id] += 1
        if ranked and ranked[0].confidence >= settings.near_article_confidence:
            plausible[ranked[0].article.id] += 1
    if answered:
        best, hits = answered.most_common(1)[0]
        if hits * 2 > len(items):
            return Problem(items, Coverage.COVERED, best, _mean(confidence[best], len(items)))
    labelled = Counter(
        i.label_article
        for i in items
        if i.label is Verdict.ARTICLE and i.label_article and engine.index.get(i.label_article)
    )
    if labelled:
        best = labelled.most_common(1)[0][0]
        return Problem(items, Coverage.NEAR, best, _mean(confidence.get(best, []), len(items)))
    verdicts = [i.label for i in items if i.label is not None]
    if verdicts and verdicts.count(Verdict.NONE) * 2 > len(verdicts):
        return Problem(items, Coverage.NOT_KB, None, 0.0)
    if verdicts and verdicts.count(Verdict.NEW) * 2 > len(verdicts):
        return Problem(items, Coverage.UNCOVERED, None, 0.0)  # the engineers asked for one
    if plausible:
        best, hits = plausible.most_common(1)[0]
        if hits * 2 > len(items):
            return Problem(items, Coverage.NEAR, best, _mean(confidence[best], len(items)))
    return Problem(items, Coverage.UNCOVERED, None, 0.0)


def _mean(values: list[float], n: int) -> float:
    """Mean over the group's ``n`` questions (a question that did not rank it counts 0)."""
    return sum(values) / n if n else 0.0
