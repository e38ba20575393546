"""Load test of the bot over WeCom: message → reply latency across many tenants, and a
2,000-group broadcast against the limits' floor.

1. **Replies.** ``hisbot run`` (a child process: ``python -m bot --config … run``) connects one
   long connection per tenant to the fake WeCom server of ``tests/fakes/wecom_api.py`` in this
   process (``--tenants`` hospitals, each its own tenant, bot and group). Questions of the
   sample set that get exactly one reply (faq, pii, out-of-kb) are @-mentioned into the groups
   at ``--rate`` per second for ``--seconds``, round-robin over the tenants, each by its own
   user. Latency = from the callback frame leaving the fake to the fake receiving the
   ``aibot_respond_msg`` bound to its req_id. Lost = questions without a reply; duplicated =
   more than one message quoting the same asker.
2. **Edge only.** The same traffic against the ``WeComAdapter`` alone with a core that answers
   at once (no answer engine, no database): what the WeCom edge itself costs per message.
3. **Broadcast.** The ``WeComAdapter`` alone (default limits: 20/min per chat with a burst of 3,
   600/min per bot with a burst of 20) sends one notice to ``--groups`` groups spread over the
   tenants, all at once, to a fake that refuses (errcode 45009) anything beyond 20/min per chat
   and 600/min per bot. Floor = the least time those limits allow: the busiest bot's
   ``(groups − burst) / rate``. Lost / duplicated are counted per group.

Prints figures; asserts nothing.

    .venv/bin/python benchmarks/wecom_load.py            # 50 tenants, 20 q/s for 30 s, 2,000 groups
    .venv/bin/python benchmarks/wecom_load.py --quick    # 10 tenants, 10 q/s for 5 s, 400 groups
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load_common import KB_DIR, QUERIES, config_base, fmt_ms, latency_stats, log  # noqa: E402

from adapters.base import ChatRef, CoreHandlers, IncomingMessage, Reply  # noqa: E402
from adapters.wecom.adapter import WeComAdapter  # noqa: E402
from adapters.wecom.settings import TenantCredentials, WeComSettings  # noqa: E402
from tests.fakes.wecom_api import FakeWeCom  # noqa: E402

REPLY_KINDS = ("faq", "pii", "out-of-kb")


def tenant(i: int) -> str:
    return f"h{i:03d}"


def questions() -> list[str]:
    out = []
    for line in QUERIES.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["kind"] in REPLY_KINDS:
            out.append(item["query"])
    return out


def write_config(tmp: Path, ws_url: str, tenants: int) -> tuple[Path, dict[str, str]]:
    lines = [*config_base(tmp), "[web]", "enabled = false", "[wecom]", f'ws_url = "{ws_url}"']
    env: dict[str, str] = {}
    for i in range(tenants):
        name = tenant(i)
        lines += [
            "[[wecom.tenants]]",
            f'name = "{name}"',
            f'bot_id_env = "HISBOT_WC_{name.upper()}_BOT"',
            f'secret_env = "HISBOT_WC_{name.upper()}_SECRET"',
        ]
        env[f"HISBOT_WC_{name.upper()}_BOT"] = f"BOT{name}"
        env[f"HISBOT_WC_{name.upper()}_SECRET"] = f"secret-{name}"
    for i in range(tenants):
        name = tenant(i)
        lines += [
            "[[hospitals]]",
            f'id = "{name}"',
            f'name = "医院{i}"',
            f'wecom_groups = ["{name}/grp-{name}"]',
        ]
    path = tmp / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, env


async def ask(wc: FakeWeCom, args: argparse.Namespace, wait: float) -> dict[str, float]:
    """@-mention the questions into the groups at ``args.rate``, round-robin over the tenants,
    each by its own user; then wait up to ``wait`` s for their replies. Returns when each
    question's frame left the fake, by req_id."""
    texts = questions()
    loop = asyncio.get_running_loop()
    sent_at: dict[str, float] = {}
    total = int(args.rate * args.seconds)
    t0 = loop.time()
    for n in range(total):
        await asyncio.sleep(max(0.0, t0 + n / args.rate - loop.time()))
        i = n % args.tenants
        frame = await wc.user_message(
            f"BOT{tenant(i)}", f"u{n}", texts[n % len(texts)], chatid=f"grp-{tenant(i)}"
        )
        sent_at[frame["headers"]["req_id"]] = loop.time()
    with contextlib.suppress(AssertionError):  # the report counts what is missing
        await wc.wait_until(
            lambda: sum(1 for m in wc.sent if m.req_id in sent_at) >= total,
            timeout=wait,
            what="replies",
        )
    return sent_at


def reply_ms(wc: FakeWeCom, sent_at: dict[str, float]) -> list[float]:
    return [(m.at - sent_at[m.req_id]) * 1000 for m in wc.sent if m.req_id in sent_at]


