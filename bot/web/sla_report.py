"""SLA met/breached per month, hospital and urgency, from the ``sla_clock`` rows.

A clock belongs to the local month its ticket's clock started in. It is

* breached: its breach fired (``breached_at``), or it stopped (or was left paused) after its
  due time, or it is still running past it (the worker had not fired yet);
* met: stopped (accepted, resolved or closed) by its due time — time spent waiting on the
  hospital (paused) moved the due time, so it does not count against the target;
* running: neither yet (open, not overdue, or paused in time).

Met rate = met / (met + breached): running clocks are not judged yet.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Engine, select
from sqlmodel import col

from bot.sla.models import ClockKind, SlaClock
from bot.tickets.models import URGENCIES, Ticket


@dataclass(frozen=True)
class SlaTally:
    met: int = 0
    breached: int = 0
    running: int = 0

    @property
    def met_rate(self) -> float | None:
        judged = self.met + self.breached
        return self.met / judged if judged else None


@dataclass(frozen=True)
class SlaRow:
    """The clocks of one month × hospital × urgency, accept and resolve apart."""

    month: int
    hospital_id: str
    hospital_name: str
    urgency: str
    accept: SlaTally
    resolve: SlaTally


class _Clock(NamedTuple):
    kind: str
    started_at: dt.datetime
    due_at: dt.datetime
    paused_at: dt.datetime | None
    stopped_at: dt.datetime | None
    breached_at: dt.datetime | None
    hospital_id: str
    urgency: str


def outcome(c: _Clock, now: dt.datetime) -> str:
    """ "met", "breached" or "running" (see the module's definitions)."""
    end = c.paused_at or c.stopped_at
    if c.breached_at is not None or (end or now) > c.due_at:
        return "breached"
    return "met" if c.stopped_at is not None else "running"


def sla_rows(
    engine: Engine,
    *,
    hospital_id: str | None,
    start: dt.datetime,
    end: dt.datetime,
    month_of: Callable[[dt.datetime], int],
    names: Mapping[str, str],
    now: dt.datetime,
) -> tuple[SlaRow, ...]:
    """One row per month, hospital and urgency that has clocks started in [start, end)
    (aware UTC), in that order."""
    fields = [col(getattr(SlaClock, f)) for f in _Clock._fields[:6]]
    query = (
        select(*fields, col(Ticket.hospital_id), col(Ticket.urgency))
        .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
        .where(col(SlaClock.started_at) >= start, col(SlaClock.started_at) < end)
    )
    if hospital_id is not None:
        query = query.where(col(Ticket.hospital_id) == hospital_id)
    with engine.connect() as conn:
        clocks = [_Clock._make(row) for row in conn.execute(query)]
    counts: defaultdict[tuple[int, str, str, str], dict[str, int]] = defaultdict(
        lambda: {"met": 0, "breached": 0, "running": 0}
    )
    for c in clocks:
        counts[(month_of(c.started_at), c.hospital_id, c.urgency, c.kind)][outcome(c, now)] += 1
    groups = sorted(
        {k[:3] for k in counts},
        key=lambda g: (g[0], g[1], URGENCIES.index(g[2]) if g[2] in URGENCIES else 99),
    )
    return tuple(
        SlaRow(
            month,
            hospital,
            names.get(hospital, hospital),
            urgency,
            SlaTally(**counts.get((month, hospital, urgency, ClockKind.ACCEPT.value), {})),
            SlaTally(**counts.get((month, hospital, urgency, ClockKind.RESOLVE.value), {})),
        )
        for month, hospital, urgency in groups
    )
