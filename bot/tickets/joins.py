"""Reports that join a ticket someone else opened: an outage report joining the hospital's
open P1, 「我们这边也是」 joining the ticket of the question just asked (and 「不是同一问题」
taking it back), and the raise to P1 when enough people report one problem.

Each join is one transaction (``bot.tickets.opening``); then the reporter is told how many
reported it (the answer linked to the ticket) and the desk cards are re-rendered. The ticket
flow holds one (``flow.joins``); only the flow's modules call the ticket store's writing
methods (``tests/unit/test_flow_owns_writes.py``).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from adapters.base import Button, Reply
from bot import texts
from bot.conversation.actions import NotSameProblem
from bot.conversation.exchanges import ExchangeStore
from bot.desk.posting import DeskCards
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Hospital
from bot.routing import encode
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import Ticket
from bot.tickets.opening import (
    IncidentReport,
    join_incident,
    join_same_problem,
    leave_same_problem,
)
from bot.tickets.relaying import Relays
from bot.tickets.store import Actor, TicketStore

if TYPE_CHECKING:
    from bot.sla.watch import SlaWatch


class Joins:
    """The flow's part for reports joining someone else's ticket, built by the flow over its
    own collaborators."""

    def __init__(
        self,
        *,
        db: Database,
        tickets: TicketStore,
        exchanges: ExchangeStore,
        links: LinkStore,
        messenger: Messenger,
        cards: DeskCards,
        relays: Relays,
        sla: SlaWatch | None,
    ) -> None:
        """``relays``: tells the hospital's thread and links what is said to the ticket;
        ``sla``: pages on a raise to P1 (None: ``[sla]`` off)."""
        self.db = db
        self.tickets = tickets
        self.exchanges = exchanges
        self.links = links
        self.messenger = messenger
        self.cards = cards
        self.relays = relays
        self.sla = sla

    async def join_incident(self, report: IncidentReport) -> Ticket | None:
        """An outage report joins the hospital's open P1 (None: there is none, open one):
        written in one transaction (``bot.tickets.opening.join_incident``), then the
        reporter is told how many reported it and the desk cards are re-rendered."""
        stores = (self.tickets, self.exchanges, self.links)
        joined = await self.db.write(partial(join_incident, self.db.engine, stores, report))
        if joined is None:
            return None
        ticket, count = joined
        await self._tell_joined(report, ticket, texts.incident_joined(ticket.number, count))
        await self.cards.refresh(ticket.number)
        return ticket

    async def join_same_problem(
        self, report: IncidentReport, number: str, *, raise_at: int
    ) -> Ticket | None:
        """「我们这边也是」: the report joins ticket ``number`` (None: it cannot — closed,
        too old, the sender's own), in one transaction (``bot.tickets.opening``); the
        reporter is told how many reported it and the cards are re-rendered. When
        ``raise_at`` people (0: never) have reported a ticket that is not a P1, it becomes
        one: several people of one hospital with one problem is an outage."""
        stores = (self.tickets, self.exchanges, self.links)
        joined = await self.db.write(
            partial(join_same_problem, self.db.engine, stores, report, number)
        )
        if joined is None:
            return None
        ticket, count = joined
        if ticket.urgency == "P1":
            await self._tell_joined(report, ticket, texts.incident_joined(ticket.number, count))
        else:  # one tap takes it back: 「不是同一问题」
            undo = Button(texts.NOT_SAME_PROBLEM, encode(NotSameProblem(ticket.number)))
            said = texts.same_problem_joined(ticket.number, count)
            await self._tell_joined(report, ticket, said, ((undo,),))
        if raise_at and count >= raise_at and ticket.urgency != "P1":
            ticket = await self._raise_to_p1(ticket, count)
        await self.cards.refresh(ticket.number)
        return ticket

    async def leave_same_problem(
        self, number: str, hospital: Hospital, platform: str, user_id: str
    ) -> Ticket | None:
        """「不是同一问题」: the person who joined ``number`` with 「我也是」 leaves it (one
        transaction, ``bot.tickets.opening``) and the cards are re-rendered; None when they
        had not joined it."""
        stores = (self.tickets, self.exchanges, self.links)
        left = await self.db.write(
            partial(
                leave_same_problem, self.db.engine, stores, number, hospital.id, platform, user_id
            )
        )
        if left is not None:
            await self.cards.refresh(left.number)
        return left

    async def _tell_joined(
        self,
        report: IncidentReport,
        ticket: Ticket,
        said: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> None:
        """Answer the report that joined ``ticket``; the answer is linked to the ticket (a
        reply to it is the ticket's conversation)."""
        msg = report.msg
        told = await self.messenger.send(
            Reply(chat=msg.chat, text=said, reply_to=msg.message_id, buttons=buttons)
        )
        if told is not None:
            await self.db.write(partial(self.relays.link, told, ticket.number, Side.HOSPITAL))

    async def _raise_to_p1(self, ticket: Ticket, reporters: int) -> Ticket:
        """Make an open ticket a P1 (the bot's audited urgency change), start its P1 paging
        and tell the hospital's thread."""
        number = ticket.number
        ticket = await self.db.write(lambda: self.tickets.set_urgency(number, "P1", Actor.bot()))
        sent = asyncio.Event()  # the paging outcome is told after this notice, never before
        if self.sla is not None:
            paging = await self.sla.raised_to_p1(ticket, sent)
        else:
            paging = texts.ticket_opened(number, urgent=True)
        try:
            await self.relays.tell_hospital(ticket, texts.raised_to_p1(reporters) + paging)
        finally:
            sent.set()
        return ticket
