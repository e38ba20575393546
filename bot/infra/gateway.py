"""The one way async code reaches the database: ``await db.read(fn)`` / ``await db.write(fn)``.

Every store is synchronous (SQLAlchemy sessions); the event loop must never run one of their
statements, or a locked SQLite file (busy timeout 30 s) or a PostgreSQL round trip stalls every
chat, every long poll and Slack's 3-second acknowledgement. ``fn`` runs on this gateway's own
threads, never the answer engine's (``asyncio.to_thread``'s default executor):

* SQLite: one writer thread, so writes queue here instead of on the file lock (SQLite allows
  one writer anyway), and a few reader threads (WAL lets them read beside the writer);
* PostgreSQL and other servers: one pool of threads, as many as the engine's connection pool,
  for reads and writes alike.

``fn`` is a plain callable doing whole units of work (a store method, a small closure); results
it returns must be usable after its session closed (stores return detached rows).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")
P = ParamSpec("P")

#: Threads reading beside SQLite's single writer.
SQLITE_READERS = 4
#: Threads for a server database when its pool size is unknown.
SERVER_THREADS = 8


class Database:
    """The engine plus the threads its statements run on (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "sqlite":
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="db-write")
            self._reader = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="db-read")
        else:
            size = getattr(engine.pool, "size", lambda: SERVER_THREADS)()
            self._writer = self._reader = ThreadPoolExecutor(
                max(int(size), 1), thread_name_prefix="db"
            )

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a unit of reads off the loop."""
        return await self._run(self._reader, fn)

    async def write(self, fn: Callable[[], T]) -> T:
        """Run a unit of work that writes (reads inside it included) off the loop; on SQLite
        on the single writer thread, in order of arrival."""
        return await self._run(self._writer, fn)

    async def reading(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``read`` of ``fn(*args, **kwargs)``: the call form of a store method."""
        return await self.read(functools.partial(fn, *args, **kwargs))

    async def writing(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``write`` of ``fn(*args, **kwargs)``: the call form of a store method (never
        ``asyncio.to_thread``: on SQLite a write must wait for the single writer thread)."""
        return await self.write(functools.partial(fn, *args, **kwargs))

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # log context and the like follow the work
        return await loop.run_in_executor(executor, context.run, fn)

    def close(self) -> None:
        """Finish queued work and stop the threads (the engine stays usable)."""
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
