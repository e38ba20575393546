"""What a WeCom send costs on a worker without the WeCom connection (several workers on
PostgreSQL): the send goes through the ``relayed_send`` table to the holder of
``receive:wecom``, which sends it over its connection (``bot/cluster/relay.py``).

Two "workers" in this process, each with its own engine and database gateway on one
PostgreSQL schema: A holds the connections (a ``WeComAdapter`` receiving, and the relay server)
and B has none (its adapter's sends go through ``CoreHandlers.send_elsewhere``). ``--sends``
replies to groups spread over ``--tenants`` tenants are sent ``--concurrency`` at a time, first
by A directly, then by B through the relay, against the fake WeCom server on 127.0.0.1 with the
client-side limits raised out of the way (this measures the relay, not the pacing). Prints
latency per send (p50/p95/max), throughput, and lost/duplicated at the fake.

    HISBOT_TEST_PG_URL=$(bash scripts/postgres.sh) .venv/bin/python benchmarks/wecom_relay.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load_common import p50_p95_max, pg_schema  # noqa: E402

from adapters.base import ChatRef, CoreHandlers, Reply  # noqa: E402
from adapters.wecom.adapter import WeComAdapter  # noqa: E402
from adapters.wecom.settings import TenantCredentials, WeComSettings  # noqa: E402
from bot.cluster.relay import RelayStore, SendRelay  # noqa: E402
from bot.infra.clock import utc_now  # noqa: E402
from bot.infra.db import make_engine  # noqa: E402
from bot.infra.gateway import Database  # noqa: E402
from tests.fakes.wecom_api import FakeWeCom  # noqa: E402


async def nothing(_: object) -> None:
    return None


async def sends(adapter: WeComAdapter, replies: list[Reply], concurrency: int) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    took: list[float] = []

    async def one(reply: Reply) -> None:
        async with gate:
            start = time.perf_counter()
            await adapter.send(reply)
            took.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(one(r) for r in replies))
    return took


async def run(url: str, tenants: int, count: int, concurrency: int) -> None:
    async with FakeWeCom() as wc:
        creds = [TenantCredentials(f"h{i:03d}", f"B{i}", f"s{i}") for i in range(tenants)]
        for c in creds:
            wc.add_bot(c.bot_id, c.secret)
        settings = WeComSettings(ws_url=wc.ws_url, chat_per_minute=60_000, bot_per_minute=600_000)
        engines = [make_engine(url), make_engine(url)]
        dbs = [Database(e) for e in engines]
        relays = [SendRelay(db, RelayStore(e, utc_now)) for db, e in zip(dbs, engines, strict=True)]
        holder = WeComAdapter(settings, creds)
        other = WeComAdapter(settings, creds, receive_on_start=False)
        await holder.start(CoreHandlers(nothing, nothing, nothing))
        await other.start(CoreHandlers(nothing, nothing, nothing, relays[1].send))
        server = relays[0].serve(holder, "holder")
        server.start()
        try:
            for who, adapter in (
                ("A, holding the connections", holder),
                ("B, through the relay", other),
            ):
                replies = [
                    Reply(
                        ChatRef("wecom", f"h{i % tenants:03d}/g{i % (tenants * 20)}"), f"{who} {i}"
                    )
                    for i in range(count)
                ]
                before = len(wc.sent)
                start = time.perf_counter()
                took = await sends(adapter, replies, concurrency)
                wall = time.perf_counter() - start
                shown = Counter(m.content for m in wc.sent[before:])
                lost = sum(1 for r in replies if r.text not in shown)
                twice = sum(1 for n in shown.values() if n > 1)
                print(
                    f"{who}: {count} sends, {concurrency} at a time: per send ms "
                    f"{p50_p95_max(took)}; {count / wall:,.0f} sends/s; "
                    f"lost {lost}, duplicated {twice}",
                    flush=True,
                )
        finally:
            await server.stop()
            await other.stop()
            await holder.stop()
            for db in dbs:
                await asyncio.to_thread(db.close)
            for engine in engines:
                engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=os.environ.get("HISBOT_TEST_PG_URL"))
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if not args.pg_url:
        sys.exit("needs PostgreSQL: --pg-url or HISBOT_TEST_PG_URL (bash scripts/postgres.sh)")
    with pg_schema(args.pg_url, "relay_bench") as url:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        asyncio.run(run(url, args.tenants, args.sends, args.concurrency))


if __name__ == "__main__":
    main()
