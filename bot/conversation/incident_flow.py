"""Outage reports joining the hospital's open P1 (one incident, every reporter told)."""

from __future__ import annotations

import datetime as dt

from adapters.base import IncomingMessage
from bot.infra.clock import Clock
from bot.registry.models import Hospital
from bot.tickets.flow import TicketFlow
from bot.tickets.models import Ticket
from bot.tickets.opening import IncidentReport


async def join_open_incident(
    flow: TicketFlow,
    clock: Clock,
    msg: IncomingMessage,
    hospital: Hospital,
    text: str,
    minutes: float,
) -> Ticket | None:
    """Join the report to the hospital's P1 opened in the last ``minutes`` (None: there is
    none, or joining is off: open a P1). The ticket flow writes it in one transaction, tells
    the reporter and re-renders the desk card."""
    if minutes <= 0:
        return None
    now = clock()
    since = now - dt.timedelta(minutes=minutes)
    return await flow.joins.join_incident(IncidentReport(msg, hospital, text, since, now))
