"""Service categories and urgencies of a ticket, and the category the bot proposes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.tickets.models import URGENCIES
from kb_index.articles import CATEGORIES

DEFAULT_CATEGORY = "consult"

__all__ = ["CATEGORIES", "DEFAULT_CATEGORY", "URGENCIES", "suggest_category"]


def suggest_category(article_categories: Sequence[str]) -> str:
    """The category most of the nearest articles have (given nearest first).

    A tie goes to the category of the nearer article; unknown categories are ignored; with
    nothing to go on the answer is ``"consult"`` (the contract's catch-all).
    """
    known = [c for c in article_categories if c in CATEGORIES]
    if not known:
        return DEFAULT_CATEGORY
    counts = Counter(known)
    best = max(counts.values())
    return next(c for c in known if counts[c] == best)
