"""Fixtures for the ticket and registry stores, on SQLite and on PostgreSQL (``db_url`` and
``make_db`` come from ``tests/databases.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.infra.gateway import Database
from bot.registry import RegistryStore
from bot.tickets import Ticket, TicketStore

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
