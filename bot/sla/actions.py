"""The SLA page's button as a typed action (wire form ``sla-ack:<ticket number>``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.routing.actions import action
from bot.tickets.actions import TicketNumber


@action("sla-ack")
@dataclass(frozen=True)
class AckPage:
    """收到 on a page, in a direct message: acknowledges the ticket's breached clocks."""

    number: TicketNumber
