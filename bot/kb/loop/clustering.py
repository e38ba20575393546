"""Grouping questions into problems: average-linkage clustering of their embeddings.

Average linkage (not single) so a chain of loosely similar questions does not merge two
problems; questions of different service categories must be closer by a penalty. The result
does not depend on the order the questions come in: they are put in a canonical order (by
text, then key) first, and groups are returned sorted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from kb_index.embedder import Vectors


def group_questions(
    keys: Sequence[str],
    texts: Sequence[str],
    categories: Sequence[str],
    vectors: Vectors,
    similarity: float,
    category_penalty: float = 0.0,
) -> list[list[int]]:
    """Groups of indices into the inputs, largest first (ties: by their first text).

    ``vectors`` are unit-length sentence embeddings, one row per question; two groups merge
    while the average cosine similarity between their questions (minus ``category_penalty``
    for pairs of different categories) is at least ``similarity``.
    """
    n = len(texts)
    if not (len(keys) == len(categories) == len(vectors) == n):
        raise ValueError("keys, texts, categories and vectors must have the same length")
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: (texts[i], keys[i]))
    if n == 1:
        return [[0]]
    v = np.asarray(vectors, dtype=np.float64)[order]
    cats = np.asarray([categories[i] for i in order])
    distance = 1.0 - v @ v.T
    distance += category_penalty * (cats[:, None] != cats[None, :])
    np.fill_diagonal(distance, 0.0)
    distance = np.clip((distance + distance.T) / 2.0, 0.0, None)
    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - similarity, criterion="distance")
    groups: dict[int, list[int]] = {}
    for position, label in enumerate(labels):
        groups.setdefault(int(label), []).append(order[position])
    return sorted(
        (sorted(g, key=lambda i: (texts[i], keys[i])) for g in groups.values()),
        key=lambda g: (-len(g), texts[g[0]], keys[g[0]]),
    )
