"""Telegram's flood limits applied before each request: per chat, and overall with priority.

Why not PTB's ``AIORateLimiter``: a 429 there pauses *every* request of the bot for
``retry_after`` (one hospital group over its limit stalled the engineers' pages and every other
chat — 51 pauses, 56 s in all in one load run); private chats have no limit of their own
(Telegram takes about one message a second in one: two pages within a second drew a 429,
which paused everything); and its overall budget is first come, first served, so a page
waited behind a burst of hospital replies. Here:

* each chat spends its own ``SendBudget`` (groups: ``[telegram] group_per_minute`` and
  ``group_burst``; private chats ``private_per_second``), in arrival order per chat;
* the bot's overall budget (``overall_per_second``, ``overall_burst``) is granted to priority
  sends first (desk messages and pages, ``Reply.priority``), then in arrival order;
* a 429 pauses only the chat it was about, for ``retry_after``; the request is tried again
  after it (a 429 proves it was not delivered), at most ``max_retries`` times.

Only requests that post into a chat count (sends, edits); the rest pass straight through.
A send made by ``ReleasesSends.send_released`` is released (``adapters.release``) once both
budgets let it go, just before the HTTP call: the core records the send as under way only
then, not while it waits here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from adapters.budget import BudgetMeter, SendBudget
from adapters.release import released

log = logging.getLogger("hisbot.adapters.telegram")

#: Set by the adapter around a send whose ``Reply.priority`` is true (one task, one request).
PRIORITY: ContextVar[bool] = ContextVar("telegram_send_priority", default=False)

#: Bot API methods that put something into a chat (the flood limits count these).
_COUNTED = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "forwardMessage",
        "copyMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)

#: Chats remembered at most; idle ones are forgotten beyond this (PTB's limiter does the same).
_MAX_CHATS = 512

Clock = Callable[[], float]


class PriorityGate:
    """A budget shared by every chat, granted to priority requests first and otherwise in
    arrival order. Waiters are woken by one timer at the budget's next free moment."""

    def __init__(self, budget: SendBudget, clock: Clock = time.monotonic) -> None:
        self.meter = BudgetMeter(budget)
        self._clock = clock
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, priority: bool) -> None:
        now = self._clock()
        if not self._waiting and self.meter.free_at(now) <= now:
            self.meter.take(now)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if priority else 1, next(self._order), future))
        self._arm()
        await future  # cancelled: grant() skips it

    def grant(self) -> None:
        """Let through every waiter the budget allows now, most urgent first."""
        self._timer = None
        now = self._clock()
        while self._waiting and self.meter.free_at(now) <= now:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                self.meter.take(now)
                future.set_result(None)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            delay = self.meter.free_at(self._clock()) - self._clock()
            self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self.grant)


class ChatRateLimiter(BaseRateLimiter[int]):
    """``BaseRateLimiter`` for the adapter's PTB application (see the module docstring).
    ``budget_of``: a chat id's own budget."""

    def __init__(
        self,
        budget_of: Callable[[int | str], SendBudget],
        overall: SendBudget,
        max_retries: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._budget_of = budget_of
        self._overall = PriorityGate(overall, clock)
        self._max_retries = max_retries
        self._clock = clock
        self._chats: dict[str, BudgetMeter] = {}
        self._turns: dict[str, asyncio.Lock] = {}  # one waiter per chat at a time, in order

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def meter(self, chat_id: int | str) -> BudgetMeter:
        key = str(chat_id)
        meter = self._chats.get(key)
        if meter is None:
            if len(self._chats) >= _MAX_CHATS:
                self._forget_idle()
            meter = self._chats[key] = BudgetMeter(self._budget_of(chat_id))
        return meter

    def _forget_idle(self) -> None:
        now = self._clock()
        for key, meter in list(self._chats.items()):
            turn = self._turns.get(key)
            if meter.idle(now) and (turn is None or not turn.locked()):
                del self._chats[key]
                self._turns.pop(key, None)

    async def _chat_turn(self, chat_id: int | str) -> None:
        """Wait until the chat's own budget lets one more message go, and spend it."""
        turn = self._turns.setdefault(str(chat_id), asyncio.Lock())
        async with turn:
            meter = self.meter(chat_id)
            while (at := meter.free_at(now := self._clock())) > now:
                await asyncio.sleep(at - now)
            meter.take(now)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None or endpoint not in _COUNTED:
            return await callback(*args, **kwargs)
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        for attempt in itertools.count():
            await self._chat_turn(chat_id)
            await self._overall.acquire(PRIORITY.get())
            await released()  # raises (the core could not record it): nothing is sent
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = _seconds(exc)
                self.meter(chat_id).pause(self._clock() + wait)
                if attempt >= retries:
                    raise
                log.info("telegram: chat %s over its limit, retrying after %.1f s", chat_id, wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds, without PTB's deprecation warning of its int form."""
    with contextlib.suppress(AttributeError):
        value: dt.timedelta = exc._retry_after  # PTB's own limiter reads it too
        return value.total_seconds()
    return 1.0