def fake_bots(wc: FakeWeCom, tenants: int) -> list[TenantCredentials]:
    creds = [
        TenantCredentials(tenant(i), f"BOT{tenant(i)}", f"secret-{tenant(i)}")
        for i in range(tenants)
    ]
    for c in creds:
        wc.add_bot(c.bot_id, c.secret)
    return creds


async def replies(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wecom-load-") as folder:
        tmp = Path(folder)
        async with FakeWeCom() as wc:
            fake_bots(wc, args.tenants)
            config, env = write_config(tmp, wc.ws_url, args.tenants)
            child = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(config), "run"],
                cwd=ROOT,
                env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "bot.log", "w"),  # noqa: SIM115
            )
            try:
                started = time.monotonic()
                await wc.wait_until(
                    lambda: all(b.ws is not None for b in wc.bots.values()),
                    timeout=300,
                    what="every tenant connected",
                )
                log(
                    f"bot up, {args.tenants} tenants connected in {time.monotonic() - started:.1f} s"
                )
                sent_at = await ask(wc, args, wait=60)
            finally:
                child.terminate()
                child.wait(timeout=60)
            total = len(sent_at)
            latencies = reply_ms(wc, sent_at)
            quoted = Counter(
                m.content.split("：", 1)[0] for m in wc.sent if m.content.startswith("> <@u")
            )
            p50, p95, p99, worst = latency_stats(latencies)
            print(
                f"replies: {len(latencies)}/{total} questions answered, "
                f"{total - len(latencies)} lost, "
                f"{sum(c - 1 for c in quoted.values() if c > 1)} duplicated, "
                f"{sum(1 for m in wc.sent if m.via == 'send')} proactive fallbacks"
            )
            print(
                f"message→reply ms: p50 {fmt_ms(p50)}, p95 {fmt_ms(p95)}, p99 {fmt_ms(p99)}, "
                f"max {fmt_ms(worst)}  ({args.rate:g} q/s over {args.tenants} tenants, "
                f"{args.seconds:g} s; target p95 ≤ 150 ms)"
            )


async def edge(args: argparse.Namespace) -> None:
    async with FakeWeCom() as wc:
        adapter = WeComAdapter(WeComSettings(ws_url=wc.ws_url), fake_bots(wc, args.tenants))

        async def answer(message: IncomingMessage) -> None:
            await adapter.send(
                Reply(message.chat, "收到：" + message.text, reply_to=message.message_id)
            )

        async def nothing(_: object) -> None:
            pass

        await adapter.start(CoreHandlers(answer, nothing, nothing))
        sent_at = await ask(wc, args, wait=30)
        await adapter.stop()
        latencies = reply_ms(wc, sent_at)
        p50, p95, p99, worst = latency_stats(latencies)
        print(
            f"edge only: {len(latencies)}/{len(sent_at)} answered; frame→respond ms p50 "
            f"{fmt_ms(p50)}, p95 {fmt_ms(p95)}, p99 {fmt_ms(p99)}, max {fmt_ms(worst)}"
        )


async def broadcast(args: argparse.Namespace) -> None:
    async with FakeWeCom(chat_per_minute=20, bot_per_minute=600) as wc:
        creds = fake_bots(wc, args.tenants)
        settings = WeComSettings(ws_url=wc.ws_url)
        adapter = WeComAdapter(settings, creds)

        async def nothing(_: object) -> None:
            pass

        await adapter.start(CoreHandlers(nothing, nothing, nothing))
        groups = [(tenant(g % args.tenants), f"bc-{g}") for g in range(args.groups)]
        per_bot = Counter(t for t, _ in groups)
        floor = max(
            max(0, n - settings.bot_burst) * 60 / settings.bot_per_minute for n in per_bot.values()
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(
            *(
                adapter.send(
                    Reply(ChatRef("wecom", f"{t}/{g}"), "【通知】本周五 22:00–23:00 HIS 升级")
                )
                for t, g in groups
            ),
            return_exceptions=True,
        )
        took = loop.time() - started
        await adapter.stop()
        failed = sum(1 for r in results if isinstance(r, BaseException))
        counts = Counter(m.chatid for m in wc.sent)
        lost = sum(1 for _, g in groups if counts[g] == 0)
        dup = sum(c - 1 for c in counts.values() if c > 1)
        print(
            f"broadcast: {len(groups)} groups over {args.tenants} tenants in {took:.2f} s; "
            f"floor {floor:.2f} s (+{(took / floor - 1) * 100 if floor else 0:.1f} %); "
            f"{lost} lost, {dup} duplicated, {failed} send errors, "
            f"{wc.rate_limited} refused by the server's limits"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="10 tenants, 10 q/s, 5 s, 400 groups")
    parser.add_argument("--only", choices=("replies", "edge", "broadcast"))
    args = parser.parse_args(argv)
    if args.quick:
        args.tenants, args.rate, args.seconds, args.groups = 10, 10.0, 5.0, 400
    assert KB_DIR.is_dir()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, part in (("replies", replies), ("edge", edge), ("broadcast", broadcast)):
        if args.only in (None, name):
            asyncio.run(part(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
