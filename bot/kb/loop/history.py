"""The deployment's own history as a labelled query set.

Every labelled ticket is a query: an "article" label expects that article to be answered
with (``faq``); "none" and "new" expect an escalation (``out-of-kb``), so answering them
counts as a wrong answer. Labels naming an article since retired are left out and counted:
the KB moved on, the question no longer has an expected answer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.kb.loop.labels import LabelledTicket
from bot.kb.loop.models import Verdict
from intents.evaluate import LabelledQuery

#: Fewer labelled questions than this are too few to fit or judge thresholds on.
MIN_LABELLED = 20


class HistoryError(ValueError):
    """The history cannot serve as a query set (too few labels); printed as one line."""


@dataclass(frozen=True)
class HistorySet:
    queries: tuple[LabelledQuery, ...]
    #: Labels whose article is no longer in the KB (retired or deleted).
    stale: int

    @property
    def answerable(self) -> int:
        return sum(q.kind == "faq" for q in self.queries)


def history_queries(
    labelled: Sequence[LabelledTicket], live_articles: Collection[str]
) -> HistorySet:
    """The labelled tickets as queries against the KB whose article ids are ``live_articles``."""
    queries: list[LabelledQuery] = []
    stale = 0
    for row in labelled:
        if row.verdict is Verdict.ARTICLE:
            if row.article_id not in live_articles:
                stale += 1
                continue
            queries.append(LabelledQuery(row.number, row.question, row.article_id, "faq"))
        else:
            queries.append(LabelledQuery(row.number, row.question, None, "out-of-kb"))
    return HistorySet(tuple(queries), stale)


def require_enough(history: HistorySet, minimum: int = MIN_LABELLED) -> None:
    if len(history.queries) < minimum:
        raise HistoryError(
            f"only {len(history.queries)} labelled questions in the history (need {minimum}): "
            "engineers label a question with one tap when they /resolve its ticket"
        )
