"""SLA in the service report: whether each ticket met its targets (the one rule every report,
export and review judges "overdue" by), and met/breached per month, hospital and urgency.

A ticket is judged against each target (accept, resolve) by

* its SLA clock of that kind, if it has one: the minutes and way of counting the clock started
  with (``SlaClocks.start`` copies them, so a later change of the hospital's target does not
  rewrite history), its due time moved by pauses, its breach;
* else (SLA off, or a ticket older than the clocks) its hospital contract's own target for its
  urgency if set, else the default (``[reports.targets]``, counted as ``[sla] working_time``
  says), counted from its opening as a clock would have been (no pauses).

A clock (or a ticket judged without one) is

* breached: its breach fired (``breached_at``), or it stopped (or was left paused) after its
  due time, or it is still running past it (the worker had not fired yet);
* met: stopped (accepted, resolved or closed) by its due time — time spent waiting on the
  hospital (paused) moved the due time, so it does not count against the target;
* running: neither yet (open, not overdue, or paused in time).

The SLA达成 table counts clocks only, each in the local month its clock started in. Met rate =
met / (met + breached): running clocks are not judged yet.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from sqlalchemy import Connection, Engine, select
from sqlmodel import col

from bot.sla.clocks import SlaClocks
from bot.sla.models import ClockKind, SlaClock
from bot.sla.targets import Target
from bot.tickets.models import OPEN_STATUSES, URGENCIES, Ticket


class TargetSource(StrEnum):
    """Where a ticket's target came from."""

    CLOCK = "clock"  # the ticket's SLA clock
    OWN = "own"  # its hospital contract's own target
    DEFAULT = "default"  # [reports.targets]

    @property
    def label(self) -> str:
        return {"clock": "SLA 计时", "own": "合同目标", "default": "默认目标"}[self.value]


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


class Clock(NamedTuple):
    """What a report reads of an ``sla_clock`` row."""

    ticket_id: int
    kind: str
    target_minutes: int
    working_time: bool
    started_at: dt.datetime
    due_at: dt.datetime
    paused_at: dt.datetime | None
    stopped_at: dt.datetime | None
    breached_at: dt.datetime | None


_CLOCK_COLUMNS = [col(getattr(SlaClock, f)) for f in Clock._fields]


class SlaOutcome(StrEnum):
    """A target's verdict (see the module's definitions)."""

    MET = "met"
    BREACHED = "breached"
    RUNNING = "running"


def outcome(c: Clock, now: dt.datetime) -> SlaOutcome:
    """Met, breached or running (see the module's definitions)."""
    return _outcome(c.due_at, c.paused_at, c.stopped_at, c.breached_at, now)


def _outcome(
    due_at: dt.datetime,
    paused_at: dt.datetime | None,
    stopped_at: dt.datetime | None,
    breached_at: dt.datetime | None,
    now: dt.datetime,
) -> SlaOutcome:
    end = paused_at or stopped_at
    if breached_at is not None or (end or now) > due_at:
        return SlaOutcome.BREACHED
    return SlaOutcome.MET if stopped_at is not None else SlaOutcome.RUNNING


