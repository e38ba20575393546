"""The clock store: start, settle, pause, resume, acknowledge, and claim what is due; and
the hospital contracts' own targets the clocks start with (``sla_target``).

Firing exactly once: a due step is claimed by a conditional UPDATE on the clock's
``next_fire_at``, and written as an ``sla_step`` row owned by this worker in the same
transaction, before anything is sent: two workers never both claim it, and one that dies
while carrying it out leaves it to another (``bot.sla.steps``), whose replay skips every send
already keyed in the outbox. Synchronous database work: coroutines run it in an executor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.cluster.claims import Claimant
from bot.infra.clock import as_utc
from bot.registry.models import Hospital
from bot.registry.sessions import read_session, write_session
from bot.sla.models import ClockKind, SlaClock, SlaTarget, Step
from bot.sla.settings import SlaSettings
from bot.sla.steps import Firing as Firing
from bot.sla.steps import record_step
from bot.sla.targets import Target, TargetError, check_target, check_urgency
from bot.sla.worktime import WorkTime
from bot.tickets.models import URGENCIES, Status, Ticket
from bot.web.settings import ServiceTargets


class SlaClocks:
    def __init__(
        self,
        engine: Engine,
        settings: SlaSettings,
        targets: ServiceTargets,
        worktime: WorkTime,
        claimant: Claimant | None = None,
    ) -> None:
        self._engine = engine
        #: This worker, the owner of the steps it claims.
        self.claimant = claimant or Claimant.alone()
        self.settings = settings
        self._targets = targets
        self.worktime = worktime

    def target(self, hospital_id: str, urgency: str) -> Target:
        """The hospital contract's own target for this urgency, else the default."""
        with read_session(self._engine) as s:
            return self._target_in(s, hospital_id, urgency)

    def _target_in(self, s: Session, hospital_id: str, urgency: str) -> Target:
        row = s.get(SlaTarget, (hospital_id, urgency))
        return _own(row) if row is not None else self.default_target(urgency)

    def default_target(self, urgency: str) -> Target:
        """``[reports.targets]``, counted as ``[sla] working_time`` says: what a hospital
        without a target of its own for this urgency gets."""
        return Target(
            self._targets.accept_minutes(urgency),
            self._targets.resolve_minutes(urgency),
            urgency in self.settings.working_time,
        )

    def targets(self, hospital_ids: Sequence[str]) -> dict[tuple[str, str], Target]:
        """Every urgency's target of these hospitals, by (hospital, urgency), in one query
        (the console's table)."""
        with read_session(self._engine) as s:
            rows = s.exec(
                select(SlaTarget).where(col(SlaTarget.hospital_id).in_(list(hospital_ids)))
            ).all()
        own = {(r.hospital_id, r.urgency): _own(r) for r in rows}
        return {
            (h, u): own.get((h, u)) or self.default_target(u)
            for h in hospital_ids
            for u in URGENCIES
        }

    def set_target(
        self,
        hospital_id: str,
        urgency: str,
        accept: int,
        resolve: int,
        working_time: bool | None = None,
    ) -> Target:
        """Give the hospital's contract its own target (``check_target``'s rules) and return
        it. ``working_time`` None keeps how time is counted now (the own target's, else the
        default's): a lead changing minutes does not silently change that. Tickets opened from
        now on get it; clocks already started keep the minutes they started with (until their
        ticket's urgency changes: ``retarget`` takes the target of that moment)."""
        check_target(urgency, accept, resolve)
        with write_session(self._engine) as s:
            _check_hospital(s, hospital_id)
            if working_time is None:
                working_time = self._target_in(s, hospital_id, urgency).working_time
            stored = SlaTarget(
                hospital_id=hospital_id,
                urgency=urgency,
                accept_minutes=accept,
                resolve_minutes=resolve,
                working_time=working_time,
            )
            s.merge(stored)  # the row, inserted or updated
        return _own(stored)

    def reset_target(self, hospital_id: str, urgency: str) -> Target | None:
        """Drop the hospital's own target: new tickets get the default again. Returns the
        target dropped (None: it had none)."""
        check_urgency(urgency)
        with write_session(self._engine) as s:
            _check_hospital(s, hospital_id)
            row = s.get(SlaTarget, (hospital_id, urgency))
            if row is None:
                return None
            s.delete(row)
            return _own(row)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, number: str, now: dt.datetime) -> list[SlaClock]:
        """Start the ticket's accept and resolve clocks (idempotent)."""
        now = as_utc(now)
        with read_session(self._engine) as s:
            ticket = _ticket(s, number)
        target = self.target(ticket.hospital_id, ticket.urgency)
        with write_session(self._engine) as s:
            existing = {c.kind for c in _clocks(s, ticket)}
            for kind, minutes in (
                (ClockKind.ACCEPT, target.accept_minutes),
                (ClockKind.RESOLVE, target.resolve_minutes),
            ):
                if kind in existing:
                    continue
                warn = self.worktime.add(
                    now, minutes * self.settings.warn_fraction, target.working_time
                )
                due = self.worktime.add(now, minutes, target.working_time)
                assert ticket.id is not None
                s.add(
                    SlaClock(
                        ticket_id=ticket.id,
                        kind=kind,
                        target_minutes=minutes,
                        working_time=target.working_time,
                        started_at=now,
                        warn_at=warn,
                        due_at=due,
                        next_fire_at=warn,
                    )
                )
        return self.for_ticket(number)

    def retarget(self, number: str, now: dt.datetime) -> list[SlaClock]:
        """The ticket's urgency changed: each clock still counting towards its target takes
        the new urgency's. Raised, it falls due by the new target counted from ``now`` if that
        is sooner (a raise never gives more time); lowered, it falls due as if the ticket had
        had the new urgency from the start (the bot's P1 that was one user's problem is judged
        as a P3). Breached and stopped clocks keep what happened to them."""
        now = as_utc(now)
        with read_session(self._engine) as s:
            ticket = _ticket(s, number)
        target = self.target(ticket.hospital_id, ticket.urgency)
        minutes = {
            ClockKind.ACCEPT: target.accept_minutes,
            ClockKind.RESOLVE: target.resolve_minutes,
        }
        fraction, w = self.settings.warn_fraction, target.working_time
        with write_session(self._engine) as s:
            changed = []
            for c in _clocks(s, ticket):
                m = minutes[ClockKind(c.kind)]
                if c.stopped_at is not None or c.breached_at is not None or m == c.target_minutes:
                    continue
                if m < c.target_minutes:
                    due = min(as_utc(c.due_at), self.worktime.add(now, m, w))
                    warn = min(as_utc(c.warn_at), self.worktime.add(now, m * fraction, w))
                else:
                    due = max(as_utc(c.due_at), self.worktime.add(as_utc(c.started_at), m, w))
                    warn = max(
                        as_utc(c.warn_at), self.worktime.add(as_utc(c.started_at), m * fraction, w)
                    )
                c.target_minutes, c.working_time, c.due_at = m, w, due
                if c.warned_at is None:
                    c.warn_at = warn
                if c.paused_at is None:
                    c.next_fire_at = _next_fire(c, now, self.settings.repeat_minutes)
                s.add(c)
                changed.append(c)
            return changed

    def settle(self, now: dt.datetime) -> int:
        """Stop the clocks whose ticket met them: accepted (accept clock), resolved or closed
        (both). Reads the ticket rows, so every way of claiming or resolving is covered."""
        now = as_utc(now)
        done = (Status.RESOLVED.value, Status.CLOSED.value)
        with write_session(self._engine) as s:
            rows = s.exec(
                select(SlaClock, Ticket)
                .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
                .where(col(SlaClock.stopped_at).is_(None))
                .where(
                    (col(Ticket.status).in_(done))
                    | (
                        (col(SlaClock.kind) == ClockKind.ACCEPT.value)
                        & col(Ticket.accepted_at).is_not(None)
                    )
                )
            ).all()
            for clock, ticket in rows:
                at = ticket.accepted_at if clock.kind == ClockKind.ACCEPT else ticket.completed_at
                clock.stopped_at = at or ticket.closed_at or now
                clock.next_fire_at = None
                s.add(clock)
            return len(rows)

    def claim_due(self, now: dt.datetime, limit: int = 100) -> list[Firing]:
        """Claim every step due at ``now``; each is returned to exactly one caller, ever."""
        now = as_utc(now)
        self.settle(now)
        with read_session(self._engine) as s:
            rows = s.exec(
                select(SlaClock, Ticket.number)
                .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
                .where(col(SlaClock.next_fire_at) <= now)
                .order_by(col(SlaClock.next_fire_at))
                .limit(limit)
            ).all()
        firings = []
        for clock, number in rows:
            firing = self._claim(clock, number, now)
            if firing is not None:
                firings.append(firing)
        return firings

    def _claim(self, clock: SlaClock, number: str, now: dt.datetime) -> Firing | None:
        assert clock.id is not None
        repeat = dt.timedelta(minutes=self.settings.repeat_minutes)
        values: dict[str, object]
        if clock.breached_at is None and clock.due_at <= now:
            step, page_no = Step.BREACH, 1
            values = {
                "breached_at": now,
                "warned_at": clock.warned_at or now,
                "pages": 1,
                "next_fire_at": now + repeat,
            }
        elif clock.breached_at is None:
            step, page_no = Step.WARN, 0
            values = {"warned_at": now, "next_fire_at": clock.due_at}
        else:
            step, page_no = Step.REPAGE, clock.pages + 1
            values = {"pages": page_no, "next_fire_at": now + repeat}
        firing = Firing(clock.id, number, ClockKind(clock.kind), step, clock.due_at, page_no)
        with write_session(self._engine) as s:
            claimed = s.execute(
                update(SlaClock)
                .where(
                    col(SlaClock.id) == clock.id, col(SlaClock.next_fire_at) == clock.next_fire_at
                )
                .values(**values)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]  # another worker took it
                return None
            step_id = record_step(s, clock.ticket_id, firing, self.claimant.owner, now)
        if step_id is None:  # recorded before (a clock rewound by hand): already carried out
            return None
        return dataclasses.replace(firing, step_id=int(step_id))

    def pause(self, number: str, now: dt.datetime) -> list[SlaClock]:
        """Waiting on the hospital: running clocks stop counting (no warning, no page)."""
        now = as_utc(now)
        with write_session(self._engine) as s:
            running = [
                c
                for c in _clocks(s, _ticket(s, number))
                if c.stopped_at is None and c.paused_at is None
            ]
            for c in running:
                c.paused_at, c.next_fire_at = now, None
                s.add(c)
            return running

    def resume(self, number: str, now: dt.datetime) -> list[SlaClock]:
        """The hospital answered: paused clocks go on with the time they had left."""
        now = as_utc(now)
        with write_session(self._engine) as s:
            paused = [
                c
                for c in _clocks(s, _ticket(s, number))
                if c.stopped_at is None and c.paused_at is not None
            ]
            for c in paused:
                assert c.paused_at is not None
                w = c.working_time
                c.due_at = self.worktime.add(
                    now, max(0.0, self.worktime.between(c.paused_at, c.due_at, w)), w
                )
                if c.warned_at is None:
                    c.warn_at = self.worktime.add(
                        now, max(0.0, self.worktime.between(c.paused_at, c.warn_at, w)), w
                    )
                c.paused_at = None
                c.next_fire_at = _next_fire(c, now, self.settings.repeat_minutes)
                s.add(c)
            return paused

    def acknowledge(self, number: str, engineer_id: str, now: dt.datetime) -> list[SlaClock]:
        """Someone has the breached ticket in hand: stop repeating its pages."""
        now = as_utc(now)
        with write_session(self._engine) as s:
            paging = [
                c
                for c in _clocks(s, _ticket(s, number))
                if c.breached_at is not None and c.acknowledged_at is None
            ]
            for c in paging:
                c.acknowledged_at, c.acknowledged_by, c.next_fire_at = now, engineer_id, None
                s.add(c)
            return paging

    # -- reading -------------------------------------------------------------------------------

    def for_ticket(self, number: str) -> list[SlaClock]:
        with read_session(self._engine) as s:
            return _clocks(s, _ticket(s, number))

    def for_tickets(self, ticket_ids: list[int]) -> dict[int, list[SlaClock]]:
        """The clocks of many tickets in one query (the console's list)."""
        out: dict[int, list[SlaClock]] = {}
        if not ticket_ids:
            return out
        with read_session(self._engine) as s:
            rows = s.exec(select(SlaClock).where(col(SlaClock.ticket_id).in_(ticket_ids))).all()
        for row in rows:
            out.setdefault(row.ticket_id, []).append(row)
        return out


