"""A small bounded cache with expiry: the inbound side's memory of redeliveries it saw, of
users' display names and of slash commands' response URLs."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A bounded mapping whose entries expire ``ttl`` seconds after they were last put."""

    def __init__(self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def _expire(self, now: float) -> None:
        while self._data:
            key, (expires, _) = next(iter(self._data.items()))
            if expires > now and len(self._data) <= self._size:
                break
            del self._data[key]

    def get(self, key: K) -> V | None:
        now = self._clock()
        item = self._data.get(key)
        if item is None or item[0] <= now:
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        now = self._clock()
        self._data.pop(key, None)
        self._data[key] = (now + self._ttl, value)
        self._expire(now)

    def add(self, key: K, value: V) -> bool:
        """Put ``key`` unless present; True if it was new."""
        if self.get(key) is not None:
            return False
        self.put(key, value)
        return True

    def discard(self, key: K) -> None:
        self._data.pop(key, None)
