"""Retrying a platform call after a network failure, for the adapters that retry their own
calls (Telegram's and Slack's sends): one backoff policy and one way of giving up.

What counts as retryable stays with each adapter (which errors prove the request never
arrived is a property of its library); this is only what happens next.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from adapters.base import ChatRef, DeliveryError


@dataclass(frozen=True)
class NetworkRetry:
    """``retries`` retries after the first attempt, ``backoff · 2^n`` seconds apart."""

    retries: int
    backoff: float
    log: logging.Logger
    #: How a log line names the call's target: ``"slack … to channel C1"``.
    platform: str
    place: str

    async def wait(
        self, chat: ChatRef, what: str, attempt: int, reason: str, failure: BaseException
    ) -> None:
        """After failed attempt number ``attempt`` (0 for the first): give up with a
        non-permanent ``DeliveryError`` once the retries are spent, else log and wait."""
        if attempt >= self.retries:
            raise DeliveryError(
                chat, f"{what} failed after {attempt + 1} attempts: {reason}", permanent=False
            ) from failure
        delay = self.backoff * (2**attempt)
        self.log.warning(
            "%s %s to %s %s: %s, retry %d in %.2fs",
            self.platform,
            what,
            self.place,
            chat.chat_id,
            reason,
            attempt + 1,
            delay,
        )
        await asyncio.sleep(delay)
