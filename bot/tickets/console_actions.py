"""Ticket changes made on the web console that a chat must hear of, made durable like chat
events: the change and its ``ConsoleEvent`` are one transaction (``ConsoleActions``), the
inbox hands the event to ``TicketTelling`` in the ticket's lane, whose sends are keyed to
the event. A crash after the commit: the restart replays the event and sends what was not
sent; a replay of a handled event sends nothing (its keys are recorded).

The console answers the browser once the transaction committed, so the page shows the change
at once; the chat message follows from the lane. The changes are the ticket store's writes,
so they live beside the flow (``tests/unit/test_flow_owns_writes.py``); the tellings are the
flow's own, the very methods its chat commands end with (``TicketFlow.tell_claimed``,
``tell_resolved``, ``tell_reopened``, ``tell_hospital_reopened``, ``Relays.relay_reply``,
``relay_to_desks``), so a change says the same wherever it was made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from bot.inbox import Inbox
from bot.inbox.console import ConsoleEvent, Told
from bot.infra.gateway import Database
from bot.registry.models import Engineer
from bot.registry.sessions import transaction
from bot.registry.store import RegistryStore
from bot.tickets.flow import TicketFlow
from bot.tickets.models import Direction
from bot.tickets.store import Actor, TicketStore

#: A change on the writer, given the request's id: returns the event that tells it.
Change = Callable[[str], ConsoleEvent]


class ConsoleActions:
    """What the console's routes call: each method writes the change and its event in one
    transaction and queues the event (the store's errors, ``TicketError``, reach the route
    and nothing is stored)."""

    def __init__(self, db: Database, tickets: TicketStore, inbox: Inbox) -> None:
        self._db = db
        self._tickets = tickets
        self._inbox = inbox

    async def record(self, change: Change) -> None:
        """Run ``change`` and store its event in one transaction, then queue the event. The
        request's id is fresh (the console's forms carry no id of their own)."""
        request = uuid.uuid4().hex

        def write() -> tuple[int | None, ConsoleEvent]:
            with transaction(self._db.engine):
                event = change(request)
                return self._inbox.record(event), event

        row_id, event = await self._db.write(write)
        self._inbox.queue(row_id, event)

    async def claim(self, number: str, engineer: Engineer) -> None:
        def change(request: str) -> ConsoleEvent:
            self._tickets.claim(number, engineer.id)
            return ConsoleEvent(request, Told.CLAIMED, number, by=engineer.id)

        await self.record(change)

    async def resolve(self, number: str, engineer: Engineer, resolution: str) -> None:
        def change(request: str) -> ConsoleEvent:
            self._tickets.resolve(number, engineer.id, resolution)
            return ConsoleEvent(request, Told.RESOLVED, number, by=engineer.id, text=resolution)

        await self.record(change)

    async def reopen(self, number: str, engineer: Engineer, reason: str) -> None:
        def change(request: str) -> ConsoleEvent:
            self._tickets.reopen(number, engineer.id, reason or "重新打开")
            return ConsoleEvent(request, Told.REOPENED, number, by=engineer.id)

        await self.record(change)

    async def reply(self, number: str, engineer: Engineer, text: str) -> None:
        """An engineer's message to the hospital: kept on the ticket, relayed by the event."""

        def change(request: str) -> ConsoleEvent:
            kept = self._tickets.append_message(number, Direction.ENGINEER, engineer.id, text)
            return ConsoleEvent(
                request, Told.REPLIED, number, by=engineer.id, text=text, target=kept.id or 0
            )

        await self.record(change)

    async def follow_up(self, number: str, author: Actor, author_name: str, body: str) -> None:
        """A hospital's message (``body`` redacted): kept on the ticket, relayed to the desks."""

        def change(request: str) -> ConsoleEvent:
            self._tickets.append_message(number, Direction.HOSPITAL, author, body)
            return ConsoleEvent(request, Told.FOLLOWED_UP, number, author=author_name, text=body)

        await self.record(change)

    async def hospital_reopen(
        self, number: str, author: Actor, author_name: str, reason: str
    ) -> None:
        def change(request: str) -> ConsoleEvent:
            self._tickets.reopen(number, author, reason or "医院反馈问题仍未解决")
            told = Told.HOSPITAL_REOPENED
            return ConsoleEvent(request, told, number, author=author_name, text=reason)

        await self.record(change)


class TicketTelling:
    """Handles the ticket kinds of ``ConsoleEvent`` (in the inbox's lane, sends keyed to the
    event): the flow's own tellings of the same changes made in chat."""

    KINDS = frozenset(
        {
            Told.CLAIMED,
            Told.RESOLVED,
            Told.REOPENED,
            Told.REPLIED,
            Told.FOLLOWED_UP,
            Told.HOSPITAL_REOPENED,
        }
    )

    def __init__(self, flow: TicketFlow, registry: RegistryStore) -> None:
        self._flow = flow
        self._registry = registry

    async def tell(self, event: ConsoleEvent) -> None:
        flow, db, number = self._flow, self._flow.db, event.number
        ticket = await db.read(lambda: flow.tickets.get(number))
        told = event.told
        if told in (Told.FOLLOWED_UP, Told.HOSPITAL_REOPENED):  # the desks hear the hospital
            hospital = await db.read(lambda: self._registry.get_hospital(ticket.hospital_id))
            hospital_name = hospital.name if hospital else ticket.hospital_id
            if told is Told.HOSPITAL_REOPENED:
                await flow.tell_hospital_reopened(ticket, hospital_name, event.author, event.text)
            else:
                await flow.relay_to_desks(ticket, hospital_name, event.author, event.text)
            return
        engineer = await db.read(lambda: self._registry.get_engineer(event.by))
        name = engineer.name if engineer else event.by
        if told is Told.CLAIMED:
            await flow.tell_claimed(ticket, name)
        elif told is Told.RESOLVED:
            await flow.tell_resolved(ticket, event.text)
        elif told is Told.REOPENED:
            await flow.tell_reopened(ticket)
        elif told is Told.REPLIED:
            await flow.relays.relay_reply(ticket, name, event.text, event.target or None)
