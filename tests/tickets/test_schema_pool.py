"""The PostgreSQL test databases' schema pool (``tests/databases.py``): a test that takes a
pooled schema must see exactly what a freshly built one would show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.infra.db import make_engine
from tests.databases import SchemaPool, pg_base_url, schema_url


@pytest.fixture
def pool() -> Iterator[SchemaPool]:
    pool = SchemaPool(create_engine(pg_base_url(), poolclass=NullPool))
    yield pool
    pool.close()


def _build(pool: SchemaPool) -> str:
    schema = pool.fresh()
    engine = make_engine(schema_url(schema), create_tables=False)
    pool.build_into(schema, engine)
    engine.dispose()
    return schema


def _run(schema: str, *statements: str) -> list[object]:
    engine = make_engine(schema_url(schema), create_tables=False)
    try:
        with engine.begin() as conn:
            results = [conn.execute(text(s)) for s in statements]
            return [r.scalar() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


def test_a_pooled_schema_comes_back_empty_with_its_sequences_restarted(pool: SchemaPool) -> None:
    first = _build(pool)
    _run(
        first,
        "INSERT INTO hospital (id, name, region, his_version, created_at, updated_at) "
        "VALUES ('h001', '一院', '华东', '5.2', now(), now())",
        "INSERT INTO ticket_counter (year, last) VALUES (2026, 7)",
        "SELECT nextval(pg_get_serial_sequence('ticket', 'id'))",
    )
    pool.give_back(first)
    assert len(pool.pooled) == 1
    second = _build(pool)  # the pooled one, renamed
    assert pool.pooled == ()
    counts = _run(
        second,
        "SELECT count(*) FROM hospital",
        "SELECT count(*) FROM ticket_counter",
        "SELECT nextval(pg_get_serial_sequence('ticket', 'id'))",
    )
    assert counts == [0, 0, 1]
    pool.give_back(second)


@pytest.mark.parametrize(
    "change",
    [
        "CREATE INDEX extra ON ticket (question)",
        "ALTER TABLE ticket ADD COLUMN extra int",
        "ALTER TABLE ticket ALTER COLUMN question DROP NOT NULL",
        "CREATE TABLE extra (id int)",
        "ALTER TABLE ticket_event DISABLE TRIGGER ticket_event_append_only",
    ],
)
def test_a_schema_a_test_changed_is_dropped_not_pooled(pool: SchemaPool, change: str) -> None:
    schema = _build(pool)
    _run(schema, change)
    pool.give_back(schema)
    assert pool.pooled == ()
    assert _run(schema, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'") == [0]
