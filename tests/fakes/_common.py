"""Plumbing shared by the fake platforms (``telegram_api.FakeTelegram``, ``slack_api.FakeSlack``).

* :class:`FakeServer`: the aiohttp server on a free loopback port plus a client session, the
  change notification (``_bump``) and the event-driven waiting helpers (``wait_until`` and
  friends) that raise ``AssertionError`` with the fake's ``describe()`` on timeout.
* :class:`FaultBook`: the bookkeeping behind ``fail_next`` / ``fail_ratio`` (queued faults per
  key, and seeded, deterministic ratio faults).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")
X = TypeVar("X")


class _Call(Protocol):
    """What the waiting helpers need of a recorded API call."""

    @property
    def status(self) -> int | None: ...


CallT = TypeVar("CallT", bound=_Call)


class _Countdown(Protocol):
    remaining: int


F = TypeVar("F", bound=_Countdown)


@dataclass
class RatioFault(Generic[F]):
    """A fault answered to a seeded, deterministic fraction of the calls."""

    ratio: float
    rng: random.Random
    fault: F


class FaultBook(Generic[F]):
    """Faults queued per key (``fail_next``) and ratio faults per key (``fail_ratio``)."""

    def __init__(self) -> None:
        self.next: dict[str, deque[F]] = {}
        self.ratio: dict[str, RatioFault[F]] = {}

    def add_next(self, key: str, fault: F, times: int) -> None:
        """Answer the next ``times`` calls matching ``key`` with ``fault``."""
        fault.remaining = times
        self.next.setdefault(key, deque()).append(fault)

    def set_ratio(self, key: str, ratio: float, seed: int, fault: F) -> None:
        self.ratio[key] = RatioFault(ratio, random.Random(seed), fault)

    def disable_ratio(self, key: str) -> None:
        self.ratio.pop(key, None)

    def clear(self) -> None:
        self.next.clear()
        self.ratio.clear()

    def take(self, keys: Sequence[str]) -> F | None:
        """The fault for a call matching ``keys`` (in order): queued faults first."""
        for key in keys:
            queue = self.next.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                return fault
        for key in keys:
            rf = self.ratio.get(key)
            if rf is not None and rf.rng.random() < rf.ratio:
                return rf.fault
        return None


def bind_free_port(host: str) -> socket.socket:
    """A TCP socket bound to a free port of ``host`` (not listening yet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


class FakeServer(Generic[CallT]):
    """Base of the fakes: server lifecycle, change events and event-driven waiting.

    Subclasses set ``fake_name`` (used in timeout messages), record their API calls in
    ``requests`` and implement ``calls_to`` and ``describe``.
    """

    fake_name: ClassVar[str] = "Fake"
    requests: list[CallT]

    def __init__(self, host: str) -> None:
        self.host = host
        self.port: int | None = None
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ server

    async def _start_server(self, app: web.Application) -> None:
        """Serve ``app`` on a free port of ``host``; open the client session."""
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = bind_free_port(self.host)
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession()

    async def _stop_server(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ waiting

    def calls_to(self, method: str) -> list[CallT]:
        raise NotImplementedError

    def describe(self, last_calls: int = 15) -> str:
        raise NotImplementedError

    def _bump(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], T], *, timeout: float = 5.0, what: str = "condition"
    ) -> T:
        """Wait (event-driven) until ``predicate()`` is truthy and return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.fake_name}: timed out after {timeout}s waiting for {what}\n"
                    + self.describe()
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def _wait_for_items(
        self,
        items: Callable[[], list[X]],
        condition: int | Callable[[X], bool],
        *,
        timeout: float,
        noun: str,
        where: str = "",
    ) -> Any:
        """``condition`` an int N: until ``items()`` has at least N; returns the list. A
        predicate: until an item satisfies it; returns that item."""
        if isinstance(condition, int):
            count = condition
            return await self.wait_until(
                lambda: (lambda xs: xs if len(xs) >= count else None)(items()),
                timeout=timeout,
                what=f"{count} {noun}(s){where}",
            )
        pred = condition
        return await self.wait_until(
            lambda: next((x for x in items() if pred(x)), None),
            timeout=timeout,
            what=f"a {noun} matching {getattr(pred, '__name__', pred)}",
        )

    async def wait_for_call(
        self, method: str, count: int = 1, *, timeout: float = 5.0, answered: bool = True
    ) -> list[CallT]:
        """Wait until ``method`` was called ``count`` times (and answered, by default)."""

        def done() -> list[CallT] | None:
            calls = [c for c in self.calls_to(method) if not answered or c.status is not None]
            return calls if len(calls) >= count else None

        return await self.wait_until(done, timeout=timeout, what=f"{count} call(s) of {method}")
