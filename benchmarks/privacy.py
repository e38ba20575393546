"""What the redaction gate costs: a chat message of ordinary size, a huge paste (cut at the
edge), and the redaction of a long KB article. Prints figures; asserts nothing.

    python benchmarks/privacy.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.base import ChatRef, IncomingMessage, Sender
from bot.privacy.gate import RedactionGate, clean

SENTENCE = "医保结算报2304，患者张三电话138 1234 5678，住院号：ZY20230016，总额和明细对不上。"


def timed(fn: object, runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    gate = RedactionGate(max_text=2000)

    def message(chars: int) -> IncomingMessage:
        text = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
        return IncomingMessage(
            ChatRef("web", "h001"),
            "1",
            Sender("u", "家属13812345678"),
            text,
            dt.datetime.now(dt.UTC),
        )

    for chars, runs in ((60, 500), (2_000, 200), (100_000, 50)):
        msg = message(chars)
        p50, p95 = timed(lambda m=msg: gate.incoming(m), runs)
        print(f"gate, chat message of {chars:>7,} chars: p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
    article = SENTENCE * (50_000 // len(SENTENCE))
    p50, p95 = timed(lambda: clean(article), 10)
    print(f"clean, KB article of {len(article):,} chars: p50 {p50:.1f} ms  p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
