"""The test databases, for every test module (a plugin of ``tests/conftest.py``).

``db_url`` gives a test a database of its own: a fresh SQLite file, or a fresh schema in the
PostgreSQL named by ``HISBOT_TEST_PG_URL`` (start one with ``scripts/postgres.sh``). Without that
variable the PostgreSQL cases are skipped, saying so; CI always sets it. ``make_db()`` opens an
engine on it, with the tables.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, create_mock_engine, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlmodel import SQLModel

from bot.infra.db import make_engine
from bot.migrations import schema_metadata

PG_ENV = "HISBOT_TEST_PG_URL"


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        pytest.skip(
            f"PostgreSQL case skipped: {PG_ENV} is not set "
            "(run `export HISBOT_TEST_PG_URL=$(scripts/postgres.sh)` as root to include it)"
        )
    return url


def schema_url(schema: str) -> str:
    """The test PostgreSQL's URL with ``schema`` as the search path."""
    url = make_url(pg_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


class SchemaPool:
    """PostgreSQL schemas that already hold the tables, emptied, for the next test to take.

    Creating the ~60 tables and their indexes costs the server 0.2–0.4 s per test (nearly 200
    PostgreSQL cases). A test that asks ``make_db()`` for the tables instead gets a pooled
    schema renamed to its own name (instant); when it ends, its schema goes back to the pool
    only if its objects are still exactly the tables ``create_all`` made (a catalog
    fingerprint), with every row deleted and every sequence restarted — anything else
    (a migration, a dropped table, an added trigger) is dropped as before."""

    def __init__(self, admin: Engine) -> None:
        self._admin = admin
        self._built: list[str] = []
        self._built_fingerprint: str | None = None

    @property
    def pooled(self) -> tuple[str, ...]:
        """The built, emptied schemas waiting for a test."""
        return tuple(self._built)

    def fresh(self) -> str:
        """An empty schema of a new name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        with self._admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        return name

    def build_into(self, name: str, engine: Engine) -> None:
        """Give the empty schema ``name`` the tables: a pooled one renamed to it, or DDL."""
        if self._built:
            pooled = self._built.pop()
            with self._admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}"'))
                conn.execute(text(f'ALTER SCHEMA "{pooled}" RENAME TO "{name}"'))
            return
        with engine.connect() as conn:
            conn.exec_driver_sql(";\n".join(schema_ddl(engine.dialect)))  # one round trip
            conn.commit()
        if self._built_fingerprint is None:
            with self._admin.begin() as conn:
                self._built_fingerprint = _fingerprint(conn, name)

    def give_back(self, name: str) -> None:
        """Pool ``name`` emptied if it still holds exactly the built tables, else drop it."""
        with self._admin.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            if self._built_fingerprint and _fingerprint(conn, name) == self._built_fingerprint:
                _empty(conn, name)
                pooled = f"test_pool_{uuid.uuid4().hex[:12]}"
                conn.execute(text(f'ALTER SCHEMA "{name}" RENAME TO "{pooled}"'))
                self._built.append(pooled)
                return
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))

    def close(self) -> None:
        with self._admin.begin() as conn:
            for name in self._built:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self._admin.dispose()


def _fingerprint(conn: Connection, schema: str) -> str:
    """A digest of every object in ``schema`` (columns, indexes, constraints, triggers,
    sequences, views, functions, types), with the schema's own name taken out."""
    return str(
        conn.execute(
            text(
                """
SELECT md5(replace(coalesce(string_agg(x, ',' ORDER BY x), ''), :s, '')) FROM (
  SELECT 'c:' || c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
         || ':' || a.attnotnull::text || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS x
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = :s AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'i:' || indexname || ':' || indexdef
    FROM pg_indexes WHERE schemaname = :s
  UNION ALL SELECT 'k:' || con.conname || ':' || pg_get_constraintdef(con.oid)
    FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = :s
  UNION ALL SELECT 'r:' || c.relname || ':' || c.relkind::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s
  UNION ALL SELECT 't:' || tg.tgname || ':' || tg.tgenabled::text
    FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT tg.tgisinternal
  UNION ALL SELECT 'p:' || p.proname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s
  UNION ALL SELECT 'y:' || t.typname
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = :s AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
) AS objects
"""
            ),
            {"s": schema},
        ).scalar_one()
    )


@functools.cache
def _table_names() -> tuple[str, ...]:
    """The schema's tables, parents before children."""
    names = set(schema_metadata().tables)
    return tuple(t.name for t in SQLModel.metadata.sorted_tables if t.name in names)


def _empty(conn: Connection, schema: str) -> None:
    """Delete every row of ``schema``'s tables and restart its sequences, as if just built.

    Only the tables with rows; DELETE, children first — TRUNCATE makes new files for every
    table it cascades to (0.1 s a test) — except where a trigger refuses DELETE (the
    append-only audit tables): those are truncated, with what references them."""
    names = _table_names()
    probe = " UNION ALL ".join(
        f'SELECT \'{t}\' WHERE EXISTS (SELECT 1 FROM "{schema}"."{t}")' for t in names
    )
    filled = set(conn.execute(text(probe)).scalars())
    guarded = set(
        conn.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND NOT tg.tgisinternal"
            ),
            {"s": schema},
        ).scalars()
    )
    if truncated := [f'"{schema}"."{t}"' for t in names if t in filled & guarded]:
        conn.execute(text(f"TRUNCATE {', '.join(truncated)} CASCADE"))
    for table in reversed(names):
        if table in filled - guarded:
            conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))
    conn.execute(
        text(
            "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), 1, false) "
            "FROM pg_sequences WHERE schemaname = :s"
        ),
        {"s": schema},
    )


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[SchemaPool]:
    """This worker's pool of built schemas (dropped at the end of the run)."""
    pool = SchemaPool(create_engine(pg_base_url(), poolclass=NullPool))
    yield pool
    pool.close()


#: The schema behind each PostgreSQL test URL handed out (``make_db`` builds into it).
_SCHEMA_OF_URL: dict[str, str] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the parametrised kind, dropped (or pooled, see ``SchemaPool``)
    after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hisbot.db'}"
        return
    # asked for here, not as an argument: without PostgreSQL the pool skips, and must skip only
    # the PostgreSQL cases
    pool: SchemaPool = request.getfixturevalue("pg_schemas")
    schema = pool.fresh()
    rendered = schema_url(schema)
    _SCHEMA_OF_URL[rendered] = schema
    try:
        yield rendered
    finally:
        del _SCHEMA_OF_URL[rendered]
        pool.give_back(schema)


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
def make_db(request: pytest.FixtureRequest, db_url: str) -> Iterator[Callable[..., Engine]]:
    """``make_db(create=True)``: an engine on the test database (the project's ``make_engine``:
    WAL and foreign keys on SQLite), with the schema's tables created unless ``create=False``.
    Every engine is disposed after the test."""
    engines: list[Engine] = []

    def factory(create: bool = True) -> Engine:
        engine = make_engine(db_url, create_tables=False)
        engines.append(engine)
        if create and engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("BEGIN")  # one transaction, not one per CREATE
                for statement in schema_ddl(engine.dialect):
                    conn.exec_driver_sql(statement)
                conn.commit()
        elif create:
            pool: SchemaPool = request.getfixturevalue("pg_schemas")
            pool.build_into(_SCHEMA_OF_URL[db_url], engine)
        return engine

    yield factory
    for engine in engines:
        engine.dispose()
