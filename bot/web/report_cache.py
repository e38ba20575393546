"""Recently computed reports, so a page view, its CSV and its XLSX (or eight engineers opening
the annual review at once) cost one computation, not one each.

A whole year over all hospitals takes seconds of Python (``benchmarks/web.py``) and holds the
interpreter lock while it runs, slowing the chat on the same process; hence one computation
per report at a time (later callers wait for it and share it), at most ``parallel`` different
reports at once, and results kept for ``ttl`` seconds. A report says when it was computed, so
a cached one is never passed off as newer than it is.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class RecentResults(Generic[T]):
    def __init__(
        self,
        ttl: float = 60.0,
        size: int = 32,
        parallel: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._running = threading.BoundedSemaphore(parallel)
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def _fresh(self, key: Hashable) -> T | None:
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > self._ttl:
            return None
        return entry[1]

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The result for ``key``: a fresh cached one, or ``compute()`` (once per key at a
        time; callers asking meanwhile wait and get the same result)."""
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                return hit
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._fresh(key)
            if hit is not None:
                return hit
            with self._running:
                result = compute()
            with self._lock:
                self._entries[key] = (self._clock(), result)
                self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    old, _ = self._entries.popitem(last=False)
                    self._key_locks.pop(old, None)
        return result
