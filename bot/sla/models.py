"""SLA tables: a clock per ticket and target, and per-hospital contract targets."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


class ClockKind(StrEnum):
    ACCEPT = "accept"
    RESOLVE = "resolve"

    @property
    def label(self) -> str:
        return "受理" if self == ClockKind.ACCEPT else "解决"


class Step(StrEnum):
    """What a clock does when it falls due."""

    WARN = "warn"
    BREACH = "breach"
    REPAGE = "repage"
    #: A P1 pages the on-call engineer and the lead as it opens (not a clock falling due).
    P1 = "p1"


class StepState(StrEnum):
    PENDING = "pending"  # claimed; its sends are under way, or interrupted (taken over)
    DONE = "done"
    FAILED = "failed"  # kept failing (``MAX_STEP_ATTEMPTS``): given up, in the audit trail


class SlaClock(SQLModel, table=True):
    """One target of one ticket. ``next_fire_at`` is the next instant something must happen
    (warning, breach, repeated page) and NULL while stopped, paused or acknowledged, so the
    worker's look-up is one indexed range scan however many tickets are open."""

    __tablename__ = "sla_clock"
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind", name="uq_sla_clock_ticket_kind"),
        CheckConstraint("kind IN ('accept', 'resolve')", name="ck_sla_clock_kind"),
        Index("ix_sla_clock_next_fire_at", "next_fire_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    kind: str = Field(max_length=8)
    target_minutes: int
    #: Counts working time only (working days, working hours) instead of every minute.
    working_time: bool = False
    started_at: dt.datetime = utc_field()
    warn_at: dt.datetime = utc_field()
    due_at: dt.datetime = utc_field()
    paused_at: dt.datetime | None = utc_field(default=None, nullable=True)
    stopped_at: dt.datetime | None = utc_field(default=None, nullable=True)
    warned_at: dt.datetime | None = utc_field(default=None, nullable=True)
    breached_at: dt.datetime | None = utc_field(default=None, nullable=True)
    pages: int = 0
    next_fire_at: dt.datetime | None = utc_field(default=None, nullable=True)
    acknowledged_at: dt.datetime | None = utc_field(default=None, nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=32)


class SlaTarget(SQLModel, table=True):
    """A hospital contract's own targets for one urgency (else ``[reports.targets]``)."""

    __tablename__ = "sla_target"

    hospital_id: str = Field(foreign_key="hospital.id", primary_key=True, max_length=32)
    urgency: str = Field(primary_key=True, max_length=2)
    accept_minutes: int
    resolve_minutes: int
    working_time: bool = False


class SlaStep(SQLModel, table=True):
    """One step a clock carried out (a warning, a breach's page, each repeated round, a P1's
    opening page), written in the transaction that claims it. Its sends are keyed by ``key``
    in the outbox, so a step interrupted by a crash or a leader change is finished by another
    worker (taken over once ``claimed_by`` is dead) without repeating what was sent."""

    __tablename__ = "sla_step"
    __table_args__ = (
        UniqueConstraint("key", name="uq_sla_step_key"),
        Index("ix_sla_step_state", "state"),
        Index("ix_sla_step_state_done_at", "state", "done_at"),  # the retention job's purge
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    #: ``sla:<ticket>:<clock kind>:<step>:<round>``: the prefix of every send's outbox key.
    key: str = Field(max_length=80)
    kind: str = Field(max_length=8)
    step: str = Field(max_length=8)
    #: 0 for a warning or a P1's opening page, 1 for the breach's page, 2… for the repeats.
    page_no: int = 0
    due_at: dt.datetime = utc_field()
    state: str = Field(default=StepState.PENDING, max_length=8)
    #: Failed attempts (each released for another try).
    attempts: int = 0
    #: The worker carrying it out (``bot.cluster.claims``); NULL: released, anyone may.
    claimed_by: str | None = Field(default=None, max_length=128)
    created_at: dt.datetime = utc_field()
    done_at: dt.datetime | None = utc_field(default=None, nullable=True)
