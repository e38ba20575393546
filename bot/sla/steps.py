"""SLA steps as rows: what a clock is carrying out, and who is (``sla_step``).

A step (a warning, a breach's page, a repeated round, a P1's opening page) is written by the
transaction that claims it, owned by the claiming worker, and marked done once every send of
it is recorded in the outbox under keys derived from the step (``Firing.key``). A worker
that dies mid-step (a crash, ``kill -9``, a leader change) leaves the row pending under a dead
owner: the next round of whichever worker runs the clock worker takes it over and carries it
out again, and every send already keyed is skipped (``unknown`` ones are not re-sent but
audited). A step that fails is released for another try, and given up after
``MAX_STEP_ATTEMPTS``. A finished step's row goes with the retention job once its clock has
stopped (``purge``). Synchronous: coroutines call it in an executor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, exists, update
from sqlmodel import Session, col, select

from bot.cluster.claims import Claimant
from bot.cluster.insert_once import insert_new
from bot.infra.clock import as_utc
from bot.registry.sessions import delete_batch, write_session
from bot.sla.models import ClockKind, SlaClock, SlaStep, Step, StepState
from bot.tickets.models import Ticket

#: Failed attempts after which a step is given up (its clock goes on: the next round pages).
MAX_STEP_ATTEMPTS = 5


@dataclass(frozen=True)
class Firing:
    """A step one worker has claimed and must now carry out."""

    clock_id: int
    ticket_number: str
    kind: ClockKind
    step: Step
    due_at: dt.datetime
    #: 1 for the breach's page, 2… for the repeats.
    page_no: int
    #: Its ``sla_step`` row (0: not recorded, a tool's dry look).
    step_id: int = 0
    #: Taken over from a worker that died (or failed) while carrying it out.
    replay: bool = False

    @property
    def key(self) -> str:
        """The step's identity, prefix of its sends' outbox keys: one per round."""
        return step_key(self.ticket_number, self.kind, self.step, self.page_no)


def step_key(number: str, kind: ClockKind, step: Step, page_no: int) -> str:
    return f"sla:{number}:{kind.value}:{step.value}:{page_no}"


def record_step(
    session: Session, ticket_id: int, firing: Firing, owner: str, now: dt.datetime
) -> int | None:
    """Write the claimed step (in the claim's transaction); None when it exists already."""
    values: dict[str, Any] = {
        "ticket_id": ticket_id,
        "key": firing.key,
        "kind": firing.kind.value,
        "step": firing.step.value,
        "page_no": firing.page_no,
        "due_at": firing.due_at,
        "state": StepState.PENDING,
        "attempts": 0,
        "claimed_by": owner,
        "created_at": now,
    }
    step_id = insert_new(session, SlaStep, values)
    return None if step_id is None else int(step_id)


class SlaSteps:
    """``claimant``: this worker (default: the only process on the database)."""

    def __init__(self, engine: Engine, claimant: Claimant | None = None) -> None:
        self._engine = engine
        self._claimant = claimant or Claimant.alone()

    def open_page(self, number: str, now: dt.datetime) -> Firing | None:
        """Claim a P1's opening page (after its clocks started); None when it was claimed
        before (a replayed opening: the step is carried out, or taken over, from there)."""
        now = as_utc(now)
        with write_session(self._engine) as s:
            row = s.exec(
                select(SlaClock, Ticket)
                .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
                .where(Ticket.number == number, SlaClock.kind == ClockKind.ACCEPT.value)
            ).first()
            if row is None:
                return None
            clock, ticket = row
            assert clock.id is not None and ticket.id is not None
            firing = Firing(clock.id, number, ClockKind.ACCEPT, Step.P1, now, 0)
            step_id = record_step(s, ticket.id, firing, self._claimant.owner, now)
        return None if step_id is None else _with_id(firing, step_id)

    def take_over(self, now: dt.datetime, limit: int = 50) -> list[Firing]:
        """Claim the pending steps whose worker is dead (or that were released after a
        failure), oldest first; rows another worker is taking at this moment are skipped."""
        now = as_utc(now)
        with write_session(self._engine) as s:
            steps = list(
                s.exec(
                    select(SlaStep)
                    .where(
                        SlaStep.state == StepState.PENDING,
                        self._claimant.dead(SlaStep.claimed_by, now),
                    )
                    .order_by(col(SlaStep.id))
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).all()
            )
            if not steps:
                return []
            for step in steps:
                step.claimed_by = self._claimant.owner
                s.add(step)
            s.flush()
            numbers = dict(
                s.exec(
                    select(Ticket.id, Ticket.number).where(
                        col(Ticket.id).in_({step.ticket_id for step in steps})
                    )
                ).all()
            )
            out = []
            for step in steps:
                assert step.id is not None
                clock_id = s.exec(
                    select(SlaClock.id).where(
                        SlaClock.ticket_id == step.ticket_id, SlaClock.kind == step.kind
                    )
                ).one()
                assert clock_id is not None
                out.append(
                    Firing(
                        clock_id,
                        numbers[step.ticket_id],
                        ClockKind(step.kind),
                        Step(step.step),
                        step.due_at,
                        step.page_no,
                        step.id,
                        replay=True,
                    )
                )
            return out

    def finish(self, step_id: int, now: dt.datetime) -> None:
        """Every send of the step is recorded: done."""
        self._set(step_id, state=StepState.DONE, done_at=as_utc(now))

    def release(self, step_id: int, now: dt.datetime) -> bool:
        """The step failed: let the next round (of any worker) try again, or give it up after
        ``MAX_STEP_ATTEMPTS``; True when given up."""
        with write_session(self._engine) as s:
            step = s.get(SlaStep, step_id)
            if step is None:
                return True
            step.attempts += 1
            step.claimed_by = None
            if step.attempts >= MAX_STEP_ATTEMPTS:
                step.state, step.done_at = StepState.FAILED, as_utc(now)
            s.add(step)
            return step.state == StepState.FAILED

    def purge(self, before: dt.datetime, limit: int) -> int:
        """Delete up to ``limit`` steps finished (done, or given up) before ``before`` whose
        clock has stopped; returns how many (the retention job calls it until it returns
        fewer). A stopped clock never claims a step again, and a finished step is never taken
        over: the row guards nothing any more. A P1's opening page is kept: its row is what
        keeps the ticket from being paged as a new P1 twice — a replayed opening, or the
        ticket raised to P1 again after an engineer lowered it, reopened even years later."""
        stopped = exists().where(
            col(SlaClock.ticket_id) == col(SlaStep.ticket_id),
            col(SlaClock.kind) == col(SlaStep.kind),
            col(SlaClock.stopped_at).is_not(None),
        )
        with write_session(self._engine) as s:
            return delete_batch(
                s,
                SlaStep,
                limit,
                col(SlaStep.state).in_((StepState.DONE, StepState.FAILED)),
                col(SlaStep.done_at) < as_utc(before),
                col(SlaStep.step) != Step.P1,
                stopped,
            )

    def _set(self, step_id: int, **values: Any) -> None:
        with write_session(self._engine) as s:
            s.execute(update(SlaStep).where(col(SlaStep.id) == step_id).values(**values))


def _with_id(firing: Firing, step_id: int) -> Firing:
    return dataclasses.replace(firing, step_id=step_id)
