"""Slack's Web API as the adapter calls it: one client, every call's retries, the pacing of
posts per channel, and the look-up that keeps a retried post from being posted twice.

A 429 is retried after its Retry-After by the client's retry handler (``RetryAfter``);
timeouts, connection errors and 5xx are retried with backoff by ``WebApi.call`` — before
each retry of a post, the channel is searched for the post's metadata marker, so a post
whose answer was lost is found instead of sent again; everything else becomes
``DeliveryError`` (permanent when the same call would fail the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.base import ChatRef, DeliveryError, OnRelease
from adapters.retry import NetworkRetry

from .settings import SlackSettings

#: Error codes of a 200 answer that say "try again later" rather than "this will never work".
_TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: Marker put in every posted message's metadata, to find a post whose answer was lost.
_METADATA_EVENT = "hisbot_reply"
#: Allowance for our clock being ahead of Slack's when looking for a post by its marker.
_CLOCK_SKEW = 600.0
#: What a call may raise when the network, not Slack, failed.
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class RetryAfter(AsyncRateLimitErrorRetryHandler):
    """Retry a 429 after exactly its Retry-After (slack_sdk's own handler adds up to a second
    of jitter per attempt); logs each wait."""

    def __init__(self, max_retry_count: int, log: logging.Logger) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._log = log

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # pragma: no cover - only called for 429 answers
            raise error or RuntimeError("rate limit retry without a response")
        state.next_attempt_requested = True
        delay = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                with contextlib.suppress(ValueError):
                    delay = max(0.0, float(values[0]))
        method = request.url.rsplit("/", 1)[-1]
        self._log.info(
            "slack %s rate limited: retry %d in %.1fs", method, state.current_attempt + 1, delay
        )
        await asyncio.sleep(delay)
        state.increment_current_attempt()


@dataclass
class _Pace:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


class WebApi:
    """The adapter's Web API calls over ``client`` (its 429s retried by ``RetryAfter``)."""

    def __init__(
        self,
        client: AsyncWebClient,
        settings: SlackSettings,
        log: logging.Logger,
        lib_log: logging.Logger,
    ) -> None:
        self.client = client
        self.settings = settings
        self._log = log
        self._lib_log = lib_log
        self._pace: dict[str, _Pace] = {}
        self._retry = NetworkRetry(
            settings.network_retries, settings.network_backoff, log, "slack", "channel"
        )

    async def post(
        self, chat: ChatRef, kwargs: dict[str, Any], on_release: OnRelease | None
    ) -> dict[str, Any]:
        """chat.postMessage, paced per channel and marked in its metadata, so a retry after a
        lost answer finds the post instead of posting it again."""
        marker = uuid.uuid4().hex
        kwargs["metadata"] = {"event_type": _METADATA_EVENT, "event_payload": {"id": marker}}
        since = time.time() - _CLOCK_SKEW  # lower bound of the lookup after a lost answer
        return await self.paced(
            chat,
            lambda: self.call(
                chat,
                "chat.postMessage",
                lambda: self.client.chat_postMessage(**kwargs),
                recover=lambda: self.find_post(kwargs, marker, since),
            ),
            on_release,
        )

    async def respond(
        self,
        chat: ChatRef,
        url: str,
        kwargs: Mapping[str, Any],
        session: aiohttp.ClientSession | None,
    ) -> None:
        """Answer a slash command through its response_url (works where the bot is not a
        member of the channel)."""
        hook = AsyncWebhookClient(url, session=session, logger=self._lib_log)
        try:
            response = await hook.send(
                text=kwargs["text"],
                blocks=kwargs["blocks"],
                response_type="ephemeral",
                replace_original=False,
            )
        except (SlackClientError, *NETWORK_ERRORS) as exc:
            raise DeliveryError(
                chat, f"response_url: {type(exc).__name__}", permanent=False
            ) from exc
        if response.status_code != 200:
            raise DeliveryError(chat, f"response_url: HTTP {response.status_code}")

    async def paced(
        self,
        chat: ChatRef,
        post: Callable[[], Awaitable[dict[str, Any]]],
        on_release: OnRelease | None = None,
    ) -> dict[str, Any]:
        """Run ``post`` at least ``post_interval`` after the previous post to the channel
        finished; posts to one channel go out one at a time, in order. ``on_release`` is
        awaited when the post's turn has come (raising: the post is not made)."""
        pace = self._pace.setdefault(chat.chat_id, _Pace())
        loop = asyncio.get_running_loop()
        async with pace.lock:
            wait = pace.next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if on_release is not None:
                await on_release()
            try:
                return await post()
            finally:
                pace.next_at = loop.time() + self.settings.post_interval

    async def find_post(
        self, kwargs: Mapping[str, Any], marker: str, since: float
    ) -> dict[str, Any] | None:
        """After a lost answer: the message a post with ``marker`` created, if it exists."""
        channel = str(kwargs["channel"])
        thread = kwargs.get("thread_ts")
        try:
            if thread:
                response = await self.client.conversations_replies(
                    channel=channel,
                    ts=str(thread),
                    oldest=f"{since:.6f}",
                    include_all_metadata=True,
                    limit=200,
                )
            else:
                response = await self.client.conversations_history(
                    channel=channel, oldest=f"{since:.6f}", include_all_metadata=True, limit=200
                )
        except (SlackClientError, *NETWORK_ERRORS):
            return None  # cannot tell: sending again beats losing the message
        for message in response.get("messages") or ():
            if not isinstance(message, dict):
                continue
            metadata = message.get("metadata")
            payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
            if isinstance(payload, dict) and payload.get("id") == marker and message.get("ts"):
                return {"ok": True, "channel": channel, "ts": message["ts"]}
        return None

    async def call(
        self,
        chat: ChatRef,
        what: str,
        call: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        recover: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> dict[str, Any]:
        """One Web API call: timeouts, connection errors and 5xx are retried with backoff
        (before each retry, ``recover`` may find that the call had succeeded after all); a 429
        was already retried by the client. Everything else becomes ``DeliveryError``."""
        attempt = 0
        while True:
            try:
                response = await call()
                data = response.data
                return dict(data) if isinstance(data, dict) else {}
            except SlackApiError as exc:
                status, error = status_and_error(exc)
                if status == 429 or error == "ratelimited":
                    raise DeliveryError(
                        chat, f"{what}: rate limited, gave up after retries", permanent=False
                    ) from exc
                if not (status >= 500 or error in _TRANSIENT_ERRORS):
                    # not_in_channel, channel_not_found, is_archived, message_not_found, …:
                    # the same call will fail the same way
                    raise DeliveryError(chat, f"{what}: {error}", permanent=True) from exc
                reason = f"HTTP {status} {error}".strip()
                failure: Exception = exc
            except SlackClientError as exc:
                raise DeliveryError(chat, f"{what}: {type(exc).__name__}", permanent=True) from exc
            except NETWORK_ERRORS as exc:
                reason = type(exc).__name__
                failure = exc
            await self._retry.wait(chat, what, attempt, reason, failure)
            attempt += 1
            if recover is not None:
                found = await recover()
                if found is not None:
                    self._log.info(
                        "slack %s to channel %s had gone through; not sent again",
                        what,
                        chat.chat_id,
                    )
                    return found


def status_and_error(exc: SlackApiError) -> tuple[int, str]:
    """The HTTP status and Slack's error code of a failed call."""
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    error = ""
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        error = str(data.get("error") or "")
    return int(status), error
