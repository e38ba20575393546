"""How notices reach the platforms: through the adapters, at a pace of their own.

A delivery is sent through the one durable send path (``bot.inbox.sending``) like every
other durable message, over the adapter ``Transport.sender`` picks for its chat; that path
reports why a send did not happen — permanent (removed from the group: 'failed' with the
reason), transient (retried later, persisted as ``next_attempt_at`` so a restart keeps it and
a slow group does not hold a worker slot), or unknown (never re-sent). ``deliver`` is the
unrecorded send, used only for a ``/notice`` answer outside an inbox event (none today): the
engineers' alerts and command answers are keyed (``bot.broadcasts.desk_messages``).

Why pace at all when the Telegram adapter already rate-limits (its own limiter)? That
limiter is shared with normal replies and is first-come-first-served: 2,000 notices handed to it
at once would put a hospital's question 66 s behind them. The ``Pacer`` feeds the adapter just
below the platform's limit with a burst of one, and the worker keeps at most ``concurrency``
broadcast messages inside the adapter, so a reply waits behind a handful, never thousands.
A smooth feed also keeps Telegram's sliding one-second window from ever seeing more than 30.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from adapters.base import Adapter, ButtonPress, ChatRef, DeliveryError, MessageRef, Reply
from bot.broadcasts.settings import BroadcastSettings
from bot.inbox.sending import SendsReplies


class Transport(Protocol):
    def sender(self, chat: ChatRef) -> SendsReplies:
        """What sends to ``chat`` (its platform's adapter) on the durable path."""
        ...

    async def deliver(self, reply: Reply) -> MessageRef:
        """Send; returns once the platform accepted it, else raises ``DeliveryError``."""
        ...

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace one of our messages; raises ``DeliveryError``."""
        ...

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """Answer a button press (best effort, never raises)."""
        ...


class AdapterTransport:
    """``Transport`` over the running adapters, one per platform."""

    def __init__(self, adapters: Iterable[Adapter]) -> None:
        self._adapters = {a.platform: a for a in adapters}

    def _adapter(self, chat: ChatRef) -> Adapter:
        adapter = self._adapters.get(chat.platform)
        if adapter is None:  # permanent: a platform not configured will not appear by retrying
            raise DeliveryError(chat, f"no adapter for platform {chat.platform}")
        return adapter

    def sender(self, chat: ChatRef) -> SendsReplies:
        return self._adapters.get(chat.platform) or _Unconfigured()

    async def deliver(self, reply: Reply) -> MessageRef:
        return await self._adapter(reply.chat).send(reply)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        await self._adapter(ChatRef(message.platform, message.chat_id)).edit(message, reply)

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        adapter = self._adapters.get(press.message.platform)
        if adapter is not None:
            with contextlib.suppress(DeliveryError):
                await adapter.acknowledge(press, text)


class _Unconfigured:
    """A platform without an adapter: every send fails for good (retrying will not make it
    appear), recorded like any other refusal."""

    async def send(self, reply: Reply) -> MessageRef:
        raise DeliveryError(reply.chat, f"no adapter for platform {reply.chat.platform}")


class Pacer:
    """Per platform: at least 1/``per_second`` s between two messages handed to the adapter
    (no bursts) and never more than ``per_second`` in any sliding second; per chat: at least
    ``chat_interval`` s between two of ours.

    The sliding window is what the platform counts (the fake Bot API, like Telegram, answers
    429 to the 31st message in a second), and one 429 makes PTB's rate limiter pause *all*
    sends, replies included, for ``retry_after`` + 0.1 s — so the pace must hold at the moment
    messages really leave, not only on paper. Clock: ``time.monotonic`` (limits are real time).
    """

    def __init__(
        self, settings: BroadcastSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._next: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._issued: dict[str, deque[float]] = {}
        self._chat_last: dict[tuple[str, str], float] = {}
        #: Workers sending notices at once: the platform's limit is the bot's, not a
        #: process's, so each paces at its share of ``per_second``.
        self.workers = 1

    def chat_wait(self, platform: str, chat_id: str) -> float:
        """Seconds before ``chat_id`` may get another message (0: now)."""
        last = self._chat_last.get((platform, chat_id))
        if last is None:
            return 0.0
        return max(0.0, last + self._settings.pace(platform).chat_interval - self._clock())

    def reserve_chat(self, platform: str, chat_id: str) -> None:
        """The chat gets a message now: others to it wait ``chat_interval``."""
        now = self._clock()
        self._chat_last[(platform, chat_id)] = now
        if len(self._chat_last) > 20_000:
            longest = max(self._settings.telegram_chat_interval, self._settings.slack_chat_interval)
            self._chat_last = {k: t for k, t in self._chat_last.items() if t + longest > now}

    async def slot(self, platform: str) -> float:
        """Wait until a message may be handed to the platform's adapter, and count it.
        Returns the time it was counted at (for ``done``).

        One waiter at a time per platform. Turns are 1/``per_second`` apart; a stalled event
        loop may catch up at most 0.25 s of lost turns, never sending two messages closer than
        half a turn, so the turns that passed meanwhile are not released all at once."""
        rate = self._settings.pace(platform).per_second / max(1, self.workers)
        cap = max(1, int(rate))
        window = self._issued.setdefault(platform, deque())
        async with self._locks.setdefault(platform, asyncio.Lock()):
            while True:
                now = self._clock()
                while window and window[0] <= now - 1.0:
                    window.popleft()
                due = self._next.get(platform, now)
                wait = max(due - now, self._last.get(platform, -1e9) + 0.5 / rate - now)
                if len(window) >= cap:
                    wait = max(wait, window[0] + 1.0 - now)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._next[platform] = max(due, now - 0.25) + 1.0 / rate
            self._last[platform] = now
            window.append(now)
        return now

    def done(self, platform: str, stamp: float) -> None:
        """The send counted at ``stamp`` has finished. One that took long was held up — PTB
        holds every send for ``retry_after`` after a 429, then lets them all go at once — so
        it is counted again at the time it really went out, and the sends after it wait."""
        now = self._clock()
        window = self._issued.get(platform)
        if window is None or now - stamp < 0.25:
            return
        with contextlib.suppress(ValueError):
            window.remove(stamp)
        bisect.insort(window, now)
