"""This process as one of several workers on a shared database: its leases, started and
stopped together by the composition root (every worker follows KB changes by itself:
``bot.kb_editing.KbReload``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.base import Adapter, LeasedReceiver
from bot.cluster.leases import LeaseKeeper, Role, receiving_lease


def receiver_roles(adapters: Sequence[Adapter]) -> list[Role]:
    """A role per adapter whose way in allows one consumer and waits for its lease."""
    return [
        Role(receiving_lease(a.platform), a.start_receiving, a.stop_receiving)
        for a in adapters
        if isinstance(a, LeasedReceiver) and a.waits_for_lease
    ]


@dataclass
class ClusterWorker:
    leases: LeaseKeeper

    async def start(self, roles: Sequence[Role]) -> None:
        """Take what leases are free now (the first worker up takes everything at once),
        then keep them in the background."""
        for role in roles:
            self.leases.add(role)
        await self.leases.tick()
        self.leases.start()

    async def stop(self) -> None:
        """Stop the roles held here and release their leases."""
        await self.leases.stop()
