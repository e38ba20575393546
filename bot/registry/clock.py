"""Time for the registry and ticket stores: naive UTC datetimes, from an injectable clock.

Every timestamp these tables hold is naive and in UTC (the project's convention, see
``kb_index/store.py``); columns are declared as plain ``DateTime`` so the database never
converts them. Stores never read the wall clock themselves: they call the ``Clock`` they were
given, so tests drive time with a fake clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import DateTime
from sqlmodel import Field

#: A callable returning "now" as a naive UTC datetime.
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The default clock: the current time, naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as naive UTC: an aware datetime is converted, a naive one is taken as UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def utc_field(**kwargs: Any) -> Any:
    """A naive-UTC timestamp column (``TIMESTAMP WITHOUT TIME ZONE``).

    The installed SQLModel maps a bare ``datetime`` annotation to its ``UTCDateTime`` type,
    which rejects naive values; this keeps the project's naive-UTC convention explicit.
    """
    return Field(sa_type=DateTime(timezone=False), **kwargs)