def _own(row: SlaTarget) -> Target:
    return Target(row.accept_minutes, row.resolve_minutes, row.working_time, own=True)


def _check_hospital(s: Session, hospital_id: str) -> None:
    if s.get(Hospital, hospital_id) is None:
        raise TargetError(f"no hospital {hospital_id}", f"没有这家医院：{hospital_id}。")


def _next_fire(c: SlaClock, now: dt.datetime, repeat_minutes: int) -> dt.datetime | None:
    if c.stopped_at is not None or c.paused_at is not None or c.acknowledged_at is not None:
        return None
    if c.breached_at is not None:
        return now + dt.timedelta(minutes=repeat_minutes)
    return c.due_at if c.warned_at is not None else c.warn_at


def _ticket(s: Session, number: str) -> Ticket:
    from bot.tickets.numbering import normalise_number
    from bot.tickets.store import TicketNotFound

    try:
        number = normalise_number(number)
    except ValueError:
        raise TicketNotFound(number) from None
    ticket = s.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


def _clocks(s: Session, ticket: Ticket) -> list[SlaClock]:
    return list(
        s.exec(
            select(SlaClock).where(SlaClock.ticket_id == ticket.id).order_by(col(SlaClock.kind))
        ).all()
    )


def minutes_left(clock: SlaClock, worktime: WorkTime, now: dt.datetime) -> float:
    """Time left on the clock (negative: overdue); a paused clock shows what it had left."""
    end = clock.stopped_at or clock.paused_at or as_utc(now)
    return worktime.between(end, clock.due_at, clock.working_time)
