"""One ``hisbot run`` per SQLite database.

Two processes on one SQLite file fight: both poll Telegram (409 conflicts), both answer, both
post the desk cards. SQLite is the single-process default, so a second ``hisbot run`` refuses
to start, naming the one that runs. The lock is an OS file lock (``flock``) on ``<db>.lock``
held by the running process: the kernel drops it when that process ends however it ends
(``kill -9``, a crash, a power cut), so a dead process never leaves a stale lock behind. The
file also holds the owner's pid, host and start time — only for the message: the lock, not the
file's content, decides.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.infra.clock import Clock, as_utc


class AlreadyRunning(Exception):
    """Another live process holds the database: one line for the operator."""


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: dt.datetime

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started:%Y-%m-%d %H:%M:%S} UTC"

    def to_text(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "started": self.started.isoformat()})

    @classmethod
    def from_text(cls, text: str) -> Owner | None:
        """The owner written by ``to_text``; None for an empty or foreign file."""
        try:
            data = json.loads(text)
            return cls(
                int(data["pid"]), str(data["host"]), dt.datetime.fromisoformat(data["started"])
            )
        except (ValueError, KeyError, TypeError):
            return None


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # not a URL at all: opening the database says so, in one line
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class InstanceLock:
    """Held from ``acquire`` until ``release`` (or the process's end)."""

    def __init__(self, path: Path, fd: int, owner: Owner) -> None:
        self.path = path
        self.owner = owner
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path, clock: Clock) -> InstanceLock:
        """Lock ``<database>.lock`` or raise ``AlreadyRunning`` naming its holder. Blocking
        file I/O: call it off the event loop."""
        path = database.with_name(database.name + ".lock")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Owner.from_text(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise AlreadyRunning(
                f"{database} is already served by hisbot run ({who}); stop it first — one "
                "process per SQLite database (several workers need PostgreSQL)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        owner = Owner(os.getpid(), socket.gethostname(), as_utc(clock()))
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.to_text().encode(), 0)
        return cls(path, fd, owner)

    def release(self) -> None:
        """Unlock (the file stays: removing it would let a third process lock a new file
        while a second still waits on the old one). Idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock


def hold_instance(storage_url: str, clock: Clock) -> InstanceLock | None:
    """The instance lock of a SQLite URL (None for a server database, where several workers
    share the work under leases instead)."""
    database = sqlite_file(storage_url)
    return InstanceLock.acquire(database, clock) if database is not None else None
