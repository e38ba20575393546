"""The inbox's handler of console events (``bot.inbox.console``): what a chat is told after a
console action, sent in the ticket's lane with keys of the event (see
``bot.tickets.console_actions``). Ticket actions are told by the flow, service actions
(remote-access consent, site visits) by the workflows' chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.inbox.console import ConsoleEvent, Told
from bot.tickets.console_actions import TicketTelling
from bot.tickets.services import Services
from bot.workflows.chat import ServiceChat


def console_telling(
    services: Services, chat: ServiceChat
) -> Callable[[ConsoleEvent], Awaitable[None]]:
    tickets = TicketTelling(services.ticket_flow, services.registry)
    db, w, registry = services.db, services.workflows, services.registry

    async def tell(event: ConsoleEvent) -> None:
        if event.told in TicketTelling.KINDS:
            await tickets.tell(event)
        elif event.told is Told.CONSENT_ASKED:
            grant = await db.read(lambda: w.remote.get(event.target))
            engineer = await db.read(lambda: registry.get_engineer(event.by))
            if engineer is None:
                raise LookupError(f"engineer {event.by} is no longer registered")
            await chat.ask_consent(grant, engineer)
        elif event.told is Told.VISIT_PLANNED:
            await chat.announce_visit(await db.read(lambda: w.visits.get(event.target)))
        elif event.told is Told.VISIT_DEPARTED:
            await chat.ask_visit_confirmation(await db.read(lambda: w.visits.get(event.target)))
        else:
            raise ValueError(f"no telling for console event {event.told}")

    return tell
