"""RecentResults: one computation per report while it is fresh, shared by concurrent callers."""

from __future__ import annotations

import threading
import time

import pytest

from bot.web.report_cache import RecentResults


def test_fresh_results_are_reused_and_stale_ones_recomputed() -> None:
    now = [0.0]
    cache: RecentResults[str] = RecentResults(ttl=60.0, size=2, clock=lambda: now[0])
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return f"{key}@{now[0]}"

    assert cache.get("2026", lambda: compute("2026")) == "2026@0.0"
    now[0] = 59.0
    assert cache.get("2026", lambda: compute("2026")) == "2026@0.0"
    now[0] = 61.0
    assert cache.get("2026", lambda: compute("2026")) == "2026@61.0"
    assert calls == ["2026", "2026"]
    cache.get("a", lambda: compute("a"))
    cache.get("b", lambda: compute("b"))  # the oldest ("2026") is evicted: size 2
    cache.get("2026", lambda: compute("2026"))
    assert calls == ["2026", "2026", "a", "b", "2026"]


def test_concurrent_callers_share_one_computation() -> None:
    cache: RecentResults[int] = RecentResults(ttl=60.0)
    started = threading.Event()
    computations = []

    def slow() -> int:
        computations.append(1)
        started.set()
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("y", slow))) for _ in range(5)
    ]
    threads[0].start()
    started.wait(5)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [42] * 5 and len(computations) == 1


def test_a_failed_computation_is_not_cached() -> None:
    cache: RecentResults[int] = RecentResults()
    attempts = []

    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database went away")
        return 7

    with pytest.raises(RuntimeError):
        cache.get("k", flaky)
    assert cache.get("k", flaky) == 7 and len(attempts) == 2
