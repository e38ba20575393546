"""Client-side limits of WeCom's proactive sends: leaky buckets per chat and per bot.

WeCom refuses sends beyond its limits with an errcode and may throttle the bot for a while,
so sends are paced *before* they go out. Each send reserves the earliest moment both its chat's
and its bot's bucket allow, in arrival order, and sleeps until then: no polling, no bursts
beyond ``burst``, and never more than ``per_minute`` in any minute by more than the burst.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    interval: float
    burst: int
    #: Theoretical arrival time: when the bucket would be empty again.
    tat: float = 0.0

    def earliest(self, now: float) -> float:
        return max(now, self.tat - (self.burst - 1) * self.interval)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


class SendPacer:
    """Reserve-then-sleep pacing for proactive sends of many bots and chats."""

    def __init__(
        self,
        chat_per_minute: int,
        chat_burst: int,
        bot_per_minute: int,
        bot_burst: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._chat = (60.0 / chat_per_minute, chat_burst)
        self._bot = (60.0 / bot_per_minute, bot_burst)
        self._chats: dict[str, _Bucket] = {}
        self._bots: dict[str, _Bucket] = {}
        self._clock = clock

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def reserve(self, bot: str, chat: str) -> float:
        """Book the next slot for a send to ``chat`` by ``bot``; returns how long to wait."""
        now = self._now()
        chat_bucket = self._chats.get(chat) or self._chats.setdefault(chat, _Bucket(*self._chat))
        bot_bucket = self._bots.get(bot) or self._bots.setdefault(bot, _Bucket(*self._bot))
        at = max(chat_bucket.earliest(now), bot_bucket.earliest(now))
        chat_bucket.take(at)
        bot_bucket.take(at)
        if len(self._chats) > 50_000:  # forget chats whose buckets are empty again
            self._chats = {k: b for k, b in self._chats.items() if b.tat > now}
        return at - now

    async def wait_turn(self, bot: str, chat: str) -> None:
        delay = self.reserve(bot, chat)
        if delay > 0:
            await asyncio.sleep(delay)
