"""Leases: one worker at a time does a named piece of work, and another takes it over within
seconds when that worker dies.

Several ``hisbot run`` workers share a PostgreSQL database. Most work is shared freely (every
worker answers webhooks, sends replies and notices), but some must have exactly one doer: the
timed jobs (SLA watch, retention, the weekly summary, notice waves), a desk chat's card queue
and a platform connection that allows one live consumer (Telegram's long polling: a second
poller gets 409 conflicts; a DingTalk stream or WeCom's connection). Each such piece of work is
a *role* behind a named lease, a row ``lease(name, owner, expires_at)`` — and each worker holds
one on itself, ``worker:<id>``, that says the rows it claims are its own (``claims``):

* the holder renews it every ``renew`` seconds, pushing ``expires_at`` ``ttl`` ahead;
* any worker takes it once ``expires_at`` has passed (one ``UPDATE … WHERE expires_at <= now``:
  of two racing workers one matches the row, the other no longer does);
* a holder that could not renew stops its role at ``ttl - renew`` after its last renewal, a
  margin ahead of the moment others may take over (clock skew, a slow round), and a worker
  stopping cleanly releases its leases, so the next one starts at its next round.

A worker killed with ``kill -9`` is replaced after at most ``ttl + renew`` seconds. Time comes
from the clock given (naive UTC), so tests move it instead of waiting; workers' clocks must
agree to within the margin (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine, case, delete, or_, update
from sqlmodel import Session, col

from bot.cluster.insert_once import insert_once
from bot.cluster.models import Lease
from bot.infra.clock import Clock, as_utc
from bot.infra.gateway import Database

log = logging.getLogger(__name__)

#: Seconds a lease lasts without renewal: a dead holder is replaced within this (+ RENEW).
LEASE_SECONDS = 6.0
#: Seconds between two renewals (and between two attempts by the others).
RENEW_SECONDS = 1.5
#: The lease of the work one worker does for all (the timed jobs).
LEADER = "leader"


def receiving_lease(platform: str) -> str:
    """The lease of a platform's single-consumer way in (``receive:telegram``)."""
    return f"receive:{platform}"


def worker_id() -> str:
    """This process's name in the lease table: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseStore:
    """The ``lease`` table (blocking: through the gateway from async code)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def claim(self, name: str, owner: str, ttl: dt.timedelta) -> bool:
        """Take or renew ``name`` for ``owner`` until now + ``ttl``; False while another
        owner's lease has not expired."""
        now = as_utc(self._clock())
        with Session(self._engine) as s:
            mine = col(Lease.owner) == owner
            renewed = s.execute(
                update(Lease)
                .where(col(Lease.name) == name, or_(mine, col(Lease.expires_at) <= now))
                .values(
                    owner=owner,
                    expires_at=now + ttl,
                    # a takeover starts a new tenure; a renewal keeps it
                    acquired_at=case((mine, col(Lease.acquired_at)), else_=now),
                )
                .returning(col(Lease.name))
                .execution_options(synchronize_session=False)
            ).first()
            if renewed is not None:
                s.commit()
                return True
            row = {"name": name, "owner": owner, "expires_at": now + ttl, "acquired_at": now}
            created = insert_once(s, Lease, row)
            s.commit()
            return created

    def release(self, name: str, owner: str) -> None:
        """Give ``name`` up (if ``owner`` still holds it): the next worker need not wait."""
        with Session(self._engine) as s:
            s.execute(delete(Lease).where(col(Lease.name) == name, col(Lease.owner) == owner))
            s.commit()


@dataclass(frozen=True)
class Role:
    """Work done only while its lease is held: ``start`` when it is gained, ``stop`` when it
    is lost or released."""

    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


class LeaseKeeper:
    """Holds this worker's leases and runs each role while its lease is held."""

    def __init__(
        self,
        store: LeaseStore,
        db: Database,
        clock: Clock,
        owner: str | None = None,
        ttl: float = LEASE_SECONDS,
        renew: float = RENEW_SECONDS,
    ) -> None:
        if not 0 < renew < ttl:
            raise ValueError("a lease must be renewed more often than it lasts")
        self.owner = owner or worker_id()
        self._store = store
        self._db = db
        self._clock = clock
        self._ttl = dt.timedelta(seconds=ttl)
        self._renew = renew
        self._roles: list[Role] = []
        #: role name → until when (this worker's clock) it may run without renewing
        self._valid: dict[str, dt.datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, role: Role) -> None:
        self._roles.append(role)

    def held(self) -> list[str]:
        """The roles running here now."""
        return [r.name for r in self._roles if r.name in self._valid]

    async def tick(self) -> None:
        """One round: renew or take every lease, start the roles gained, stop those lost."""
        for role in self._roles:
            await self._keep(role)

    async def _keep(self, role: Role) -> None:
        asked = as_utc(self._clock())
        try:
            async with asyncio.timeout(self._renew):  # a hung database must not hold the round
                got = await self._db.write(
                    lambda: self._store.claim(role.name, self.owner, self._ttl)
                )
        except Exception as exc:  # database unreachable: keep the role while still safe
            got = None
            log.warning("lease %s: cannot reach the database (%s)", role.name, type(exc).__name__)
        running = role.name in self._valid
        if got:
            # others may take it at asked + ttl by their clocks: stop a margin before that
            self._valid[role.name] = asked + self._ttl - dt.timedelta(seconds=self._renew)
            if not running:
                await self._start(role)
        elif running and (got is not None or as_utc(self._clock()) >= self._valid[role.name]):
            log.warning("lease %s lost: stopping it here", role.name)
            await self._stop(role)

    async def _start(self, role: Role) -> None:
        log.info("lease %s taken by %s: starting it", role.name, self.owner)
        try:
            await role.start()
        except Exception:  # let another worker (or the next round) try
            log.exception("lease %s: starting failed; released", role.name)
            del self._valid[role.name]
            with contextlib.suppress(Exception):
                await self._db.write(partial(self._store.release, role.name, self.owner))

    async def _stop(self, role: Role) -> None:
        self._valid.pop(role.name, None)
        try:
            await role.stop()
        except Exception:
            log.exception("lease %s: stopping failed", role.name)

    def start(self) -> None:
        """Keep the leases in the background (the first round has usually been ``tick``ed):
        one loop per lease, so a role that takes long to stop (a notice outbox draining) or to
        start never delays the renewal of another lease held here."""
        self._tasks = [
            asyncio.create_task(self._follow(role), name=f"lease:{role.name}")
            for role in self._roles
        ]

    async def _follow(self, role: Role) -> None:
        while True:
            await asyncio.sleep(self._renew)
            try:
                await self._keep(role)
            except Exception:  # one bad round must not end the keeping
                log.exception("lease %s: round failed", role.name)

    async def stop(self) -> None:
        """Stop the roles held here (in reverse order) and release their leases."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for role in reversed(self._roles):
            if role.name not in self._valid:
                continue
            await self._stop(role)
            with contextlib.suppress(Exception):  # it expires by itself otherwise
                await self._db.write(partial(self._store.release, role.name, self.owner))
