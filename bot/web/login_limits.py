"""Failed logins, counted in the database so every worker behind a load balancer sees them.

Kept in one process's memory, N workers were N limits (an attacker spread over them got N
times the guesses) and a restart forgave everything. The counts are ``bot.web.counts`` rows,
one per subject and window, bumped atomically: two workers counting the same failure at once
get 5 and 6, never 5 twice.

- ``Kind.PAIR``: failures of one (user name, address) pair — ``max_failures`` of them block
  that pair until its window ends: the attacker's own address, never the engineer's;
- ``Kind.USER`` / ``Kind.ADDRESS``: failures of a user name from anywhere, of an address for
  any name — beyond ``max_failures`` every further attempt of that name or address waits,
  0.5 s doubling per failure up to ``max_delay``: a spread-out attack is slowed down without
  locking anyone out. A correct password from a clean address is never refused;
- ``Kind.REFUSED``: refusals of a blocked pair, for the audit's 1st, 10th, 100th … row.

A subject's window starts at its first failure and the count starts over once it has passed
(so a pair may fail up to twice ``max_failures`` across a window's edge); rows past their
window are deleted at most once a minute by whichever worker counts a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bot.infra.clock import Clock, utc_now
from bot.infra.gateway import Database
from bot.registry.sessions import transaction
from bot.web.counts import Kind, WindowCounts


def subjects(username: str, ip: str) -> dict[Kind, str]:
    """What one attempt counts against, per kind (user names are case-insensitive)."""
    name = username.lower()
    pair = f"{name}\n{ip}"
    return {Kind.PAIR: pair, Kind.USER: name, Kind.ADDRESS: ip, Kind.REFUSED: pair}


@dataclass(frozen=True)
class LoginCheck:
    """What an attempt meets before its password is checked."""

    #: The pair failed ``max_failures`` times in its window: refused without a check.
    blocked: bool
    #: Seconds to wait before checking the password (its name's or address's failures).
    delay: float


class LoginLimiter:
    """The login limits of the module docstring, over the database gateway."""

    def __init__(
        self,
        db: Database,
        max_failures: int,
        window_seconds: float,
        *,
        max_delay: float = 10.0,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._store = WindowCounts(db.engine, clock)
        self.max_failures = max_failures
        self.window = dt.timedelta(seconds=window_seconds)
        self.max_delay = max_delay

    async def check(self, username: str, ip: str) -> LoginCheck:
        keys = subjects(username, ip)
        wanted = [(kind, keys[kind]) for kind in (Kind.PAIR, Kind.USER, Kind.ADDRESS)]
        counts = await self._db.read(lambda: self._store.counts(wanted))
        if counts.get(wanted[0], 0) >= self.max_failures:
            return LoginCheck(blocked=True, delay=0.0)
        excess = max(counts.get(wanted[1], 0), counts.get(wanted[2], 0)) - self.max_failures
        delay = 0.0 if excess < 0 else float(min(self.max_delay, 0.5 * 2**excess))
        return LoginCheck(blocked=False, delay=delay)

    async def refused(self, username: str, ip: str) -> int:
        """Count one refused attempt of a blocked pair; returns the count in the window (the
        audit records milestones of it, not every refusal)."""
        subject = (Kind.REFUSED, subjects(username, ip)[Kind.REFUSED])
        counts = await self._db.write(lambda: self._store.add([subject], self.window))
        return counts[subject]

    async def failed(
        self, username: str, ip: str, *, also: Callable[[], None] = lambda: None
    ) -> None:
        """Count a failed attempt; ``also`` (the audit row) is written in the same transaction:
        one commit per failure on the writer a flood shares with the chats."""
        keys = subjects(username, ip)
        wanted = [(kind, keys[kind]) for kind in (Kind.PAIR, Kind.USER, Kind.ADDRESS)]

        def count() -> None:
            with transaction(self._db.engine):
                self._store.add(wanted, self.window)
                also()
            self._store.purge_if_due()

        await self._db.write(count)

    async def succeeded(self, username: str, ip: str) -> None:
        """The pair proved itself: its own failures are forgiven (others' are not)."""
        keys = subjects(username, ip)
        wanted = [(Kind.PAIR, keys[Kind.PAIR]), (Kind.REFUSED, keys[Kind.REFUSED])]
        await self._db.write(lambda: self._store.forget(wanted))
