"""Is a message for the bot at all, and is it an outage? The first two steps of a decision.

Before any article is looked at: talk between people (an @-mention of someone else, a reply to
a person, a call at its start: 「检验科的同事，…」) is left alone unless it is a clear outage
(``addressed_outage_min``); the message classifier then tells a question from an outage and
from the quiet kinds (chit-chat, talk between people, a forwarded notice). These steps need no
KB, so they live apart from retrieval: ``AnswerEngine.decide`` runs them first, and
``hisbot kb eval-classifier`` measures them on a labelled corpus exactly as the bot applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from intents.addressing import Addressing, text_addressing
from intents.classify import MessageClassifier
from intents.message_class import MessageClass
from intents.outage_readings import (
    asks_how_or_whether_it_can,
    not_down_now,
    outage_told_again_or_onward,
    says_others_are_fine,
)
from intents.rules import (
    asks_one_more,
    carries_an_error,
    follows_up_a_problem,
    only_links,
    only_thanks,
    still_failing,
    takes_back_a_report,
)
from intents.settings import DecideSettings
from kb_index.embedder import Embedder, Vectors
from kb_index.text import prepare_query

#: The kinds the bot leaves alone.
QUIET_CLASSES = (MessageClass.CHITCHAT, MessageClass.PEOPLE, MessageClass.NOTICE)


@dataclass(frozen=True)
class Triaged:
    """What a message is taken for before retrieval."""

    #: QUESTION (retrieval decides next), OUTAGE (a P1 for a human), or the quiet class it is
    #: left alone as.
    taken_as: MessageClass
    #: Why, for logs and the chat demo: the rule or the probability that decided.
    reason: str
    #: The message's embedding, reused by retrieval (``None`` when it was not needed).
    embedding: Vectors | None = None

    @property
    def quiet(self) -> bool:
        return self.taken_as in QUIET_CLASSES


class MessageTriage:
    """Addressing, then the classifier under the ``outage_min`` / ``quiet_min`` thresholds (and
    ``addressed_outage_min`` for a message addressed to someone else), with the rules' readings
    and guards over it (``intents.rules``, ``intents.outage_readings``)."""

    def __init__(
        self, classifier: MessageClassifier, embedder: Embedder, settings: DecideSettings
    ) -> None:
        self.classifier = classifier
        self.embedder = embedder
        self.settings = settings

    def embed(self, text: str) -> Vectors:
        vectors: Vectors = self.embedder.embed_queries([prepare_query(text)])
        first: Vectors = vectors[0]
        return first

    def __call__(self, text: str, addressing: Addressing | None = None) -> Triaged:
        """``text`` is the message as the engine searches it; ``addressing`` is what the
        platform knows of mentions and replies (mentions written in the text are read here)."""
        if only_links(text):  # a shared article or notice, nothing asked: no model needed
            return Triaged(MessageClass.NOTICE, "a link, nothing asked")
        addr = (addressing or Addressing()) | text_addressing(text, self.classifier.bot_names)
        embedding = self.embed(text)
        scores = self.classifier.scores(text, embedding, self.embedder.model_id)
        p_outage = scores[MessageClass.OUTAGE]
        # A message addressed to a person is their talk, unless it is a clear outage (「@信息科
        # 报告服务停了 谁点都失败」): that pages the engineer of the day, whoever was asked.
        addressed = addr.between_people
        bar = self.settings.addressed_outage_min if addressed else self.settings.outage_min
        # 「…别人都正常」: the sender says it is theirs alone, however loudly it is told
        if p_outage >= bar and (scores.rule or not says_others_are_fine(text)):
            told = " addressed to someone else" if addressed else ""
            why = f"outage{told}: {scores.rule or f'p={p_outage:.2f}'}"
            return Triaged(MessageClass.OUTAGE, why, embedding)
        if addressed:
            return Triaged(MessageClass.PEOPLE, "talk between people (addressed to someone else)")
        # 「早上反馈的yb问题，到现在结算还是失败」: an outage told again, told onward or felt by many
        # (read only here: told to a colleague, the same words are their talk; an exact rule —
        # 【转发】, a restoration — has decided already)
        reading = (
            None if scores.rule else outage_told_again_or_onward(text, self.classifier.bot_names)
        )
        if reading:
            return Triaged(MessageClass.OUTAGE, f"outage: {reading}", embedding)
        p_quiet = sum(scores[c] for c in QUIET_CLASSES)
        # a bare pasted error (「ORA-01017」) reads like a one-word greeting to the n-grams, but
        # whoever pastes one wants it looked at, and so does whoever thanks and then asks one more
        # question, says it still fails or follows a problem up (「还没好」; an exact rule, 【转发】,
        # still decides first)
        wants_an_answer = (
            carries_an_error(text)
            or asks_one_more(text)
            or still_failing(text)
            or follows_up_a_problem(text, self.classifier.bot_names)
        )
        if p_quiet >= self.settings.quiet_min and (scores.rule or not wants_an_answer):
            which = max(QUIET_CLASSES, key=lambda c: scores[c])
            why = scores.rule or f"{which.value} (p={p_quiet:.2f})"
            return Triaged(which, why, embedding)
        # 「撤回一下，是我没插网线」: the report is taken back, nothing is asked any more
        if takes_back_a_report(text):
            return Triaged(MessageClass.CHITCHAT, "a report taken back", embedding)
        # 「谢谢小助手帮我找到了退费入口」: thanks, and nothing more asked
        if only_thanks(text):
            return Triaged(MessageClass.CHITCHAT, "thanks, nothing more asked", embedding)
        # 「生化仪的结果今天上午都没传到LIS」 is one lab's question; 「上午那个PACS故障下午还是老样子，报告
        # 都积着」 is an outage: the scope head asks what failed, shared or one user's, with a
        # threshold that pages almost no question (never when the sender says others are fine,
        # nor what tells planned work, an incident over or a failure denied: 「下午三点机房演练，会断网」,
        # nor a how-to: 「所有的门诊病历都能查到吗」)
        scope = self.classifier.scope
        shared = self.classifier.shared_failure(text, embedding, self.embedder.model_id)
        if (
            scope is not None
            and shared is not None
            and shared >= scope.threshold
            and not says_others_are_fine(text)
            and not not_down_now(text)
            and not asks_how_or_whether_it_can(text)
        ):
            why = f"outage: a shared failure (p={shared:.2f})"
            return Triaged(MessageClass.OUTAGE, why, embedding)
        return Triaged(MessageClass.QUESTION, "question", embedding)
