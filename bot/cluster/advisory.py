"""Serialise a piece of work across processes on PostgreSQL: a session-level advisory lock.

Check-then-insert work (the KB import at start, the registry's sync from config.toml) run by
two workers starting at once on a fresh database would both find a row missing and both insert
it; the second dies on a unique violation. Taking a named advisory lock around such work makes
the second wait and then find the rows. SQLite needs nothing: one process per database (see
``instance_lock``), and SQLite has one writer anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable 32-bit key for ``name`` (advisory locks are keyed by integers)."""
    return zlib.crc32(f"hisbot:{name}".encode())


@contextmanager
def serialized(engine: Engine, name: str) -> Iterator[None]:
    """Hold the advisory lock ``name`` for the block, waiting for another holder to finish
    (blocking: call it off the event loop). A no-op on other databases."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(name)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()  # the lock is the session's, not the transaction's
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
