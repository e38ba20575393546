"""The verification model: P(the top article answers *this* message) from its evidence.

Boosted shallow trees over the features of ``intents.confidence.features``. A weighted sum of
those features (the logistic model this replaced) keeps adding a similarity or a gap past the
point where it still means anything — a 现象 similarity of 0.93 is not much surer than 0.90,
and a wide gap in a two-article module is no evidence at all — so a new KB's near misses
cleared its threshold. Trees bend each feature's curve (and read pairs of features together).
Leave-one-KB-out over nine KBs (``hisbot kb eval --loko``): every KB's wrong answers ≤ 2.8 %
where the logistic model let one reach 4.5 %, and more questions answered directly (pooled
0.737 against 0.724). docs/evaluation.md, the fifth round.

Training uses scikit-learn's exact gradient boosting (``hisbot kb calibrate`` only); serving
walks the exported trees with NumPy, so the hot path imports nothing heavy and the file is a
plain ``.npz`` of arrays (no pickle).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intents.confidence import FEATURES
from intents.model_files import load_model_file

#: The shipped settings of the trees (measured, docs/evaluation.md, fifth round): more,
#: deeper or smaller-leaved trees fit the training KBs' styles and lose on the held-out KB.
TREES = 300
DEPTH = 2
LEARNING_RATE = 0.05
MIN_LEAF = 60


class VerifierFileError(ValueError):
    """A verification-model file that cannot be used; the message says why."""


class TooFewLabels(ValueError):
    """The labelled questions cannot train a verification model (the message says why)."""


@dataclass(frozen=True, eq=False)
class Verifier:
    """Exported boosted trees. Arrays are (trees, nodes); a node with ``feature`` -1 is a leaf.

    ``value`` already includes the learning rate, so the raw score is ``base`` plus the sum
    of one leaf value per tree, and the probability its logistic.
    """

    base: float
    feature: npt.NDArray[np.int16]
    threshold: npt.NDArray[np.float64]
    left: npt.NDArray[np.int16]
    right: npt.NDArray[np.int16]
    value: npt.NDArray[np.float64]
    depth: int
    meta: Mapping[str, Any] = field(default_factory=dict)

    def probabilities(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        """P(right article) for each row of features (one row per candidate article)."""
        if not rows:
            return []
        x = np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)
        # the trees were grown on float32 features: compare what they compared
        x = x.astype(np.float32).astype(np.float64)
        trees = np.arange(self.feature.shape[0])[None, :]
        samples = np.arange(len(rows))[:, None]
        node = np.zeros((len(rows), self.feature.shape[0]), dtype=np.int64)
        for _ in range(self.depth):
            feat = self.feature[trees, node]
            go_left = x[samples, np.maximum(feat, 0)] <= self.threshold[trees, node]
            step = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(feat < 0, node, step)
        raw = self.base + self.value[trees, node].sum(axis=1)
        return [1.0 / (1.0 + math.exp(-max(min(float(z), 50.0), -50.0))) for z in raw]

    # ---- persistence ------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the model; atomically, since a running bot may be configured with ``path``."""
        part = path.with_name(path.name + ".part")
        with part.open("wb") as fh:
            np.savez_compressed(
                fh,
                features=np.array(FEATURES),
                base=np.array(self.base),
                feature=self.feature,
                threshold=self.threshold,
                left=self.left,
                right=self.right,
                value=self.value,
                depth=np.array(self.depth),
                meta=np.array(json.dumps(dict(self.meta), ensure_ascii=False)),
            )
        os.replace(part, path)

    @classmethod
    def load(cls, path: Path | None = None) -> Verifier:
        """Load a verification-model file; ``None`` is the one shipped with hisbot."""
        return load_model_file(
            path, "verifier.npz", "verification model", cls._from_arrays, VerifierFileError
        )

    @classmethod
    def _from_arrays(cls, z: dict[str, npt.NDArray[Any]], source: str) -> Verifier:
        names = tuple(str(n) for n in z["features"])
        if names != FEATURES:
            raise VerifierFileError(
                f"{source} was fitted on other features ({', '.join(names)}); "
                "fit it again with `hisbot kb calibrate … --out FILE`"
            )
        shape = z["feature"].shape
        if len(shape) != 2 or any(
            z[k].shape != shape for k in ("threshold", "left", "right", "value")
        ):
            raise VerifierFileError(f"{source}: the tree arrays do not have one shape")
        width = shape[1]
        if not (
            all(((z[k] >= 0) & (z[k] < width)).all() for k in ("left", "right"))
            and ((z["feature"] >= -1) & (z["feature"] < len(FEATURES))).all()
            and 1 <= int(z["depth"]) <= width
        ):
            raise VerifierFileError(f"{source}: a tree points outside itself (a damaged file)")
        if "query_map" in z:
            # `kb calibrate --query-map` (2026-12-06, removed the day after): its trees read
            # features taken through a map this engine no longer applies
            raise VerifierFileError(
                f"{source} was fitted with a query map, which hisbot no longer applies; fit it "
                "again without one (`hisbot kb calibrate … --out FILE`)"
            )
        return cls(
            base=float(z["base"]),
            feature=z["feature"].astype(np.int16),
            threshold=z["threshold"].astype(np.float64),
            left=z["left"].astype(np.int16),
            right=z["right"].astype(np.int16),
            value=z["value"].astype(np.float64),
            depth=int(z["depth"]),
            meta=json.loads(str(z["meta"])),
        )


