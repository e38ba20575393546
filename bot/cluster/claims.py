"""Row ownership shared by the inbox, the one durable outbox and notice reservations.

A row being handled or sent carries its worker's id (``claimed_by``). A worker is alive while
it holds its own lease ``worker:<id>`` (``bot.cluster.leases``: renewed every 1.5 s for 6 s,
released when it stops cleanly), so a claim is *live* exactly while its owner's lease is,
and a worker killed with ``kill -9`` has its claims turn dead within seconds — without a
per-row heartbeat. The rules every table follows:

* rows are taken over only when their owner is dead (``Claimant.dead``), with ``SELECT … FOR
  UPDATE SKIP LOCKED`` on PostgreSQL, so two workers taking over never take the same row and
  never wait on each other;
* a send found ``sending`` under a dead owner may have reached the platform: it becomes
  ``unknown`` (never re-sent); a live worker's send in flight is never touched.

On SQLite there is one process (``bot.cluster.instance_lock``): every owner but this process
is dead, and no lease is needed (``exclusive``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, func, or_, select
from sqlmodel import Session, col

from bot.cluster.leases import worker_id
from bot.cluster.models import Lease

#: The prefix of the lease each live worker holds on itself.
WORKER_LEASE_PREFIX = "worker:"


def worker_lease(owner: str) -> str:
    """The name of the lease that says ``owner`` is alive."""
    return f"{WORKER_LEASE_PREFIX}{owner}"


@dataclass(frozen=True)
class Claimant:
    """This worker as the owner of the rows it handles and sends."""

    owner: str
    #: The only process on its database (SQLite): every other owner is dead.
    exclusive: bool

    @classmethod
    def alone(cls) -> Claimant:
        """The only process on its database (SQLite; tools and tests)."""
        return cls(worker_id(), exclusive=True)

    def dead(self, owner_column: Any, now: dt.datetime) -> ColumnElement[bool]:
        """SQL: the row's owner is no live worker (unclaimed rows count as dead ones)."""
        column = col(owner_column)
        if self.exclusive:
            return or_(column.is_(None), column != self.owner)
        return or_(column.is_(None), column.not_in(live_workers(now)))


def live_workers(now: dt.datetime) -> Any:
    """The ids of the workers whose own lease has not expired (a subquery)."""
    return select(col(Lease.owner)).where(
        col(Lease.name).startswith(WORKER_LEASE_PREFIX), col(Lease.expires_at) > now
    )


def count_live_workers(engine: Engine, now: dt.datetime) -> int:
    """How many workers are alive (the notice outbox shares the platform's rate among them)."""
    with Session(engine) as s:
        return int(
            s.execute(select(func.count()).select_from(live_workers(now).subquery())).one()[0]
        )


def forget_dead_workers(engine: Engine, before: dt.datetime) -> int:
    """Delete the liveness leases that expired before ``before`` (a worker per restart
    otherwise stays listed for ever); their rows stay dead, as they were."""
    with Session(engine) as s:
        result = s.execute(
            delete(Lease).where(
                col(Lease.name).startswith(WORKER_LEASE_PREFIX), col(Lease.expires_at) < before
            )
        )
        s.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]
