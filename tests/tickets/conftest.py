"""Fixtures for the ticket and registry stores, on SQLite and on PostgreSQL.

``db_url`` gives every test a database of its own: a fresh SQLite file, or a fresh schema in the
PostgreSQL named by ``HISBOT_TEST_PG_URL`` (start one with ``scripts/postgres.sh``). Without that
variable the PostgreSQL cases are skipped, saying so; CI always sets it.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, create_mock_engine, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlmodel import SQLModel

from bot.infra.db import make_engine
from bot.infra.gateway import Database
from bot.migrations import schema_metadata
from bot.registry import RegistryStore
from bot.tickets import Ticket, TicketStore

PG_ENV = "HISBOT_TEST_PG_URL"
START = dt.datetime(2026, 3, 2, 8, 0, 0, tzinfo=dt.UTC)


class FakeClock:
    """A clock that moves only when told to (aware UTC, like the real one)."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now

    def set(self, value: dt.datetime) -> None:
        self.now = value


def _pg_base_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(
            f"PostgreSQL case skipped: {PG_ENV} is not set "
            "(run `export HISBOT_TEST_PG_URL=$(scripts/postgres.sh)` as root to include it)"
        )
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the parametrised kind, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hisbot.db'}"
        return
    base = _pg_base_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


#: ``create_all``'s statements per dialect name, recorded by the first test that needs them.
_SCHEMA_DDL: dict[str, tuple[str, ...]] = {}


def schema_ddl(dialect: Dialect) -> tuple[str, ...]:
    """The statements ``create_all`` runs on an empty database of ``dialect`` (tables, indexes,
    types), recorded once per run: every test then creates the schema in one go, without
    create_all's per-table existence checks and compiling."""
    if dialect.name not in _SCHEMA_DDL:
        names = set(schema_metadata().tables)
        tables = [t for t in SQLModel.metadata.sorted_tables if t.name in names]
        statements: list[str] = []

        def record(sql: ExecutableDDLElement, *_: object, **__: object) -> None:
            statements.append(str(sql.compile(dialect=dialect)).strip())

        mock = create_mock_engine(make_url(f"{dialect.name}+{dialect.driver}://"), record)
        SQLModel.metadata.create_all(mock, tables=tables, checkfirst=False)
        _SCHEMA_DDL[dialect.name] = tuple(statements)
    return _SCHEMA_DDL[dialect.name]


@pytest.fixture
def make_db(db_url: str) -> Iterator[Callable[..., Engine]]:
    """``make_db(create=True)``: an engine on the test database (the project's ``make_engine``:
    WAL and foreign keys on SQLite), with the schema's tables created unless ``create=False``.
    Every engine is disposed after the test."""
    engines: list[Engine] = []

    def factory(create: bool = True) -> Engine:
        engine = make_engine(db_url, create_tables=False)
        engines.append(engine)
        if create:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN")  # one transaction, not one per CREATE
                    for statement in schema_ddl(engine.dialect):
                        conn.exec_driver_sql(statement)
                else:  # one round trip
                    conn.exec_driver_sql(";\n".join(schema_ddl(engine.dialect)))
                conn.commit()
        return engine

    yield factory
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(make_db: Callable[..., Engine]) -> Engine:
    return make_db()


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    """The database gateway over ``engine`` (closed after the test)."""
    gateway = Database(engine)
    yield gateway
    gateway.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(engine: Engine, clock: FakeClock) -> RegistryStore:
    """Two hospitals with a chat each; engineers e01, e02 (engineer), e09 (lead), e05
    (broadcaster only)."""
    reg = RegistryStore(engine, clock)
    reg.add_engineer("e01", "张工", ["engineer"])
    reg.add_engineer("e02", "李工", ["engineer"])
    reg.add_engineer("e09", "王组长", ["engineer", "lead"])
    reg.add_engineer("e05", "通知员", ["broadcaster"])
    reg.add_hospital("h001", "市第一人民医院", "华东", "5.2", ["门诊", "住院"], "e01")
    reg.add_hospital("h002", "县中医院", "华南", "4.8", ["门诊"])
    reg.add_chat("telegram", -1001001, "h001", "一院信息科")
    reg.add_chat("slack", "C123", "h002", "县中医院")
    return reg


@pytest.fixture
def store(engine: Engine, clock: FakeClock, registry: RegistryStore) -> TicketStore:
    return TicketStore(engine, clock)


@pytest.fixture
def open_ticket(store: TicketStore) -> Callable[..., Ticket]:
    """Open a ticket for h001 from its Telegram group; keyword arguments override."""
    counter = iter(range(100, 10_000))

    def _open(**overrides: Any) -> Ticket:
        message_id = next(counter)
        kwargs: dict[str, Any] = {
            "hospital_id": "h001",
            "reporter_platform": "telegram",
            "reporter_user_id": 7001,
            "reporter_name": "信息科小刘",
            "source_platform": "telegram",
            "source_chat_id": -1001001,
            "source_message_id": message_id,
            "question": "门诊收费站打印发票时提示打印机脱机",
            "category": "usage",
            "urgency": "P2",
        }
        kwargs.update(overrides)
        return store.open_ticket(**kwargs)

    return _open
