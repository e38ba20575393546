"""Time: one ``Clock`` returning aware UTC, and one column type that keeps it aware.

Every "now" in the bot comes from a ``Clock`` passed in (tests move time without sleeping);
every datetime in the code is aware and in UTC, and is shown in a local zone only at the edge
(``[reports] timezone``, ``[duty] timezone``). ``UtcDateTime`` stores UTC and always hands
back aware datetimes, on SQLite (which keeps no zone) and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


class Clock(Protocol):
    """Returns the current time, aware, in UTC."""

    def __call__(self) -> dt.datetime: ...


def utc_now() -> dt.datetime:
    """The default clock: the wall clock, aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as aware UTC; a naive value (a row written before this type, a parsed
    timestamp without offset) is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp column stored as UTC (``TIMESTAMP WITHOUT TIME ZONE`` by default, as the
    migrations created them; ``timezone=True`` for ``TIMESTAMP WITH TIME ZONE``) that always
    returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def __init__(self, timezone: bool = False) -> None:
        super().__init__(timezone=timezone)
        self._aware_storage = timezone

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc if self._aware_storage else utc.replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else as_utc(value)


def utc_field(*, timezone: bool = False, **kwargs: Any) -> Any:
    """A model field stored as ``UtcDateTime``: UTC in the table (``timezone``: as
    ``TIMESTAMP WITH TIME ZONE``, as the broadcasts' and exchanges' migrations made them),
    aware in Python."""
    return Field(sa_type=UtcDateTime(timezone=timezone), **kwargs)