def fit_verifier(
    samples: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    meta: Mapping[str, Any] | None = None,
) -> Verifier:
    """Grow the trees on labelled samples (the top article's features; was it right?).

    Deterministic (no subsampling, fixed seed). The exported trees are checked against
    scikit-learn's own scores on the training samples, so a change in its internals cannot
    silently ship a different model.
    """
    from sklearn import config_context
    from sklearn.ensemble import GradientBoostingClassifier

    y = np.asarray(labels, dtype=np.int64)
    if len(set(y.tolist())) < 2:
        raise TooFewLabels(
            "the verification model needs both right and wrong top articles among the "
            "labelled questions (add out-of-KB questions, or questions the KB answers)"
        )
    x = np.array([[s[name] for name in FEATURES] for s in samples], dtype=np.float64)
    model = GradientBoostingClassifier(
        n_estimators=TREES,
        max_depth=DEPTH,
        learning_rate=LEARNING_RATE,
        # a site's few dozen labelled questions could not split at all with 60 per leaf
        min_samples_leaf=min(MIN_LEAF, max(1, len(y) // 20)),
        random_state=0,
    )
    if not np.isfinite(x).all():
        raise ValueError("the verification features must be finite numbers")
    # the same trees, faster: scikit-learn re-validates the parameters and the inputs of each
    # of the 300 stages (and of each stage's tree), checked once above instead
    with config_context(skip_parameter_validation=True, assume_finite=True):
        model.fit(x, y)
    trees = [est[0].tree_ for est in model.estimators_]
    width = max(t.node_count for t in trees)

    def padded(rows: Sequence[npt.NDArray[Any]], fill: float, dtype: Any) -> npt.NDArray[Any]:
        """One row per tree, padded to the widest tree's node count."""
        out = np.full((len(rows), width), fill, dtype=dtype)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    feature = padded([t.feature for t in trees], -1, np.int16)
    feature[feature < 0] = -1  # scikit-learn marks leaves with -2
    # a leaf's children are -1: 0 keeps the walk inside the array (a leaf never moves)
    left = padded([t.children_left for t in trees], 0, np.int16).clip(min=0)
    right = padded([t.children_right for t in trees], 0, np.int16).clip(min=0)
    prior = float(y.mean())
    verifier = Verifier(
        base=math.log(prior / (1.0 - prior)),
        feature=feature,
        threshold=padded([t.threshold for t in trees], 0.0, np.float64),
        left=left,
        right=right,
        value=padded([t.value[:, 0, 0] for t in trees], 0.0, np.float64) * LEARNING_RATE,
        depth=DEPTH,
        meta=dict(meta or {}, samples=len(y), trees=TREES, depth=DEPTH),
    )
    ours = np.array(verifier.probabilities(samples))
    theirs = model.predict_proba(x)[:, 1]
    if not np.allclose(ours, theirs, atol=1e-6):
        raise RuntimeError(
            "the exported trees do not reproduce scikit-learn's scores "
            f"(largest difference {float(np.abs(ours - theirs).max()):.2e})"
        )
    return verifier
