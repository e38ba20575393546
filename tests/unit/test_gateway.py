"""The database gateway (``bot.infra.gateway.Database``) and its enforcement (``tests/sql_guard.py``)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.infra.db import make_engine
from bot.infra.gateway import Database
from bot.registry import RegistryStore
from tests import sql_guard


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'bot.db'}")


async def test_sqlite_writes_run_on_one_thread_in_order_and_never_on_the_loop(
    engine: Engine,
) -> None:
    db = Database(engine)
    registry = RegistryStore(engine)
    loop_thread = threading.get_ident()
    writers: list[int] = []

    def add(n: int) -> int:
        writers.append(threading.get_ident())
        registry.add_hospital(f"h{n:03d}", f"医院{n}")
        return n

    done = await asyncio.gather(*(db.write(lambda n=n: add(n)) for n in range(20)))
    assert done == list(range(20))
    assert len(set(writers)) == 1 and loop_thread not in writers
    names = await db.read(lambda: [h.id for h in registry.list_hospitals()])
    assert sorted(names) == [f"h{n:03d}" for n in range(20)]
    reader = await db.read(threading.get_ident)
    assert reader not in (loop_thread, writers[0])
    db.close()


async def test_a_failing_unit_of_work_raises_in_the_caller(engine: Engine) -> None:
    db = Database(engine)

    def fail() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await db.write(fail)
    assert await db.write(lambda: 42) == 42  # the writer survives it
    db.close()


async def test_the_guard_flags_sql_run_by_the_bot_on_the_loop(engine: Engine) -> None:
    registry = RegistryStore(engine)
    db = Database(engine)
    await db.read(registry.list_hospitals)  # through the gateway: fine
    registry.list_hospitals()  # the test itself checking a result: fine
    assert sql_guard.violations == []

    ran = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_soon(registry.list_hospitals)  # a loop callback of the bot's code (a scheduler's)
    loop.call_soon(ran.set)
    await ran.wait()
    found = list(sql_guard.violations)
    sql_guard.violations.clear()  # reported here, not by the suite-wide fixture
    assert found and "list_hospitals" in found[0]
    db.close()
