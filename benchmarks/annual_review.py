"""How long the annual service review workbook takes (``/reports/annual.xlsx``), over a year of
tickets with remote grants, visits and upgrades in a temporary SQLite database.

    .venv/bin/python benchmarks/annual_review.py [--tickets 3000] [--runs 3]

Prints the data, then the time to compute the sections and to write the XLSX (best and
median of the runs) and the workbook's size. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.infra.config import Settings
from bot.infra.db import make_engine
from bot.registry import RegistryStore
from bot.tickets import TicketStore
from bot.web.annual import annual_sections
from bot.web.report_pages import to_xlsx
from bot.wiring.operations import sla_clocks
from bot.workflows import ServiceWorkflows
from bot.workflows.models import STAGE_ORDER
from kb_index.articles import CATEGORIES

ZONE = ZoneInfo("Asia/Shanghai")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tickets", type=int, default=3000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = make_engine(f"sqlite:///{tmp}/bench.db")
        now = dt.datetime(2026, 1, 1, 1, 0)
        clock = lambda: now  # noqa: E731
        registry = RegistryStore(db, clock)
        for e in range(10):
            registry.add_engineer(f"e{e:02d}", f"工程师{e}")
        for h in range(40):
            registry.add_hospital(f"h{h:03d}", f"医院{h}", dedicated_engineer_id=f"e{h % 10:02d}")
            registry.set_admin(f"h{h:03d}", "telegram", str(7000 + h))
        tickets = TicketStore(db, clock)
        flows = ServiceWorkflows.over(db, ZONE, clock)
        started = time.perf_counter()
        for i in range(args.tickets):
            now = dt.datetime(2026, 1, 1, 1, 0) + dt.timedelta(minutes=i * 170)
            hospital = f"h{i % 40:03d}"
            t = tickets.open_ticket(
                hospital_id=hospital, reporter_platform="telegram", reporter_user_id="1",
                reporter_name="科室", source_platform="telegram", source_chat_id="-1",
                source_message_id=str(i), question=f"问题 {i}", category=CATEGORIES[i % 11],
            )  # fmt: skip
            tickets.claim(t.number, f"e{i % 10:02d}")
            if i % 6 == 0:
                g = flows.remote.request(t.number, f"e{i % 10:02d}", "向日葵", "查看日志", 30)
                flows.remote.decide(
                    g.id or 0, hospital, "telegram", str(7000 + i % 40), "主任", True
                )
            if i % 20 == 0:
                flows.visits.plan(t.number, f"e{i % 10:02d}", now, f"e{i % 10:02d}")
            if i % 3:
                tickets.resolve(t.number, f"e{i % 10:02d}", "已处理")
        for h in range(40):
            u = flows.upgrades.start(f"h{h:03d}", "HIS", "5.3", "e00")
            for stage in STAGE_ORDER[: 1 + h % 4]:
                flows.upgrades.record(u.id or 0, stage, "e00", dt.date(2026, 6, 1))
        built = time.perf_counter() - started
        compute, write, size = [], [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            parts = annual_sections(
                db, hospital_id=None, year=2026, zone=ZONE, sla=sla_clocks(Settings(), db),
                top_n=20, now=now,
            )  # fmt: skip
            t1 = time.perf_counter()
            body = to_xlsx(parts)
            compute.append(t1 - t0)
            write.append(time.perf_counter() - t1)
            size = len(body)
        rows = {part.title: len(part.rows) for part in parts}
        print("# annual service review benchmark")
        print(f"data: {args.tickets} tickets, 40 hospitals, built in {built:.1f} s; rows {rows}")
        print(f"sections: best {min(compute):.2f} s, median {statistics.median(compute):.2f} s")
        print(f"xlsx:     best {min(write):.2f} s, median {statistics.median(write):.2f} s")
        print(f"workbook: {size / 1024:.0f} KB, {len(parts)} sheets")


if __name__ == "__main__":
    main()
