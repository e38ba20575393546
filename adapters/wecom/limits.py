"""Client-side limits of WeCom's proactive sends: leaky buckets per chat and per bot.

WeCom refuses sends beyond its limits with an errcode and may throttle the bot for a while,
so sends are paced *before* they go out. A send first waits its turn in its chat (one at a time
per chat), then in its bot (one at a time per bot, FIFO), and each bucket is charged at the
moment the send really leaves: a stalled event loop that wakes many senders at once cannot
bunch them beyond ``burst`` (a reservation made earlier would). At most ``burst`` sends, then
one per ``60 / per_minute`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    interval: float
    burst: int
    #: Theoretical arrival time: when the bucket would be empty again.
    tat: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def earliest(self, now: float) -> float:
        return max(now, self.tat - (self.burst - 1) * self.interval)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


class SendPacer:
    """Pacing of proactive sends for many bots and chats."""

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

    async def _until_free(self, bucket: _Bucket) -> None:
        while (at := bucket.earliest(now := self._now())) > now:
            await asyncio.sleep(at - now)

    async def wait_turn(self, bot: str, chat: str) -> None:
        """Return when a send to ``chat`` by ``bot`` may leave now; both buckets are charged."""
        if len(self._chats) > 50_000:  # forget idle chats (their buckets are empty again)
            now = self._now()
            self._chats = {k: b for k, b in self._chats.items() if b.tat > now or b.lock.locked()}
        chat_bucket = self._chats.get(chat) or self._chats.setdefault(chat, _Bucket(*self._chat))
        bot_bucket = self._bots.get(bot) or self._bots.setdefault(bot, _Bucket(*self._bot))
        async with chat_bucket.lock:
            await self._until_free(chat_bucket)
            async with bot_bucket.lock:
                await self._until_free(bot_bucket)
                now = self._now()
                chat_bucket.take(now)
                bot_bucket.take(now)
