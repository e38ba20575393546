"""``UtcDateTime``: stores UTC and hands back aware UTC datetimes, on SQLite (which keeps no
zone) and on PostgreSQL, for the naive-storage columns the migrations made and for
``timestamptz`` ones; stores write aware times from their clock and read them back aware."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.engine import Engine

from bot.infra.clock import UtcDateTime, as_utc, utc_now
from bot.tickets import Ticket, TicketStore
from tests.tickets.conftest import FakeClock

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def table(metadata: MetaData) -> Table:
    return Table(
        "clock_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("naive_stored", UtcDateTime()),
        Column("aware_stored", UtcDateTime(timezone=True)),
    )


def test_the_column_type_returns_aware_utc(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    metadata = MetaData()
    probe = table(metadata)
    metadata.create_all(engine)
    local = dt.datetime(2026, 6, 1, 9, 30, tzinfo=SHANGHAI)
    with engine.begin() as conn:
        conn.execute(insert(probe).values(id=1, naive_stored=local, aware_stored=local))
        # a row written before the type (or by hand): naive, taken as UTC
        naive = dt.datetime(2026, 6, 1, 1, 30)
        conn.execute(insert(probe).values(id=2, naive_stored=naive, aware_stored=naive))
    with engine.connect() as conn:
        rows = conn.execute(select(probe).order_by(probe.c.id)).all()
        # stored as UTC, not as the local wall clock it was given in
        raw = conn.execute(text("SELECT naive_stored FROM clock_probe WHERE id = 1")).scalar()
        cutoff = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)
        later = conn.execute(select(probe.c.id).where(probe.c.naive_stored > cutoff)).all()
    expected = dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)
    for row in rows:
        for value in (row.naive_stored, row.aware_stored):
            assert value == expected and value.utcoffset() == dt.timedelta(0)
            assert value.tzinfo is not None
    assert "01:30" in str(raw)
    assert [r.id for r in later] == [1, 2]  # aware bounds compare with stored UTC


def test_stores_write_aware_times_and_read_them_back_aware(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket], store: TicketStore
) -> None:
    clock.set(dt.datetime(2026, 6, 1, 9, 30, tzinfo=SHANGHAI))
    number = open_ticket().number
    ticket = store.get(number)
    assert ticket.created_at == dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)
    assert all(e.at.tzinfo is not None for e in store.events(number))


def test_the_clock_and_the_conversion_are_aware_utc() -> None:
    assert utc_now().utcoffset() == dt.timedelta(0)
    assert as_utc(dt.datetime(2026, 6, 1, 9, 30, tzinfo=SHANGHAI)) == dt.datetime(
        2026, 6, 1, 1, 30, tzinfo=dt.UTC
    )
    assert as_utc(dt.datetime(2026, 6, 1, 1, 30)).tzinfo is dt.UTC


def test_null_stays_null(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    metadata = MetaData()
    probe = table(metadata)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(probe).values(id=1, naive_stored=None, aware_stored=None))
        row = conn.execute(select(probe)).one()
    assert row.naive_stored is None and row.aware_stored is None
