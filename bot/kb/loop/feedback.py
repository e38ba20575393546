"""Feedback per article: how the bot's answers with it fared, before and after its last edit.

An answer is an exchange the bot answered with the article (or asked 「是这个问题吗？」 about
it and the user then marked it solved). Its outcome is what the user did next: 已解决 (solved), 没解决 or "还是不行" (the
question became a ticket: escalated after the answer), or nothing yet (pending). The split at
the article's last saved version shows whether an edit made after feedback helped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, func
from sqlmodel import col, select

from bot.conversation.exchanges import Exchange, Outcome
from bot.registry.sessions import read_session
from kb_index.store import KbArticle, KbArticleVersion

#: An article is flagged for review when at least this many answers ...
REVIEW_MIN_ANSWERS = 5
#: ... and at least this share of them were not solved.
REVIEW_UNSOLVED_SHARE = 0.3


@dataclass(frozen=True)
class Rates:
    answered: int = 0
    solved: int = 0
    unsolved: int = 0

    @property
    def pending(self) -> int:
        return self.answered - self.solved - self.unsolved

    def share(self, count: int) -> float | None:
        return round(count / self.answered, 3) if self.answered else None

    def add(self, outcome: str) -> Rates:
        return Rates(
            self.answered + 1,
            self.solved + (outcome == Outcome.SOLVED),
            self.unsolved + (outcome in (Outcome.UNSOLVED, Outcome.ESCALATED)),
        )


@dataclass(frozen=True)
class ArticleFeedback:
    article_id: str
    title: str
    #: When the current version was saved; answers before it judged the older text.
    edited_at: dt.datetime | None
    before: Rates
    after: Rates

    @property
    def total(self) -> Rates:
        b, a = self.before, self.after
        return Rates(b.answered + a.answered, b.solved + a.solved, b.unsolved + a.unsolved)

    @property
    def needs_review(self) -> bool:
        """Many answers since the last edit were not solved."""
        current = self.after
        return (
            current.answered >= REVIEW_MIN_ANSWERS
            and current.unsolved / current.answered >= REVIEW_UNSOLVED_SHARE
        )


def article_feedback(db: Engine, only: str | None = None) -> list[ArticleFeedback]:
    """Every article the bot answered with (or just ``only``), flagged ones first, then by
    answers."""
    with read_session(db) as s:
        latest = dict(
            s.exec(
                select(KbArticleVersion.article_id, func.max(KbArticleVersion.created_at)).group_by(
                    col(KbArticleVersion.article_id)
                )
            ).all()
        )
        titles = {a.id: a.title for a in s.exec(select(KbArticle)).all()}
        rows = s.exec(
            select(Exchange.article_ids, Exchange.decision, Exchange.outcome, Exchange.created_at)
            .where(col(Exchange.decision).in_(("answer", "confirm")))
            .order_by(col(Exchange.id))
        ).all()
    split: dict[str, tuple[Rates, Rates]] = {}
    for article_ids, decision, outcome, at in rows:
        article = article_ids.split(",")[0] if article_ids else ""
        if only is not None and article != only:
            continue
        if not article or (decision == "confirm" and outcome != Outcome.SOLVED):
            # after 「是这个问题吗？」 the record cannot tell 不是 from 是 + 没解决: only a
            # confirmation marked solved certainly sent (and solved with) the steps
            continue
        before, after = split.get(article, (Rates(), Rates()))
        edited = latest.get(article)
        if edited is not None and _utc(at) < _utc(edited):
            before = before.add(outcome)
        else:
            after = after.add(outcome)
        split[article] = (before, after)
    out = [
        ArticleFeedback(a, titles.get(a, a), latest.get(a), before, after)
        for a, (before, after) in split.items()
    ]
    return sorted(out, key=lambda f: (not f.needs_review, -f.total.answered, f.article_id))


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
