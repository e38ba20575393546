"""Outage reports joining the hospital's open P1, and telling all its reporters the outcome."""

from __future__ import annotations

import datetime as dt

from adapters.base import IncomingMessage, Reply
from bot import texts
from bot.conversation.exchanges import Outcome
from bot.conversation.said import Said, record
from bot.registry.models import Hospital
from bot.registry.sessions import transaction
from bot.tickets import incidents
from bot.tickets.incidents import IncidentReporter
from bot.tickets.links import Side
from bot.tickets.models import Direction, Ticket
from bot.tickets.services import Services
from bot.tickets.store import Actor


async def join_open_incident(
    services: Services, msg: IncomingMessage, hospital: Hospital, text: str, minutes: float
) -> Ticket | None:
    """Join the report to the hospital's P1 opened in the last ``minutes`` (None: there is
    none, open a P1). The report is recorded as an escalated exchange of that ticket, its
    message joins the ticket's conversation and the reporter the incident, in one
    transaction; the reporter is told and the desk card re-rendered."""
    if minutes <= 0:
        return None
    since = services.clock() - dt.timedelta(minutes=minutes)
    engine = services.db.engine

    def write() -> tuple[Ticket, int] | None:
        with transaction(engine):
            ticket = incidents.open_incident(engine, hospital.id, since)
            if ticket is None:
                return None
            said = Said.of(msg, text)
            exchange = record(services, hospital, said, msg.message_id, Outcome.PENDING, "urgent")
            services.exchanges.set_outcome(exchange.id or 0, Outcome.ESCALATED, ticket.number)
            services.links.link(
                msg.chat.platform, msg.chat.chat_id, msg.message_id, ticket.number, Side.HOSPITAL
            )
            services.tickets.append_message(
                ticket.number,
                Direction.HOSPITAL,
                Actor.hospital_user(
                    hospital.id, msg.chat.platform, msg.sender.user_id, msg.sender.display_name
                ),
                text,
                msg.ref,
            )
            count = incidents.join(
                engine,
                ticket,
                IncidentReporter(
                    ticket_id=ticket.id or 0,
                    platform=msg.chat.platform,
                    chat_id=msg.chat.chat_id,
                    thread_id=msg.chat.thread_id,
                    message_id=msg.message_id,
                    user_id=msg.sender.user_id,
                    name=msg.sender.display_name,
                    joined_at=services.clock(),
                ),
            )
            return ticket, count

    joined = await services.db.write(write)
    if joined is None:
        return None
    ticket, count = joined
    told = await services.messenger.send(
        Reply(
            chat=msg.chat, text=texts.incident_joined(ticket.number, count), reply_to=msg.message_id
        )
    )
    if told is not None:
        await services.db.write(
            lambda: services.links.link(
                told.platform, told.chat_id, told.message_id, ticket.number, Side.HOSPITAL
            )
        )
    await services.cards.refresh(ticket.number)
    return ticket
