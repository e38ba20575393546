"""Database engine: one SQLAlchemy engine per process, from the ``[storage] url`` setting.

SQLite is the embedded default; any SQLAlchemy URL (``postgresql+psycopg://…``) works without
code changes because every table is a SQLModel class and every query goes through SQLAlchemy.
The schema is created and upgraded by Alembic (``bot/migrations``), never by ``create_all``.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlmodel import create_engine

from bot.privacy.gate import guard_storage

#: How long a SQLite connection waits for another's write lock before "database is locked":
#: long enough for a worker starting while another migrates on a loaded machine.
SQLITE_BUSY_TIMEOUT_S = 30


def private_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only (0600; a new folder 0700), and
    tighten an existing one with its WAL and shared-memory files: they hold patient data.
    SQLite creates the WAL and -shm files with the database file's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)


class StorageError(Exception):
    """The storage URL is unusable or its database unreachable: one line for the operator
    (the URL's password is never in it)."""


def shown_url(url: str) -> str:
    """``url`` as it may be printed: the password masked, an unparsable one summarised."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable)"


def make_engine(url: str, create_tables: bool = True) -> Engine:
    """Engine for ``url``; a SQLite file's folder is created, and WAL mode keeps readers
    (the web console, the chat adapters) from blocking on a writer. A malformed URL, an
    unknown driver or a database that cannot be reached raises ``StorageError``."""
    try:
        return _make_engine(url, create_tables)
    except NoSuchModuleError:
        raise StorageError(
            f"[storage] url {shown_url(url)}: unknown database driver {make_url(url).drivername!r}"
        ) from None
    except ArgumentError:
        raise StorageError(
            f"[storage] url {shown_url(url)} is not a database URL "
            "(e.g. sqlite:///data/hisbot.db or postgresql+psycopg://user@host/db)"
        ) from None
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StorageError(f"cannot open the database {shown_url(url)}: {reason}") from None
    except OSError as exc:
        raise StorageError(f"cannot open the database {shown_url(url)}: {exc}") from None


def _make_engine(url: str, create_tables: bool) -> Engine:
    connect_args: dict[str, object] = {}
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            private_sqlite_file(Path(path))
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
    engine = create_engine(
        url, connect_args=connect_args, pool_pre_ping=not url.startswith("sqlite")
    )
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit no longer waits for an fsync (8 ms each on this disk, on
            # the event loop). Still consistent after a crash; an OS crash or power loss may
            # lose the last transactions — a PostgreSQL URL is the choice where that matters.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    guard_storage()  # personal text is masked on its way into any table
    if create_tables:
        from bot.migrations import upgrade_to_head  # lazy: it imports every model module

        upgrade_to_head(engine)
    return engine
