"""Console passwords: what is acceptable, and where the (deliberately slow) hashing runs.

The policy rejects passwords shorter than ``MIN_PASSWORD_LENGTH``, made of a few characters
repeated, and those that are guessable: zxcvbn (Dropbox's estimator, maintained on PyPI as
``zxcvbn``) matches them against its bundled lists — 30,000 passwords from public leaks,
common words and names, keyboard walks, dates, sequences, l33t variants — and the engineer's
own id and name. A password it scores below 3 ("safely unguessable" against a slow-hash
offline attack) is refused. A bundled list alone would miss ``Password2024!`` and ``qwertyuiop12``.

Verifying and hashing run in ``HashingPool``, a small thread pool of their own with a bounded
queue: argon2 costs ~0.2 s of CPU each, and in the default pool a flood of bad logins queued
in front of the answer engine's work (40 at once made chat replies take 20 s).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from zxcvbn import zxcvbn  # type: ignore[import-untyped]

T = TypeVar("T")

#: A password shorter than this is refused (the console is reachable from hospital networks).
MIN_PASSWORD_LENGTH = 10
#: At least this many different characters ("aaaaaaaaaa", "abababab12" are refused).
MIN_DISTINCT = 5
#: zxcvbn's score (0–4) a password must reach.
MIN_SCORE = 3
#: zxcvbn's cost grows with length; what follows the first 100 characters adds strength anyway.
_SCORED_CHARS = 100


def password_problem(password: str, user_inputs: Iterable[str] = ()) -> str:
    """Why ``password`` is refused, in the console's language; "" when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码太短：至少 {MIN_PASSWORD_LENGTH} 个字符。"
    if len(set(password)) < MIN_DISTINCT:
        return f"密码字符太单一：至少包含 {MIN_DISTINCT} 个不同的字符。"
    inputs = [s for s in user_inputs if s]
    if zxcvbn(password[:_SCORED_CHARS], user_inputs=inputs)["score"] < MIN_SCORE:
        return "密码太常见或容易猜到（常用密码、单词、键盘序列、日期或您的用户名），请换一个。"
    return ""


class HashingBusy(Exception):
    """More password checks are waiting than the pool accepts: try again shortly."""


class HashingPool:
    """A dedicated executor for argon2: ``workers`` threads, at most ``max_waiting`` jobs
    queued behind them; beyond that ``run`` raises ``HashingBusy`` at once instead of
    queueing without bound."""

    def __init__(self, workers: int = 1, max_waiting: int = 16) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._capacity = workers + max_waiting
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, work: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._pending >= self._capacity:
                raise HashingBusy()
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work, *args)
        finally:
            with self._lock:
                self._pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
