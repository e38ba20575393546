"""A learned linear map of the message's embedding, applied before dense retrieval.

Why: the built-in model (multilingual-e5-small) puts a cashier's everyday description of a fault
and a near miss in the article's own words at much the same distance from the article, so the
similarity that the verification model reads separates them poorly on a KB it was not fitted on.
A map learned on the labelled questions of many KBs — rank the expected article's best view
first, and a learned "none of them" score above every article for a question the KB does not
answer — moves the message into a space where that separation holds better on *other* KBs: it
learns how hospital staff word problems, not any KB's articles. The article vectors are left as
they are (the index needs no rebuild); only the message's vector is mapped.

The map starts at the identity and an L2 penalty pulls it back there, so with little data it
stays close to the plain model. Serving is one matrix product; fitting (``hisbot kb
calibrate``) uses PyTorch, imported only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kb_index.embedder import Vectors

#: Fitting settings (README "How a message is decided"): softmax temperature over the
#: similarities, the pull back towards the identity, and full-batch Adam steps.
TEMPERATURE = 0.05
L2 = 0.01
STEPS = 300
LEARNING_RATE = 2e-3


@dataclass(frozen=True, eq=False)
class QueryMap:
    """``matrix`` (dim × dim) maps a message embedding of the model ``model_id``."""

    matrix: npt.NDArray[np.float32]
    model_id: str

    def apply(self, vector: Vectors) -> Vectors:
        """The mapped vector, L2-normalised like every vector the index compares."""
        mapped = self.matrix @ vector.astype(np.float32, copy=False)
        norm = float(np.linalg.norm(mapped))
        out: Vectors = (mapped / norm if norm > 0 else mapped).astype(np.float32, copy=False)
        return out


@dataclass(frozen=True)
class MapExamples:
    """One KB's labelled questions as the map is fitted on them."""

    #: The messages' embeddings (n × dim), as triage computes them.
    queries: Vectors
    #: Each message's article (an index into the KB's articles), or -1: the KB does not answer it.
    targets: npt.NDArray[np.int64]
    #: The KB's embedded views (v × dim) and the article each belongs to.
    views: Vectors
    view_article: npt.NDArray[np.int32]
    articles: int


def fit_query_map(
    examples: Sequence[MapExamples],
    model_id: str,
    l2: float = L2,
    steps: int = STEPS,
) -> QueryMap:
    """Fit the map on several KBs' labelled questions (deterministic: full batches, no
    sampling). The loss per message is the cross-entropy of its article — or of "none" for an
    out-of-KB question — among the KB's articles (each scored by its best view) and a learned
    "none" score; the penalty is ``l2``·‖W − I‖²."""
    import torch

    usable = [e for e in examples if len(e.queries) and e.articles]
    if not usable:
        raise ValueError("the query map needs labelled questions of at least one KB")
    dim = usable[0].queries.shape[1]
    eye = torch.eye(dim)
    weights = eye.clone().requires_grad_(True)
    none = torch.tensor(0.85, requires_grad=True)
    batches = []
    for e in usable:
        owner = torch.as_tensor(e.view_article, dtype=torch.long)
        # articles × views: which view belongs to which article
        member = torch.arange(e.articles)[:, None] == owner[None, :]
        target = torch.as_tensor(np.where(e.targets >= 0, e.targets, e.articles))
        batches.append((torch.as_tensor(e.queries), torch.as_tensor(e.views), member, target))
    total = sum(len(b[3]) for b in batches)
    floor = torch.tensor(-2.0)
    optimiser = torch.optim.Adam([weights, none], lr=LEARNING_RATE)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = l2 * ((weights - eye) ** 2).sum()
        for queries, views, member, target in batches:
            mapped = torch.nn.functional.normalize(queries @ weights.T, dim=1)
            sims = mapped @ views.T
            best = torch.where(member[None], sims[:, None, :], floor).max(dim=2).values
            logits = torch.cat([best, none.expand(len(mapped), 1)], dim=1) / TEMPERATURE
            loss = loss + torch.nn.functional.cross_entropy(logits, target, reduction="sum") / total
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    matrix = weights.detach().numpy().astype(np.float32)
    return QueryMap(matrix, model_id)
