"""The composition root's cluster: with several workers on a server database, this worker's
leases and relay, the takeover of dead workers' events and sends, and a lease per desk chat
(SQLite runs one process, ``bot.cluster.instance_lock``, and none of this)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from adapters.base import ChatRef
from bot.cluster.claims import forget_dead_workers
from bot.cluster.leases import LeaseKeeper, LeaseStore, Role
from bot.cluster.relay import RelayStore, SendRelay
from bot.cluster.takeover import TakeoverWatch
from bot.cluster.worker import ClusterWorker
from bot.desk.queue.outbox import CardOutbox
from bot.inbox import Inbox, OutboxStore
from bot.infra.clock import Clock
from bot.infra.gateway import Database

#: How long a dead worker stays listed among the leases (``hisbot`` status, the chaos bench).
DEAD_WORKERS_KEPT = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Cluster:
    """This process as one of several workers."""

    #: Runs the work only one worker may do while this one holds its lease.
    worker: ClusterWorker
    #: Takes over dead workers' events and reaps their sends.
    takeover: TakeoverWatch


def cluster(
    db: Engine, gateway: Database, now: Clock, owner: str, outbox: OutboxStore, inbox: Inbox
) -> Cluster:
    """This worker (``owner``) among the others: its leases, the relay of sends for a
    connection another worker holds, and the takeover's steps."""
    worker = ClusterWorker(
        LeaseKeeper(LeaseStore(db, now), gateway, now, owner),
        SendRelay(gateway, RelayStore(db, now)),
    )
    takeover = TakeoverWatch(
        [
            # every durable send, notices included, is in this one outbox
            lambda: gateway.write(outbox.interrupted),
            inbox.take_over,
            lambda: gateway.write(lambda: forget_dead_workers(db, now() - DEAD_WORKERS_KEPT)),
        ]
    )
    return Cluster(worker, takeover)


def desk_roles(cards: CardOutbox, desk_chats: Sequence[ChatRef]) -> list[Role]:
    """One lease per desk chat: its card queue is served by one worker at a time."""

    def role(desk: ChatRef) -> Role:
        async def serve() -> None:
            cards.serve(desk)

        async def unserve() -> None:
            cards.unserve(desk)

        return Role(f"desk:{desk.platform}:{desk.chat_id}", serve, unserve)

    return [role(desk) for desk in desk_chats]
