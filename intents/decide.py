"""One decision per chat message: answer, clarify, escalate, urgent, or smalltalk.

The steps are plain functions over one message, in a fixed order whose reasons are domain ones:

1. an outage is recognised first and never answered with an FAQ (it may carry a hint article);
2. chit-chat is recognised next and left alone;
3. retrieval ranks articles, and the calibrated confidence decides whether the top one is
   answered ("no citation, no answer": there is no answer without an article);
4. when two or three articles are plausible but none is sure, the user is asked to pick;
5. anything else that reads like a question goes to an engineer; the rest is left alone.

A confident wrong fix sent to a cashier costs more than an escalation, so every tie breaks
towards escalation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from intents.confidence import confidence, features
from intents.outage import detect_outage
from intents.settings import DecideSettings
from intents.smalltalk import detect_smalltalk, looks_like_a_question
from kb_index.embedder import Embedder
from kb_index.index import ArticleEntry, Hit, SearchIndex
from kb_index.text import prepare_query

#: Redaction placeholders such as ``[身份证号]`` say nothing about the problem; drop them.
_PLACEHOLDER = re.compile(r"\[[^\[\]\s]{1,8}\]")


class DecisionKind(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    ESCALATE = "escalate"
    URGENT = "urgent"
    SMALLTALK = "smalltalk"


@dataclass(frozen=True)
class ScoredHit:
    """A retrieved article with the calibrated probability that it is the answer."""

    hit: Hit
    confidence: float

    @property
    def article(self) -> ArticleEntry:
        return self.hit.article


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    #: The article answered with (answer), or the hint (urgent); None otherwise.
    article: ArticleEntry | None = None
    #: Articles offered to pick from (clarify).
    choices: tuple[ArticleEntry, ...] = ()
    #: Confidence of the top article (0..1), 0 when retrieval did not run.
    confidence: float = 0.0
    #: Why: the rule or the score that decided, for logs and the chat demo.
    reason: str = ""
    #: The ranked candidates behind the decision, best first.
    candidates: tuple[ScoredHit, ...] = field(default=())

    @property
    def top_ids(self) -> list[str]:
        return [c.article.id for c in self.candidates]


def query_text(message: str, max_chars: int) -> str:
    """The part of a message worth searching: placeholders dropped, pastes cut to size."""
    text = _PLACEHOLDER.sub(" ", message)
    return text[:max_chars]


class AnswerEngine:
    """Retrieval plus decision rules; safe to share between chats (it holds no per-chat state)."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        settings: DecideSettings,
        dense_weight: float = 0.5,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.dense_weight = dense_weight

    def rank(self, message: str, k: int = 5) -> list[ScoredHit]:
        """Candidates for a message with their answer confidence, best first."""
        text = query_text(message, self.settings.max_chars)
        if not text.strip():
            return []
        qvec = self.embedder.embed_queries([prepare_query(text)])[0]
        hits = self.index.search_vector(text, qvec, k=k, dense_weight=self.dense_weight)
        model = self.settings.confidence
        scored = []
        for i, hit in enumerate(hits):
            # a lower-ranked hit's confidence is judged as if it were on top, against the others
            others = [h for j, h in enumerate(hits) if j != i]
            scored.append(ScoredHit(hit, confidence(model, features([hit, *others]))))
        return scored

    def decide(self, message: str) -> Decision:
        text = query_text(message, self.settings.max_chars)
        if not text.strip():
            return Decision(DecisionKind.SMALLTALK, reason="empty message")
        outage = detect_outage(text)
        if outage.is_outage:
            ranked = self.rank(text, k=3)
            hint = (
                ranked[0]
                if ranked and ranked[0].confidence >= self.settings.answer_threshold
                else None
            )
            return Decision(
                DecisionKind.URGENT,
                article=hint.article if hint else None,
                confidence=ranked[0].confidence if ranked else 0.0,
                reason=f"outage: {outage.reason}",
                candidates=tuple(ranked),
            )
        small = detect_smalltalk(text)
        if small.is_smalltalk:
            return Decision(DecisionKind.SMALLTALK, reason=small.reason)
        ranked = self.rank(text, k=5)
        if not ranked:
            return self._fallback(text, ranked, "the knowledge base is empty")
        top = ranked[0]
        threshold = self.settings.answer_threshold
        if top.confidence >= threshold:
            return Decision(
                DecisionKind.ANSWER,
                article=top.article,
                confidence=top.confidence,
                reason=f"confidence {top.confidence:.2f} ≥ {threshold:.2f}",
                candidates=tuple(ranked),
            )
        choices = self._choices(ranked)
        if len(choices) >= 2:
            return Decision(
                DecisionKind.CLARIFY,
                choices=tuple(c.article for c in choices),
                confidence=top.confidence,
                reason=f"{len(choices)} plausible articles, none ≥ {threshold:.2f}",
                candidates=tuple(ranked),
            )
        return self._fallback(text, ranked, f"confidence {top.confidence:.2f} < {threshold:.2f}")

    def _choices(self, ranked: list[ScoredHit]) -> list[ScoredHit]:
        """Close neighbours worth offering: the top article is plausible, and the others rank
        within ``clarify_margin`` of it (the case of similar symptoms with different causes).
        On the dev set, wider margins mostly offered unrelated articles for out-of-KB questions."""
        top = ranked[0]
        if top.confidence < self.settings.clarify_threshold:
            return []
        close = [
            c
            for c in ranked[1 : self.settings.clarify_max]
            if top.hit.score - c.hit.score <= self.settings.clarify_margin
        ]
        return [top, *close] if close else []

    def _fallback(self, text: str, ranked: list[ScoredHit], why: str) -> Decision:
        top = ranked[0].confidence if ranked else 0.0
        if looks_like_a_question(text):
            return Decision(
                DecisionKind.ESCALATE,
                confidence=top,
                reason=f"no confident article ({why})",
                candidates=tuple(ranked),
            )
        return Decision(
            DecisionKind.SMALLTALK,
            confidence=top,
            reason=f"not a question and {why}",
            candidates=tuple(ranked),
        )
