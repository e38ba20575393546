"""This process as one of several workers on a shared database: its leases, started and
stopped together by the composition root (every worker follows KB changes by itself:
``bot.kb.editing.KbReload``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.base import Adapter, LeasedReceiver, SendsOverItsConnection
from bot.cluster.claims import worker_lease
from bot.cluster.leases import LeaseKeeper, Role, receiving_lease
from bot.cluster.relay import RelayServer, SendRelay


def receiver_roles(adapters: Sequence[Adapter], relay: SendRelay, owner: str) -> list[Role]:
    """A role per adapter whose way in allows one consumer and waits for its lease; one whose
    sends ride that connection (WeCom) also sends, while it holds it, what the other workers
    relay to it."""
    roles = []
    for a in adapters:
        if not (isinstance(a, LeasedReceiver) and a.waits_for_lease):
            continue
        if isinstance(a, SendsOverItsConnection):
            roles.append(_receiving_and_relaying(a, relay.serve(a, owner)))
        else:
            roles.append(Role(receiving_lease(a.platform), a.start_receiving, a.stop_receiving))
    return roles


def _receiving_and_relaying(adapter: LeasedReceiver, server: RelayServer) -> Role:
    async def start() -> None:
        await adapter.start_receiving()
        server.start()

    async def stop() -> None:
        await server.stop()  # the relayed sends under way finish over the connection first
        await adapter.stop_receiving()

    return Role(receiving_lease(adapter.platform), start, stop)


async def _nothing() -> None:
    return None


@dataclass
class ClusterWorker:
    leases: LeaseKeeper
    #: Replies for a connection another worker holds go there (``CoreHandlers.send_elsewhere``).
    relay: SendRelay

    def receiver_roles(self, adapters: Sequence[Adapter]) -> list[Role]:
        return receiver_roles(adapters, self.relay, self.leases.owner)

    @property
    def owner(self) -> str:
        """This worker's id: the owner of its leases and of the rows it claims."""
        return self.leases.owner

    async def join(self) -> None:
        """Take this worker's own lease (``worker:<id>``) before it stores or sends anything:
        while it is held, the rows this worker claims are its own (``bot.cluster.claims``)."""
        self.leases.add(Role(worker_lease(self.owner), _nothing, _nothing))
        await self.leases.tick()
        if worker_lease(self.owner) not in self.leases.held():
            raise RuntimeError("cannot register this worker in the database")

    async def start(self, roles: Sequence[Role]) -> None:
        """Take what leases are free now (the first worker up takes everything at once),
        then keep them — and this worker's own — in the background."""
        for role in roles:
            self.leases.add(role)
        await self.leases.tick()
        self.leases.start()

    async def stop(self) -> None:
        """Stop the roles held here and release their leases."""
        await self.leases.stop()
