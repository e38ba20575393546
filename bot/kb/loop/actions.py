"""The label prompt's buttons as typed actions.

``kbl:<ticket number>:<n|w>`` — n = none (not a KB matter), w = a new article is needed;
``kbl-a:<ticket number>:<version>`` — this article answers it. An article id may be 64
characters, more than a button carries, so the button names the article's latest stored
version (``kb_article_version.pk``, a short handle) and the press looks the article up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.kb.loop.models import Verdict
from bot.routing.actions import action
from bot.tickets.actions import TicketNumber


class LabelKind(StrEnum):
    NONE = "n"
    NEW = "w"

    @property
    def verdict(self) -> Verdict:
        return Verdict.NONE if self is LabelKind.NONE else Verdict.NEW


@action("kbl")
@dataclass(frozen=True)
class LabelVerdict:
    """无需文章 / 需要新文章."""

    number: TicketNumber
    kind: LabelKind


@action("kbl-a")
@dataclass(frozen=True)
class LabelArticle:
    """📄 <title>: the article of this stored version answers the ticket's question."""

    number: TicketNumber
    version: int
