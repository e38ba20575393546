"""The WeCom edge's connections: one per tenant's bot, all open on this worker or none.

With several workers only the holder of the ``receive:wecom`` lease opens them; every WeCom
send rides them, so finding a chat's connection is also where "not on this worker" is told
apart from "this tenant is not running".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import aiohttp

from adapters.base import ChatRef, DeliveryError, NotConnectedHere

from .client import CredentialsRejected, Frame, TenantConnection
from .convert import split_scoped
from .settings import TenantCredentials, WeComSettings


class Tenants:
    def __init__(
        self,
        settings: WeComSettings,
        credentials: Sequence[TenantCredentials],
        on_callback: Callable[[str, Frame], None],
        log: logging.Logger,
    ) -> None:
        self._settings = settings
        self._credentials = list(credentials)
        self._on_callback = on_callback
        self._log = log
        self.names = frozenset(c.tenant for c in credentials)
        #: The live connections, by tenant (empty on a worker without the lease).
        self.connections: dict[str, TenantConnection] = {}
        #: Tenants that could not start, with the reason (named in the log at start).
        self.failed: dict[str, str] = {}
        #: The connections are open here (or being opened): this worker holds the lease.
        self.open = False
        self._opening: asyncio.Task[None] | None = None

    async def start(self, session: aiohttp.ClientSession, *, wait: bool = True) -> None:
        """Open every tenant's connection at once. A tenant that cannot (wrong credentials,
        endpoint unreachable) is reported by name; the others run. ``wait=False`` (under the
        lease, whose renewal must not wait out a connect timeout): return at once, the
        connections open in the background — a send meanwhile fails as transient."""
        self.open, self.failed = True, {}
        conns = [
            TenantConnection(c, self._settings, session, self._on_callback, self._log)
            for c in self._credentials
        ]
        self.connections = {conn.tenant: conn for conn in conns}
        self._opening = asyncio.create_task(self._open(conns), name="wecom-open")
        if wait:
            await asyncio.shield(self._opening)

    async def _open(self, conns: list[TenantConnection]) -> None:
        results = await asyncio.gather(*(c.start() for c in conns), return_exceptions=True)
        for conn, result in zip(conns, results, strict=True):
            if isinstance(result, CredentialsRejected):
                self.failed[conn.tenant] = str(result)
                self.connections.pop(conn.tenant, None)
                self._log.error("wecom tenant %s not started: %s", conn.tenant, result)
            elif isinstance(result, BaseException):  # unreachable now: retried in background
                self._log.error(
                    "wecom tenant %s: cannot connect to %s yet (%s); retrying in the background",
                    conn.tenant,
                    self._settings.ws_url,
                    type(result).__name__,
                )
        self._log.info(
            "wecom: %d of %d tenants connected%s",
            len(self.connections),
            len(conns),
            f" (not: {', '.join(sorted(self.failed))})" if self.failed else "",
        )

    async def stop(self) -> None:
        """Close every connection cleanly (those still opening too). Idempotent."""
        self.open = False
        opening, self._opening = self._opening, None
        if opening is not None and not opening.done():
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        conns, self.connections = self.connections, {}
        await asyncio.gather(*(c.stop() for c in conns.values()), return_exceptions=True)
        if conns:
            self._log.info("wecom: %d connection(s) closed", len(conns))

    def connection(self, chat: ChatRef) -> tuple[TenantConnection, str]:
        """The chat's tenant connection and the chat id inside the tenant; ``NotConnectedHere``
        when another worker holds the connections, ``DeliveryError`` (permanent) for a tenant
        that is not running here or anywhere."""
        try:
            tenant, raw = split_scoped(chat.chat_id)
        except ValueError as exc:
            raise DeliveryError(chat, str(exc)) from None
        conn = self.connections.get(tenant)
        if conn is not None:
            return conn, raw
        if tenant in self.names and not self.open:
            raise NotConnectedHere(
                chat, f"WeCom tenant {tenant}: its connection is on another worker, not here"
            )
        reason = self.failed.get(tenant, "no such tenant configured")
        raise DeliveryError(chat, f"WeCom tenant {tenant} is not running: {reason}")

    async def opened(self, chat: ChatRef) -> tuple[TenantConnection, str]:
        """``connection``, once the connections being opened right now (the lease was just
        taken) are up or failed — a send then goes out instead of failing as transient."""
        opening = self._opening
        if opening is not None and not opening.done():
            await asyncio.wait({opening}, timeout=self._settings.connect_timeout)
        return self.connection(chat)
