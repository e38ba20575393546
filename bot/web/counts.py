"""Repeated events counted per subject and time window in the database, shared by every worker.

Kept in one process's memory, N workers were N counts: N times the login guesses, N audit rows
per milestone of a cross-hospital scan, and a restart forgave everything. A count is a row of
``login_count`` (one per kind, subject and window) bumped with one ``INSERT … ON CONFLICT DO
UPDATE … RETURNING``: atomic on PostgreSQL (the conflicting row is locked) and on SQLite
(``BEGIN IMMEDIATE``), so two workers counting the same event at once get 5 and 6, never 5
twice. A subject's window starts at its first event and its count starts over once the window
has passed; rows past their window are deleted at most once a minute per counter.

Users: the login limits (``bot.web.login_limits``) and the probe audit (``bot.web.probes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import Engine, and_, case, delete, literal, or_, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.infra.clock import Clock, UtcDateTime, utc_now
from bot.registry.sessions import write_session
from bot.web.models import LoginCount

#: How often a counter deletes the rows whose window has passed.
PURGE_EVERY = dt.timedelta(minutes=1)


class Kind(StrEnum):
    """What a count's subject is (at most 8 characters: the column's width)."""

    #: Failed logins of one (user name, address) pair.
    PAIR = "pair"
    #: Failed logins of a user name from anywhere.
    USER = "user"
    #: Failed logins from an address for any name.
    ADDRESS = "address"
    #: Refused logins of a blocked pair.
    REFUSED = "refused"
    #: A hospital viewer asking for another hospital's things.
    PROBE = "probe"


Subject = tuple[Kind, str]


class WindowCounts:
    """The ``login_count`` rows (synchronous: call through the database gateway, or from a
    thread that is not running the event loop)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._now = clock
        self._purged_at: dt.datetime | None = None

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
        one transaction (the enclosing ``transaction`` if any); returns each subject's count
        including this one. Callers pass kinds in one order: two racing events lock their rows
        in that order and cannot deadlock on PostgreSQL."""
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

    def purge_if_due(self) -> int:
        """``purge`` at most once per ``PURGE_EVERY`` (call it after counting, outside the
        count's transaction: a purge inside it could deadlock with another worker's count on
        PostgreSQL). Two threads racing here may both purge: harmless."""
        now = self._now()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return 0
        self._purged_at = now
        return self.purge()
