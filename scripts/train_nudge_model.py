"""Train the learned nudge model (``bot/conversation/nudge_model.py``) and choose its threshold.

Training data: the blind follow-up sets (``--followups``: folders with a ``messages.jsonl`` of
me_too / nudge / close / plain lines; close and plain are "other") and, as "other", every even
line of the labelled group messages given with ``--other`` (read in the order given; the odd
lines are held back to count how many questions, outages and notices the model would take for a
nudge). The threshold is the lowest nudge probability (0.30, 0.35 … 0.95) at which the rules
OR the model take at most 3 % of the close lines for nudges, over 5 folds of the follow-up sets.
The shipped model (eval/prereg/2026-12-07-twelfth-session.txt, study 6):

    .venv/bin/python scripts/kb_sets_as_messages.py --out /tmp/kbsets.jsonl
    PYTHONPATH=. .venv/bin/python scripts/train_nudge_model.py \\
        --followups eval/heldout-followups eval/heldout-followups-2 eval/heldout-followups-3 \\
                    eval/heldout-followups-4 \\
        --other eval/messages/*.jsonl eval/heldout-messages-*/messages.jsonl /tmp/kbsets.jsonl \\
        --out bot/conversation/nudges.npz
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from bot.conversation.nudge_model import CLASSES, NudgeModel
from bot.conversation.phrases import is_nudge
from intents.classifier_training import fit_softmax, ngram_matrix
from intents.classify import HASH_BITS

L2 = 0.3
FOLDS = 5
MAX_CLOSE_TAKEN = 0.03


def read(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def label(row: dict[str, str]) -> int:
    return CLASSES.index(row["label"]) if row["label"] in ("me_too", "nudge") else 2


def fit(texts: list[str], y: list[int]) -> NudgeModel:
    w, b = fit_softmax(ngram_matrix(texts), np.array(y, dtype=np.int64), L2, classes=3)
    return NudgeModel(w.astype(np.float32), b.astype(np.float32), 1.0, HASH_BITS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followups", type=Path, nargs="+", required=True)
    parser.add_argument("--other", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sets = [row for folder in args.followups for row in read(folder / "messages.jsonl")]
    pool = [row for path in args.other for row in read(path)]
    kept, held = pool[0::2], pool[1::2]
    other = [row["text"] for row in kept]

    folds = np.random.default_rng(0).integers(0, FOLDS, len(sets))
    nudge_p = np.zeros(len(sets))
    for k in range(FOLDS):
        train = [r for r, f in zip(sets, folds, strict=True) if f != k]
        model = fit(
            [r["text"] for r in train] + other, [label(r) for r in train] + [2] * len(other)
        )
        for i in np.flatnonzero(folds == k):
            nudge_p[i] = model.probabilities(sets[i]["text"])[1]
    close = [i for i, r in enumerate(sets) if r["label"] == "close"]
    threshold = 0.95
    for t in np.arange(0.30, 0.951, 0.05):
        taken = sum(1 for i in close if nudge_p[i] >= t or is_nudge(sets[i]["text"]))
        if taken <= MAX_CLOSE_TAKEN * len(close):
            threshold = round(float(t), 2)
            break

    model = fit([r["text"] for r in sets] + other, [label(r) for r in sets] + [2] * len(other))
    model = NudgeModel(model.weights, model.bias, threshold, model.bits)
    model.save(args.out)
    taken_held = collections.Counter(r["label"] for r in held if model.says_nudge(r["text"]))
    print(
        f"{args.out}: threshold {threshold}; trained on {len(sets)} follow-up lines and "
        f"{len(other)} others; of the {len(held)} held back, taken for nudges: {dict(taken_held)}"
    )


if __name__ == "__main__":
    main()
