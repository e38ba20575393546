"""One decision per chat message: answer, confirm, clarify, escalate, urgent, or stay quiet.

The steps are plain functions over one message, in a fixed order whose reasons are domain ones:

1. who is it for? Talk between people (an @-mention of someone else, a reply to a person) is
   left alone: no answer, no ticket;
2. what kind of message is it? The message classifier (``intents.classify``) tells a question
   from an outage, chit-chat and a forwarded notice; an outage is never answered with an FAQ
   (it may carry a hint article), the quiet kinds are left alone (steps 1 and 2 need no KB:
   ``intents.triage``);
3. retrieval ranks articles and the verification model (``intents.verifier``) gives each the
   probability that it addresses *this* problem ("no citation, no answer");
4. sure → answer; two or three close and plausible → ask which; one plausible but not sure →
   ask 「是这个问题吗？」 before sending steps; otherwise → an engineer.

A confident wrong fix sent to a cashier costs more than an escalation, so every tie breaks
towards asking or escalating.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from intents.addressing import Addressing
from intents.classify import MessageClassifier
from intents.confidence import asked_action, features
from intents.message_class import MessageClass
from intents.settings import DecideSettings
from intents.triage import MessageTriage
from intents.verifier import Verifier
from kb_index.embedder import Embedder, Vectors
from kb_index.index import ArticleEntry, Hit, SearchIndex
from kb_index.lay_terms import LayTerms
from kb_index.text import simplified

#: Redaction placeholders such as ``[身份证号]`` say nothing about the problem; drop them.
_PLACEHOLDER = re.compile(r"\[[^\[\]\s]{1,8}\]")


class DecisionKind(StrEnum):
    ANSWER = "answer"
    #: One plausible article, not sure enough to send its steps: 「是这个问题吗？《标题》」.
    CONFIRM = "confirm"
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
    #: The article answered with (answer), asked about (confirm), or the hint (urgent).
    article: ArticleEntry | None = None
    #: Articles offered to pick from (clarify).
    choices: tuple[ArticleEntry, ...] = ()
    #: Confidence of the top article (0..1), 0 when retrieval did not run.
    confidence: float = 0.0
    #: Why: the rule or the score that decided, for logs and the chat demo.
    reason: str = ""
    #: The ranked candidates behind the decision, best first.
    candidates: tuple[ScoredHit, ...] = field(default=())
    #: What the message classifier made of the message ("" when a rule decided before it).
    message_class: str = ""

    @property
    def top_ids(self) -> list[str]:
        return [c.article.id for c in self.candidates]


def query_text(message: str, max_chars: int) -> str:
    """The part of a message worth searching: placeholders dropped, pastes cut to size, in
    simplified characters (every cue and rule downstream is written in them)."""
    text = simplified(_PLACEHOLDER.sub(" ", message))
    return text[:max_chars]


class AnswerEngine:
    """Classification, retrieval and verification; safe to share between chats (it holds no
    per-chat state)."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        settings: DecideSettings,
        dense_weight: float = 0.5,
        classifier: MessageClassifier | None = None,
        lay_terms: LayTerms | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.dense_weight = dense_weight
        self.classifier = (
            classifier
            if classifier is not None
            else MessageClassifier.load(None, settings.bot_names)
        )
        #: P(this article answers this message); its thresholds are in ``settings``.
        self.verifier = verifier if verifier is not None else Verifier.load(None)
        #: Everyday phrases → the KB's technical words, for the lexical retriever.
        self.lay_terms = lay_terms if lay_terms is not None else LayTerms()
        #: Steps 1 and 2: is the message for the bot, and is it an outage?
        self.triage = MessageTriage(self.classifier, embedder, settings)

    def with_settings(
        self, settings: DecideSettings, verifier: Verifier | None = None
    ) -> AnswerEngine:
        """The same index, embedder and classifier under other thresholds and, if given,
        another verification model (evaluation, calibration)."""
        return AnswerEngine(
            self.index,
            self.embedder,
            settings,
            self.dense_weight,
            self.classifier,
            self.lay_terms,
            verifier if verifier is not None else self.verifier,
        )

    def rank(self, message: str, k: int = 5, qvec: Vectors | None = None) -> list[ScoredHit]:
        """Candidates for a message with their answer confidence, best first."""
        text = query_text(message, self.settings.max_chars)
        if not text.strip():
            return []
        if qvec is None:
            qvec = self.triage.embed(text)
        hits = self.index.search_vector(
            text, qvec, k=k, dense_weight=self.dense_weight, lay_terms=self.lay_terms
        )
        # a lower-ranked hit's confidence is judged as if it were on top, against the others
        rows = [features([hit, *hits[:i], *hits[i + 1 :]], text) for i, hit in enumerate(hits)]
        probs = self.verifier.probabilities(rows)
        return [ScoredHit(hit, p) for hit, p in zip(hits, probs, strict=True)]

    def decide(self, message: str, addressing: Addressing | None = None) -> Decision:
        """Decide one message. ``addressing`` is what the platform knows of mentions and
        replies; mentions written in the text are read here too."""
        text = query_text(message, self.settings.max_chars)
        if not text.strip():
            return Decision(DecisionKind.SMALLTALK, reason="empty message")
        triaged = self.triage(text, addressing)
        if triaged.taken_as is MessageClass.OUTAGE:
            ranked = self.rank(text, k=3, qvec=triaged.embedding)
            hint = (
                ranked[0]
                if ranked and ranked[0].confidence >= self.settings.answer_threshold
                else None
            )
            return Decision(
                DecisionKind.URGENT,
                article=hint.article if hint else None,
                confidence=ranked[0].confidence if ranked else 0.0,
                reason=triaged.reason,
                candidates=tuple(ranked),
                message_class=MessageClass.OUTAGE.value,
            )
        if triaged.quiet:
            return Decision(
                DecisionKind.SMALLTALK,
                reason=triaged.reason,
                message_class=triaged.taken_as.value,
            )
        ranked = self.rank(text, k=5, qvec=triaged.embedding)
        return self._answer_or_ask(text, ranked, MessageClass.QUESTION.value)

    def unnamed_action(self, message: str, article_id: str) -> str | None:
        """The action a how-to asks for when the article never names it (「…怎么作废」 against
        an article without 作废): that article may be asked about, never sent as the answer."""
        action = asked_action(message)
        if action is None or self.index.mentions(article_id, action):
            return None
        return action

    def _answer_or_ask(self, text: str, ranked: list[ScoredHit], message_class: str) -> Decision:
        if not ranked:
            return Decision(
                DecisionKind.ESCALATE,
                reason="no confident article (the knowledge base is empty)",
                message_class=message_class,
            )
        top = ranked[0]
        s = self.settings
        base = Decision(
            DecisionKind.ESCALATE,
            confidence=top.confidence,
            candidates=tuple(ranked),
            message_class=message_class,
        )
        if top.confidence >= s.answer_threshold:
            sure = f"confidence {top.confidence:.2f} ≥ {s.answer_threshold:.2f}"
            unnamed = self.unnamed_action(text, top.article.id)
            if unnamed is None:
                return replace(base, kind=DecisionKind.ANSWER, article=top.article, reason=sure)
            return replace(
                base,
                kind=DecisionKind.CONFIRM,
                article=top.article,
                reason=f"{sure}, but the message asks how to {unnamed} and the article never "
                "says: ask first",
            )
        choices = self._choices(ranked)
        if len(choices) >= 2:
            return replace(
                base,
                kind=DecisionKind.CLARIFY,
                choices=tuple(c.article for c in choices),
                reason=f"{len(choices)} plausible articles, none ≥ {s.answer_threshold:.2f}",
            )
        if top.confidence >= s.confirm_threshold:
            return replace(
                base,
                kind=DecisionKind.CONFIRM,
                article=top.article,
                reason=f"confidence {top.confidence:.2f} between {s.confirm_threshold:.2f} "
                f"and {s.answer_threshold:.2f}: ask first",
            )
        return replace(
            base,
            reason=f"no confident article (confidence {top.confidence:.2f} "
            f"< {s.confirm_threshold:.2f})",
        )

    def _choices(self, ranked: list[ScoredHit]) -> list[ScoredHit]:
        """Close neighbours worth offering: the top article is plausible, and the others rank
        within ``clarify_margin`` of it (the case of similar symptoms with different causes)
        and are plausible themselves."""
        top = ranked[0]
        if top.confidence < self.settings.clarify_threshold:
            return []
        close = [
            c
            for c in ranked[1 : self.settings.clarify_max]
            if top.hit.score - c.hit.score <= self.settings.clarify_margin
            and c.confidence >= self.settings.clarify_threshold
        ]
        return [top, *close] if close else []
