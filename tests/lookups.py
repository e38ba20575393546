"""Look-ups only tests make: production code never asks these questions, so they live here and
not as store methods (``tests/unit/test_dead_code.py`` refuses public code nothing but tests
uses)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.cluster.models import Lease
from bot.inbox.models import InboxEvent, InboxState, OutboxMessage, OutboxState
from bot.sla.models import SlaStep, StepState
from bot.workflows.models import RemoteGrant
from bot.workflows.remote import RemoteAccess, is_live


def inbox_count(engine: Engine, state: InboxState) -> int:
    with Session(engine) as session:
        stmt = select(func.count()).select_from(InboxEvent).where(InboxEvent.state == state)
        return int(session.exec(stmt).one())


def outbox_count(engine: Engine, state: OutboxState) -> int:
    with Session(engine) as session:
        stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == state)
        return int(session.exec(stmt).one())


def pending_sla_steps(engine: Engine) -> int:
    with Session(engine) as session:
        stmt = select(func.count()).select_from(SlaStep).where(SlaStep.state == StepState.PENDING)
        return int(session.exec(stmt).one())


def leases(engine: Engine) -> dict[str, Lease]:
    """Every lease by name (expired ones too: who held it last)."""
    with Session(engine) as session:
        return {lease.name: lease for lease in session.exec(select(Lease)).all()}


def live_grant(remote: RemoteAccess, number: str, now: dt.datetime) -> RemoteGrant | None:
    """The ticket's remote-access grant in force at ``now``, if any."""
    return next((g for g in remote.for_ticket(number) if is_live(g, now)), None)
