"""Failed logins, counted in the database so every worker behind a load balancer sees them.

Kept in one process's memory, N workers were N limits (an attacker spread over them got N
times the guesses) and a restart forgave everything. The counts are rows of ``login_count``,
one per subject and window, bumped with one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``:
atomic on PostgreSQL (the conflicting row is locked) and on SQLite (``BEGIN IMMEDIATE``), so
two workers counting the same failure at once get 5 and 6, never 5 twice.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, and_, case, delete, literal, or_, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.infra.clock import Clock, UtcDateTime, utc_now
from bot.infra.gateway import Database
from bot.registry.sessions import transaction, write_session
from bot.web.models import LoginCount

#: How often a worker deletes the rows whose window has passed.
PURGE_EVERY = dt.timedelta(minutes=1)


class Kind(StrEnum):
    PAIR = "pair"
    USER = "user"
    ADDRESS = "address"
    REFUSED = "refused"


Subject = tuple[Kind, str]


def subjects(username: str, ip: str) -> dict[Kind, str]:
    """What one attempt counts against, per kind (user names are case-insensitive)."""
    name = username.lower()
    pair = f"{name}\n{ip}"
    return {Kind.PAIR: pair, Kind.USER: name, Kind.ADDRESS: ip, Kind.REFUSED: pair}


class LoginLimitStore:
    """The ``login_count`` rows (synchronous: call through the database gateway)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._now = clock

    def counts(self, wanted: Iterable[Subject]) -> dict[Subject, int]:
        """The current window's count of each subject (absent: none)."""
        keys = [(kind.value, subject) for kind, subject in wanted]
        if not keys:
            return {}
        stmt = select(LoginCount.kind, LoginCount.subject, LoginCount.count).where(
            tuple_(col(LoginCount.kind), col(LoginCount.subject)).in_(keys),
            col(LoginCount.window_ends_at) > self._now(),
        )
        with Session(self._engine) as session:
            return {(Kind(k), s): n for k, s, n in session.exec(stmt).all()}

    def add(self, wanted: Iterable[Subject], window: dt.timedelta) -> dict[Subject, int]:
        """Count one more of each subject (a new window for one whose window has passed), in
        one transaction; returns each subject's count including this one. Callers pass the
        kinds in one order (pair, user, address): two racing failures lock their rows in that
        order and cannot deadlock on PostgreSQL."""
        now = self._now()
        table = LoginCount.__table__  # type: ignore[attr-defined]
        ends = literal(now + window, UtcDateTime())
        expired = table.c.window_ends_at <= literal(now, UtcDateTime())
        found: dict[Subject, int] = {}
        with write_session(self._engine) as session:
            insert = (
                postgresql.insert
                if session.get_bind().dialect.name == "postgresql"
                else sqlite.insert
            )
            for kind, subject in wanted:
                row = insert(table).values(
                    kind=kind.value, subject=subject, count=1, window_ends_at=now + window
                )
                stmt = row.on_conflict_do_update(
                    index_elements=[table.c.kind, table.c.subject],
                    set_={
                        "count": case((expired, 1), else_=table.c.count + 1),
                        "window_ends_at": case((expired, ends), else_=table.c.window_ends_at),
                    },
                ).returning(table.c.count)
                found[(kind, subject)] = int(session.execute(stmt).scalar_one())
        return found

    def forget(self, wanted: Iterable[Subject]) -> None:
        keys = [
            and_(col(LoginCount.kind) == k.value, col(LoginCount.subject) == s) for k, s in wanted
        ]
        if keys:
            with write_session(self._engine) as session:
                session.execute(delete(LoginCount).where(or_(*keys)))

    def purge(self) -> int:
        """Delete the rows whose window has passed; returns how many."""
        with write_session(self._engine) as session:
            result = session.execute(
                delete(LoginCount).where(col(LoginCount.window_ends_at) <= self._now())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]


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
        self._store = LoginLimitStore(db.engine, clock)
        self._clock = clock
        self.max_failures = max_failures
        self.window = dt.timedelta(seconds=window_seconds)
        self.max_delay = max_delay
        self._purged_at: dt.datetime | None = None

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

        await self._db.write(count)
        now = self._clock()
        if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
            self._purged_at = now
            await self._db.write(self._store.purge)

    async def succeeded(self, username: str, ip: str) -> None:
        """The pair proved itself: its own failures are forgiven (others' are not)."""
        keys = subjects(username, ip)
        wanted = [(Kind.PAIR, keys[Kind.PAIR]), (Kind.REFUSED, keys[Kind.REFUSED])]
        await self._db.write(lambda: self._store.forget(wanted))
