"""A learned second opinion on 「怎么还没人回」: the nudge rules (``phrases.is_nudge``) catch about
half of what blind writers wrote, so a small model over the message's hashed character 1-3-grams
(the n-gram view of the message classifier, no embedding: it is asked of every message before
the decision) says "nudge" too when it is sure. Three classes — me-too, nudge, anything else —
trained by ``scripts/train_nudge_model.py`` on the blind follow-up sets and the labelled group
messages; only its nudge probability is used (the me-too half did not beat the rules held out:
``eval/prereg/2026-12-07-twelfth-session.txt``, studies 5 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from intents.addressing import surface
from intents.classify import ngram_ids

#: The shipped model (package data).
SHIPPED = Path(__file__).with_name("nudges.npz")
#: The classes, in the order of the weights' rows.
CLASSES = ("me_too", "nudge", "other")


@dataclass(frozen=True)
class NudgeModel:
    """Softmax regression over hashed n-grams; ``threshold`` is the nudge probability it must
    reach (chosen held out so that few near-misses pass)."""

    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    threshold: float
    bits: int

    @classmethod
    def load(cls, path: Path = SHIPPED) -> NudgeModel:
        with np.load(path) as data:
            return cls(
                data["weights"].astype(np.float32),
                data["bias"].astype(np.float32),
                float(data["threshold"]),
                int(data["bits"]),
            )

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weights=self.weights,
            bias=self.bias,
            threshold=np.float64(self.threshold),
            bits=np.int64(self.bits),
        )

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """The three classes' probabilities (``CLASSES`` order)."""
        ids = np.unique(ngram_ids(surface(text), self.bits))
        scale = 1.0 / max(np.sqrt(len(ids)), 1.0)  # as ``classifier_training.ngram_matrix``
        z = self.weights[:, ids].sum(axis=1).astype(np.float64) * scale + self.bias
        z -= z.max()
        p = np.exp(z)
        return p / p.sum()  # type: ignore[no-any-return]

    def says_nudge(self, text: str) -> bool:
        return float(self.probabilities(text)[CLASSES.index("nudge")]) >= self.threshold
