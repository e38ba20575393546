"""One tenant's DingTalk OpenAPI client: access token, limits, retries.

The SDK's own HTTP helpers use blocking ``requests`` and a module-level endpoint, so the calls
are made here with aiohttp against the configured base URL, in the SDK's wire format. Every
call waits for the tenant's QPS bucket (and, for a group message, the group's per-minute
window) before it goes out; a 429 or a flow-control answer is retried after Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
from typing import Any

import aiohttp

from adapters.release import released

from .limits import Clock, SlidingWindow
from .settings import DingTalkSettings, TenantCredentials

log = logging.getLogger(__name__)

#: What DingTalk answers (HTTP 403/400) when an app exceeds an API's QPS.
_THROTTLE_CODES = ("Forbidden.AccessDenied.QpsLimitForApi", "Throttling", "QpsLimit")
_USER_AGENT = f"hisbot dingtalk-stream-compatible Python/{platform.python_version()}"


class OpenApiError(RuntimeError):
    """A call DingTalk refused. ``permanent``: retrying the same call will not help."""

    def __init__(self, status: int, code: str, message: str, permanent: bool = True) -> None:
        super().__init__(f"HTTP {status} {code}: {message}".strip())
        self.status = status
        self.code = code
        self.permanent = permanent


class TenantApi:
    def __init__(
        self,
        name: str,
        credentials: TenantCredentials,
        settings: DingTalkSettings,
        session: aiohttp.ClientSession,
        clock: Clock,
    ) -> None:
        self.name = name
        self.credentials = credentials
        self._settings = settings
        self._session = session
        self._clock = clock
        self._base = settings.api_base.rstrip("/")
        self._token: tuple[str, float] | None = None  # (token, monotonic expiry)
        self._token_lock = asyncio.Lock()
        margin = settings.limit_margin
        self._qps = SlidingWindow(settings.app_qps, 1.0 + margin, clock)
        self.groups = SlidingWindow(settings.group_messages_per_minute, 60.0 + margin, clock)

    # ---- the stream gateway --------------------------------------------------------------

    async def open_connection(self, subscriptions: list[dict[str, str]]) -> tuple[str, str]:
        """``POST /v1.0/gateway/connections/open`` → (websocket endpoint, ticket)."""
        body = {
            "clientId": self.credentials.client_id,
            "clientSecret": self.credentials.client_secret,
            "subscriptions": subscriptions,
            "ua": "hisbot-dingtalk",
            "localIp": "",
        }
        data = await self._plain("/v1.0/gateway/connections/open", body)
        endpoint, ticket = data.get("endpoint"), data.get("ticket")
        if not isinstance(endpoint, str) or not isinstance(ticket, str):
            raise OpenApiError(200, "BadGateway", f"no endpoint/ticket in {sorted(data)}")
        return endpoint, ticket

    # ---- access token --------------------------------------------------------------------

    async def token(self, refresh: bool = False) -> str:
        """The tenant's access token, cached until 5 minutes before it expires."""
        async with self._token_lock:
            now = self._clock.monotonic()
            if self._token is not None and not refresh and now < self._token[1]:
                return self._token[0]
            body = {
                "appKey": self.credentials.client_id,
                "appSecret": self.credentials.client_secret,
            }
            data = await self._plain("/v1.0/oauth2/accessToken", body)
            token = str(data.get("accessToken", ""))
            if not token:
                raise OpenApiError(200, "NoToken", "accessToken missing in the answer")
            expires_in = float(data.get("expireIn", 7200))
            self._token = (token, now + max(60.0, expires_in - 300.0))
            return token

    # ---- calls ---------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, body: dict[str, Any], *, group: str | None = None
    ) -> dict[str, Any]:
        """An OpenAPI call with the access token, within the tenant's (and group's) limits."""
        refreshed = False
        while True:
            headers = {"x-acs-dingtalk-access-token": await self.token()}
            try:
                return await self._send(method, self._base + path, body, headers, group, qps=True)
            except OpenApiError as exc:
                if exc.status == 401 and not refreshed:  # revoked early: one fresh token
                    refreshed = True
                    await self.token(refresh=True)
                    continue
                raise

    async def webhook(self, url: str, body: dict[str, Any], group: str | None) -> bool:
        """POST to a message's sessionWebhook. False when DingTalk no longer takes it
        (expired or unknown session): the caller falls back to the proactive API."""
        try:
            data = await self._send("POST", url, body, {}, group, qps=False)
        except OpenApiError as exc:
            if exc.permanent:
                log.info("dingtalk %s: sessionWebhook refused (%s)", self.name, exc)
                return False
            raise
        if data.get("errcode", 0) != 0:
            log.info("dingtalk %s: sessionWebhook answered %s", self.name, data.get("errmsg"))
            return False
        return True

    async def _plain(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A POST without the access token (the gateway, the token itself)."""
        return await self._send("POST", self._base + path, body, {}, None, qps=False)

    async def _send(
        self,
        method: str,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        group: str | None,
        *,
        qps: bool,
    ) -> dict[str, Any]:
        """One call with the retries of 429s/flow control and of network errors/5xx; every
        attempt is counted in the limits (the platform counts refused attempts too)."""
        throttled = failed = 0
        backoff = self._settings.network_backoff
        while True:
            async with contextlib.AsyncExitStack() as limits:
                if group is not None:
                    await limits.enter_async_context(self.groups.hold(group))
                if qps:
                    await limits.enter_async_context(self._qps.hold(""))
                await released()  # a send_released's moment; raises: nothing is sent
                try:
                    status, retry_after, data = await self._attempt(method, url, body, headers)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status, retry_after, data = 0, None, {"message": f"{type(exc).__name__}: {exc}"}
            code = str(data.get("code", ""))
            if status == 429 or any(c in code for c in _THROTTLE_CODES):
                throttled += 1
                if throttled > self._settings.rate_limit_retries:
                    raise OpenApiError(status, code or "429", "rate limited", permanent=False)
                told = _seconds(retry_after)  # 0 means "now", not "not said"
                wait = told if told is not None else 2.0 ** (throttled - 1)
                log.info("dingtalk %s: rate limited, retrying in %.1f s", self.name, wait)
                await self._clock.sleep(wait)
                continue
            if status == 0 or status >= 500:
                failed += 1
                if failed > self._settings.network_retries:
                    raise OpenApiError(status, code, str(data.get("message", "")), False)
                await self._clock.sleep(backoff * 2 ** (failed - 1))
                continue
            if status >= 400:
                raise OpenApiError(status, code, str(data.get("message", "")))
            return data

    async def _attempt(
        self, method: str, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, str | None, dict[str, Any]]:
        timeout = aiohttp.ClientTimeout(total=self._settings.request_timeout)
        async with self._session.request(
            method, url, json=body, headers={**headers, "User-Agent": _USER_AGENT}, timeout=timeout
        ) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = {}
            return (
                response.status,
                response.headers.get("Retry-After"),
                data if isinstance(data, dict) else {},
            )


def _seconds(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None
