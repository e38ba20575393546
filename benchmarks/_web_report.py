"""The text report of ``benchmarks/web.py``: the data, the pages table, the playground round
trips and the bot process's memory and CPU, from the results ``drive`` returns."""

from __future__ import annotations

import math
from typing import Any

from _load_common import Json, fmt_ms
from _web_measure import PAGE_LABELS


def _ms(v: Any) -> str:
    return fmt_ms(math.nan if v is None else v)


def report(r: Json) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    d, s = r["data"], r["sizes"]
    rows = d["rows"]
    lines = [
        "# hisbot web console benchmark",
        f"CPUs {r['cpus']}; load average at start {r['loadavg_start']}, at end {r['loadavg_end']}",
        f"data: {rows['hospital']} hospitals, {rows['engineer']} engineers, "
        f"{rows['ticket']:,} tickets ({', '.join(f'{k} {v:,}' for k, v in sorted(d['statuses'].items()))}), "
        f"{rows['ticket_message']:,} messages, {rows['ticket_event']:,} events, "
        f"{rows['ticket_article']:,} articles tried, {rows['exchange']:,} exchanges; "
        f"tickets per year {d['tickets_per_year']}",
        f"database {d['db_mb']:.0f} MB, generated in {d['total_s']:.1f} s "
        f"({d['generate_s']:.1f} s building rows, {d['insert_s']:.1f} s inserting); "
        f"bot start {r['bot_start_s']:.1f} s (build_app with KB import and index build "
        f"{r.get('bot_build_app_s') or 0:.1f} s, 30-decision warm-up {r.get('bot_warm_up_s') or 0:.1f} s)",
        f"requested sizes: {s}",
        "",
        f"## Pages: {r['concurrency']} concurrent clients, up to {r['requests_per_page']} "
        f"requests or {r['page_seconds']:g} s per page",
        f"{'page':<34} {'1 client':>8} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
        f"{'req/s':>7} {'KB':>6} {'stall max':>9} {'stalled':>7}",
    ]
    for name, p in r["pages"].items():
        st = r["loop_stalls"].get(name, {})
        err = f"  errors {p['errors']}" if p["errors"] else ""
        lines.append(
            f"{PAGE_LABELS[name]:<34} {_ms(p['solo']['p50_ms']):>8} {p['n']:>5} "
            f"{_ms(p['p50_ms']):>7} {_ms(p['p95_ms']):>7} "
            f"{_ms(p['p99_ms']):>7} {_ms(p['max_ms']):>7} {p['req_per_s']:>7.1f} "
            f"{p['kb_per_response']:>6.0f} {_ms(st.get('max_ms')):>9} "
            f"{st.get('stalled_share', 0):>7.0%}{err}"
        )
    lines.append(
        "(ms; 1 client = p50 of up to 10 requests by one client alone (2 s at most); n, p50.. "
        "req/s = the concurrent run; KB = mean response size; stall max = the longest the bot's "
        "event loop was late running a 20 ms ticker during the concurrent run, stalled = share "
        "of its time the loop was late by > 5 ms)"
    )
    lines += [
        "",
        "## Playground round trip: POST a question → the bot's reply in the long poll (ms)",
        f"{'scenario':<34} {'n':>5} {'lost':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
        f"{'q/s':>6} {'stall max':>9}   by kind p50/p95",
    ]
    labels = {
        "sequential": ("one chat, one question at a time", "chat_sequential"),
        "concurrent": ("8 hospitals at once", "chat_concurrent"),
        "under_page_load": ("one chat, during page load", "chat_under_load"),
        "cross_worker": ("one chat, polled on worker B", "chat_cross_worker"),
    }
    for key, c in r["playground"].items():
        label, phase = labels[key]
        st = r["loop_stalls"].get(phase, {})
        kinds = ", ".join(
            f"{k} {_ms(v['p50_ms'])}/{_ms(v['p95_ms'])}" for k, v in c["by_kind"].items()
        )
        lines.append(
            f"{label:<34} {c['n']:>5} {c['lost']:>4} {_ms(c['p50_ms']):>7} "
            f"{_ms(c['p95_ms']):>7} {_ms(c['p99_ms']):>7} {_ms(c['max_ms']):>7} "
            f"{c['per_s']:>6.1f} {_ms(st.get('max_ms')):>9}   {kinds}; delivery "
            f"{_ms(c.get('delivery_p50_ms'))}/{_ms(c.get('delivery_p95_ms'))}"
        )
    for key, what in (
        ("pages_during_chat", f"interactive pages ({r['concurrency']} clients, in rotation)"),
        ("reports_during_chat", "year report + XLSX export (1 client)"),
    ):
        x = r.get(key)
        if x:
            lines.append(
                f"meanwhile, {what}: {x['n']} done, p50 {_ms(x['p50_ms'])} p95 "
                f"{_ms(x['p95_ms'])} max {_ms(x['max_ms'])} ms, {x['req_per_s']:.1f} req/s "
                f"(+{x['errors'].get('unfinished', 0)} abandoned when the chat was done)"
            )
    w = r["warm_decide_ms"]
    lines.append(
        f"(decide() alone, warm, before the runs: p50 {_ms(w['p50'])} p95 {_ms(w['p95'])} ms; "
        "ticket = out-of-KB and urgent questions, which open a ticket; delivery p50/p95 = the "
        "reply's time stamp, taken as the bot stores it, to the long poll's answer in the client; "
        "worker B = a second console with its own engine, gateway and board on the same database)"
    )

    def mb(x: Json) -> str:
        return (
            f"RSS {x.get('VmRSS', 0):.0f} MB (anon {x.get('RssAnon', 0):.0f}, "
            f"file {x.get('RssFile', 0):.0f})"
        )

    lines += [
        "",
        "## Bot process memory",
        f"ready (idle):           {mb(r['rss_ready'])}",
        f"after the page runs:    {mb(r['rss_after_pages'])}",
        f"at the end:             {mb(r['rss_end'])}, peak (VmHWM) "
        f"{r['rss_end'].get('VmHWM', 0):.0f} MB",
        f"CPU: bot {r['cpu_bot_s'] or 0:.0f} s over {r['wall_bot_s'] or 0:.0f} s; "
        f"driver (httpx clients + data generation) {r['cpu_driver_s']:.0f} s",
    ]
    return "\n".join(lines)
