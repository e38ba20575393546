"""What kind of group message is this? A learned classifier instead of phrase lists.

A hospital group is mostly people talking to each other. Before retrieval decides *which*
article answers a message, this decides *whether* the message is for the bot at all: a
question or problem, an outage that needs a human now, chit-chat, talk between people, or a
forwarded notice. Regexes over phrases broke on everyday wording (「感谢感谢，问题解决了」 was
escalated, a forwarded maintenance notice became a P1), so the classes are learned from a
labelled corpus of group messages (``eval/messages``) over two kinds of evidence:

* the sentence embedding the answer engine computes anyway (meaning, robust to typos), and
* hashed character 1–3-grams of the raw text (the surface: 「【转发】」, 「@王工」, emoji, 「在吗」).

The model is a multinomial logistic regression stored as plain arrays (``.npz``); inference is
two small matrix products. The embedding half only applies to the embedding model it was trained
with: under another model (a hospital's own folder) the n-gram head alone is used.

A second, narrower head (``ScopeHead``) asks one question of a message the triage would pass on
as a question: is what failed shared (an outage) or one user's? The five-class model, taught the
kinds of outages told by their consequence, paged one user's problems told with one; the head is
consulted only after it, with its own threshold chosen so that it pages almost no question
(``intents.classifier_training.fit_scope_head``).

Rules stay only where they are exact (``intents.rules``); who a message is addressed to is
``intents.addressing``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from intents.addressing import DEFAULT_BOT_NAMES, surface
from intents.message_class import CLASSES, MessageClass
from intents.model_files import load_model_file
from intents.rules import exact_rule
from kb_index.embedder import Vectors

HASH_BITS = 15


def ngram_ids(text: str, bits: int = HASH_BITS) -> npt.NDArray[np.int64]:
    """Hashed character 1–3-grams (stable across runs: CRC32, not Python's salted hash)."""
    s = f"^{text}$"
    grams = {s[i : i + n] for n in (1, 2, 3) for i in range(len(s) - n + 1)}
    mask = (1 << bits) - 1
    return np.fromiter(
        (zlib.crc32(g.encode("utf-8")) & mask for g in grams), dtype=np.int64, count=len(grams)
    )


@dataclass(frozen=True)
class ClassScores:
    """Probabilities per class for one message, and the rule that decided if one did."""

    probs: dict[MessageClass, float]
    rule: str = ""

    @property
    def best(self) -> MessageClass:
        return max(self.probs, key=lambda c: self.probs[c])

    def __getitem__(self, cls: MessageClass) -> float:
        return self.probs[cls]


@dataclass(frozen=True)
class ScopeHead:
    """Logistic regression, outage against question, over the same [embedding | n-grams] as
    the full head; it pages at ``threshold`` or above (chosen with it, kept with it)."""

    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float


class ClassifierFileError(ValueError):
    """A message-classifier file that cannot be used; the message says why."""


class MessageClassifier:
    """Softmax regression over [embedding | hashed n-grams]; see the module docstring."""

    def __init__(
        self,
        ngram_weights: npt.NDArray[np.float32],
        ngram_bias: npt.NDArray[np.float32],
        full_weights: npt.NDArray[np.float32] | None,
        full_bias: npt.NDArray[np.float32] | None,
        embedding_model: str,
        bot_names: Sequence[str] = DEFAULT_BOT_NAMES,
        scope: ScopeHead | None = None,
    ) -> None:
        self.ngram_weights = ngram_weights
        self.ngram_bias = ngram_bias
        self.full_weights = full_weights
        self.full_bias = full_bias
        self.embedding_model = embedding_model
        self.bot_names = tuple(bot_names)
        #: only with the full head's embedding model (``shared_failure``)
        self.scope = scope
        self.bits = int(np.log2(ngram_weights.shape[1] if ngram_weights.ndim == 2 else 1))

    # ---- features ---------------------------------------------------------------------------

    def ngram_vector(self, text: str) -> npt.NDArray[np.float32]:
        v = np.zeros(1 << self.bits, dtype=np.float32)
        ids = ngram_ids(surface(text, self.bot_names), self.bits)
        v[ids] = 1.0
        norm = float(np.sqrt(len(ids))) or 1.0
        return v / norm

    # ---- inference --------------------------------------------------------------------------

    def uses_embedding(self, model_id: str) -> bool:
        return self.full_weights is not None and model_id == self.embedding_model

    def scores(self, text: str, embedding: Vectors | None, model_id: str) -> ClassScores:
        rule = exact_rule(text, self.bot_names)
        if rule is not None:
            cls, why = rule
            return ClassScores({c: float(c is cls) for c in CLASSES}, why)
        ng = self.ngram_vector(text)
        if embedding is not None and self.uses_embedding(model_id):
            assert self.full_weights is not None and self.full_bias is not None
            x = np.concatenate([embedding.astype(np.float32).ravel(), ng])
            logits = self.full_weights @ x + self.full_bias
        else:
            logits = self.ngram_weights @ ng + self.ngram_bias
        p = _softmax(logits)
        return ClassScores({c: float(p[i]) for i, c in enumerate(CLASSES)})

    def shared_failure(self, text: str, embedding: Vectors | None, model_id: str) -> float | None:
        """The scope head's probability that what failed is shared (an outage), or None when
        there is no head for this embedding model."""
        if self.scope is None or embedding is None or not self.uses_embedding(model_id):
            return None
        x = np.concatenate([embedding.astype(np.float32).ravel(), self.ngram_vector(text)])
        z = float(self.scope.weights @ x) + self.scope.bias
        return float(1.0 / (1.0 + np.exp(-z)))

    # ---- persistence ------------------------------------------------------------------------

    def save(self, path: Path, meta: dict[str, object] | None = None) -> None:
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "ngram_weights": self.ngram_weights.astype(np.float16),
            "ngram_bias": self.ngram_bias.astype(np.float32),
            "classes": np.array([c.value for c in CLASSES]),
            "embedding_model": np.array(self.embedding_model),
            "meta": np.array(json.dumps(meta or {}, ensure_ascii=False)),
        }
        if self.full_weights is not None and self.full_bias is not None:
            arrays["full_weights"] = self.full_weights.astype(np.float16)
            arrays["full_bias"] = self.full_bias.astype(np.float32)
        if self.scope is not None:
            arrays["scope_weights"] = self.scope.weights.astype(np.float32)
            arrays["scope_bias"] = np.array(self.scope.bias, dtype=np.float64)
            arrays["scope_threshold"] = np.array(self.scope.threshold, dtype=np.float64)
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(
        cls, path: Path | None = None, bot_names: Sequence[str] = DEFAULT_BOT_NAMES
    ) -> MessageClassifier:
        """Load a classifier file; ``None`` is the one shipped with hisbot."""
        return load_model_file(
            path,
            "messages.npz",
            "message classifier",
            lambda arrays, source: cls._from_arrays(arrays, bot_names, source),
            ClassifierFileError,
        )

    @classmethod
    def _from_arrays(
        cls, z: dict[str, npt.NDArray[np.generic]], bot_names: Sequence[str], source: str
    ) -> MessageClassifier:
        classes = tuple(str(c) for c in z["classes"])
        if classes != tuple(c.value for c in CLASSES):
            raise ClassifierFileError(f"{source}: classes {classes} do not match this hisbot")
        full = z.get("full_weights")
        scope = None
        if "scope_weights" in z:
            weights = np.asarray(z["scope_weights"], dtype=np.float32)
            if full is None or weights.shape != (full.shape[1],):
                raise ClassifierFileError(f"{source}: scope head does not fit the full head")
            scope = ScopeHead(weights, float(z["scope_bias"]), float(z["scope_threshold"]))
        return cls(
            np.asarray(z["ngram_weights"], dtype=np.float32),
            np.asarray(z["ngram_bias"], dtype=np.float32),
            np.asarray(full, dtype=np.float32) if full is not None else None,
            np.asarray(z["full_bias"], dtype=np.float32) if full is not None else None,
            str(z["embedding_model"]),
            bot_names,
            scope,
        )


def _softmax(z: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    e = np.exp(z.astype(np.float64) - float(z.max()))
    out: npt.NDArray[np.float64] = e / e.sum()
    return out