class Opened(Protocol):
    """What the rule reads of a ticket (a ``Ticket`` row, or the report's narrower tuple)."""

    @property
    def hospital_id(self) -> str: ...
    @property
    def urgency(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def accepted_at(self) -> dt.datetime | None: ...
    @property
    def completed_at(self) -> dt.datetime | None: ...
    @property
    def closed_at(self) -> dt.datetime | None: ...


@dataclass(frozen=True)
class Verdict:
    """One target of one ticket (accept or resolve) and how the ticket did against it."""

    minutes: int
    working_time: bool
    source: TargetSource
    due_at: dt.datetime
    outcome: SlaOutcome

    @property
    def basis(self) -> str:
        return basis(self.source, self.working_time)


@dataclass(frozen=True)
class TicketSla:
    """A ticket's two verdicts: overdue (超时) if either target was breached."""

    accept: Verdict
    resolve: Verdict

    @property
    def late(self) -> bool:
        return SlaOutcome.BREACHED in (self.accept.outcome, self.resolve.outcome)

    @property
    def target_text(self) -> str:
        """The targets the ticket was judged by, in one cell: 15 / 240 分钟（SLA 计时，全天计时）."""
        a, r = self.accept, self.resolve
        if a.basis == r.basis:
            return f"{a.minutes} / {r.minutes} 分钟（{a.basis}）"
        return f"受理 {a.minutes} 分钟（{a.basis}）；解决 {r.minutes} 分钟（{r.basis}）"


def basis(source: TargetSource, working_time: bool) -> str:
    """Where a target came from and how it counts, as the report says it: 合同目标，只计工作时间."""
    return f"{source.label}，{'只计工作时间' if working_time else '全天计时'}"


def source_of(target: Target) -> TargetSource:
    """Where a target that is not a clock's came from."""
    return TargetSource.OWN if target.own else TargetSource.DEFAULT


class SlaJudge:
    """The rule of the module's doc, for one report: the hospitals' own targets are read once
    (one query), then each ticket is judged with its clocks (``opened_clocks``)."""

    def __init__(self, clocks: SlaClocks, hospital_ids: Iterable[str]) -> None:
        self._clocks = clocks
        self._targets = clocks.targets(sorted(set(hospital_ids)))

    def target(self, hospital_id: str, urgency: str) -> Target:
        """The hospital contract's own target for the urgency, else the default."""
        return self._targets.get((hospital_id, urgency)) or self._clocks.default_target(urgency)

    def default(self, urgency: str) -> Target:
        return self._clocks.default_target(urgency)

    def owning(self, urgency: str) -> int:
        """How many of the hospitals have a target of their own for the urgency."""
        return sum(1 for (_, u), t in self._targets.items() if u == urgency and t.own)

    def __call__(self, ticket: Opened, clocks: Mapping[str, Clock], now: dt.datetime) -> TicketSla:
        """The ticket's verdicts; ``clocks``: its clocks by kind (none: judged by the target)."""
        target = self.target(ticket.hospital_id, ticket.urgency)
        accept, resolve = ClockKind.ACCEPT, ClockKind.RESOLVE
        return TicketSla(
            self._verdict(ticket, accept, clocks.get(accept.value), target, now),
            self._verdict(ticket, resolve, clocks.get(resolve.value), target, now),
        )

    def _verdict(
        self, t: Opened, kind: ClockKind, clock: Clock | None, target: Target, now: dt.datetime
    ) -> Verdict:
        if clock is not None:
            c = clock
            return Verdict(
                c.target_minutes, c.working_time, TargetSource.CLOCK, c.due_at, outcome(c, now)
            )
        accept = kind == ClockKind.ACCEPT
        minutes = target.accept_minutes if accept else target.resolve_minutes
        due = self._clocks.worktime.add(t.created_at, minutes, target.working_time)
        stopped = t.accepted_at if accept else t.completed_at
        if stopped is None and t.status not in OPEN_STATUSES:
            stopped = t.closed_at or now  # where ``SlaClocks.settle`` stops a clock
        verdict = _outcome(due, None, stopped, None, now)
        return Verdict(minutes, target.working_time, source_of(target), due, verdict)


def opened_clocks(
    conn: Connection, hospital_id: str | None, start: dt.datetime, end: dt.datetime
) -> dict[int, dict[str, Clock]]:
    """The clocks of the tickets opened in [start, end) (of one hospital, or all), by ticket
    and kind, in one query."""
    query = (
        select(*_CLOCK_COLUMNS)
        .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
        .where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    )
    if hospital_id is not None:
        query = query.where(col(Ticket.hospital_id) == hospital_id)
    out: dict[int, dict[str, Clock]] = {}
    for row in conn.execute(query):
        c = Clock._make(row)
        out.setdefault(c.ticket_id, {})[c.kind] = c
    return out


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
    query = (
        select(*_CLOCK_COLUMNS, col(Ticket.hospital_id), col(Ticket.urgency))
        .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
        .where(col(SlaClock.started_at) >= start, col(SlaClock.started_at) < end)
    )
    if hospital_id is not None:
        query = query.where(col(Ticket.hospital_id) == hospital_id)
    with engine.connect() as conn:
        clocks = [(Clock._make(row[:-2]), row[-2], row[-1]) for row in conn.execute(query)]
    counts: defaultdict[tuple[int, str, str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(SlaOutcome, 0)
    )
    for c, hospital, urgency in clocks:
        counts[(month_of(c.started_at), hospital, urgency, c.kind)][outcome(c, now)] += 1
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
