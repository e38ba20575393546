"""7x24 phone service: a call an engineer took, registered as a ticket in seconds.

The ticket's channel is ``phone`` (its reporter and source platform), it is accepted by the
engineer who took the call at once (受理时间 = when it was registered) and its escalation
level starts at phone. Its card goes to the desks like any other; there is no hospital chat
thread to tell, so replies to the hospital are made by phone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from bot.registry.models import Engineer, Hospital
from bot.tickets.models import Ticket
from bot.tickets.opening import PHONE, DirectTicket, PhoneCall
from bot.workflows.errors import WorkflowError
from bot.workflows.models import Level
from bot.workflows.remote import RemoteAccess

__all__ = ["MAX_QUESTION", "PHONE", "PhoneTickets", "register_call"]

MAX_QUESTION = 4000


class PhoneTickets(Protocol):
    """Who writes a phone ticket: the running bot's ``TicketFlow`` (which wakes the card
    outbox), or ``bot.tickets.opening.OfflinePhoneTickets`` for the CLI."""

    def open_phone_ticket(self, call: PhoneCall, then: Callable[[Ticket], object]) -> Ticket:
        """Open and accept the call's ticket, and ``then``, in one transaction."""


def register_call(
    tickets: PhoneTickets,
    remote: RemoteAccess,
    redact: Callable[[str], str],
    hospital: Hospital,
    engineer: Engineer,
    *,
    caller: str,
    question: str,
    now: dt.datetime,
    category: str = "consult",
    urgency: str = "P3",
) -> Ticket:
    """Open, accept and mark as phone a ticket for a call, in one transaction (runs on the
    database's writer); texts are redacted here."""
    clean = redact(question.strip())
    if not clean or len(clean) > MAX_QUESTION:
        raise WorkflowError(f"请写下来电的问题（1–{MAX_QUESTION} 个字符）。")
    caller_name = redact(caller.strip())[:64] or "来电"
    reporter = f"call-by-{engineer.id}"
    ticket = DirectTicket(PHONE, hospital, reporter, caller_name, clean, now, category, urgency)
    call = PhoneCall(engineer, ticket)
    return tickets.open_phone_ticket(
        call, lambda ticket: remote.set_level(ticket.number, Level.PHONE, engineer.id)
    )
