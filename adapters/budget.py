"""What a chat (or a whole bot) may be sent, and the arithmetic of spending it.

Every platform limits how fast a bot may post into one chat (Telegram: 20 messages a minute in
a group; Slack about one a second per channel; DingTalk and WeCom 20 a minute). An adapter
declares its chats' budgets (``adapters.base.DeclaresSendBudget``) and may spend them with a
``BudgetMeter``; the core's desk queue models the same budget with the same meter, so it knows
when the next message will pass and can choose what goes into it (urgent tickets first).
Pure arithmetic on a caller's monotonic seconds: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt


@dataclass(frozen=True)
class SendBudget:
    """At most ``count`` messages in any ``seconds``; up to ``burst`` of them back to back,
    then one every ``seconds / count`` (a leaky bucket inside a sliding window: the window
    alone would let all ``count`` out at once and then nothing for a whole window)."""

    count: Annotated[int, Ge(1)]
    seconds: Annotated[float, Gt(0)] = 60.0
    burst: Annotated[int, Ge(1)] = 1

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds <= 0 or not 1 <= self.burst <= self.count:
            raise ValueError(f"send budget needs count ≥ 1, seconds > 0, 1 ≤ burst ≤ count: {self}")

    @property
    def interval(self) -> float:
        """Seconds between two messages at the steady rate."""
        return self.seconds / self.count


class BudgetMeter:
    """What one chat has spent of its budget. Times are seconds on the caller's monotonic
    clock; a message may be recorded at a future time (it waits in a queue until then), and
    every answer accounts for it."""

    def __init__(self, budget: SendBudget) -> None:
        self.budget = budget
        self._level = 0.0  # the leaky bucket's level at ``_at``
        self._at = -math.inf
        self._sent: deque[float] = deque()  # send times within the last window, ascending
        self._paused_until = -math.inf

    def _level_at(self, t: float) -> float:
        if self._at == -math.inf:
            return 0.0
        return max(0.0, self._level - (t - self._at) / self.budget.interval)

    def free_at(self, now: float, reserve: int = 0) -> float:
        """The earliest time ≥ ``now`` at which one message may go and leave room for
        ``reserve`` more right after it (an urgent message kept possible)."""
        b = self.budget
        n = 1 + reserve
        t = max(now, self._paused_until, self._sent[-1] if self._sent else now)  # in order
        over = self._level_at(t) - max(0, b.burst - n)  # the bucket must drain this much
        if over > 0:
            t += over * b.interval
        keep = max(0, b.count - n)  # at most this many earlier sends may be in the window
        if len(self._sent) > keep:
            t = max(t, self._sent[len(self._sent) - keep - 1] + b.seconds)
        return t

    def take(self, at: float) -> None:
        """Record one message leaving at ``at`` (≥ the last one recorded)."""
        self._level = self._level_at(at) + 1.0
        self._at = max(self._at, at)
        self._sent.append(at)
        while self._sent and self._sent[0] <= at - self.budget.seconds:
            self._sent.popleft()

    def take_next(self, now: float) -> float:
        """Record one message handed over at ``now``; returns when it leaves (its turn)."""
        at = self.free_at(now)
        self.take(at)
        return at

    def pause(self, until: float) -> None:
        """The platform refused a message until ``until`` (a 429's retry_after)."""
        self._paused_until = max(self._paused_until, until)

    def passing_within(self, now: float, seconds: float) -> int:
        """How many messages handed over at ``now`` leave within ``seconds``."""
        trial = BudgetMeter(self.budget)
        trial._level, trial._at = self._level, self._at
        trial._sent, trial._paused_until = deque(self._sent), self._paused_until
        passing = 0
        while passing <= self.budget.count and trial.take_next(now) <= now + seconds:
            passing += 1
        return passing

    def idle(self, now: float) -> bool:
        """Nothing spent any more (the meter may be forgotten)."""
        spent = bool(self._sent) and self._sent[-1] > now - self.budget.seconds
        return not spent and self._paused_until <= now and self._level_at(now) == 0.0
