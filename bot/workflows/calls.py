"""7x24 phone service: a call an engineer took, registered as a ticket in seconds.

The ticket's channel is ``phone`` (its reporter and source platform), it is accepted by the
engineer who took the call at once (受理时间 = when it was registered) and its escalation
level starts at phone. Its card goes to the desks like any other; there is no hospital chat
thread to tell, so replies to the hospital are made by phone.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from bot.registry.models import Engineer, Hospital
from bot.tickets.models import Direction, Ticket
from bot.tickets.store import ThreadEntry, TicketStore
from bot.workflows.errors import WorkflowError
from bot.workflows.models import Level
from bot.workflows.remote import RemoteAccess

PHONE = "phone"
MAX_QUESTION = 4000


def register_call(
    tickets: TicketStore,
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
    """Open, accept and mark as phone a ticket for a call; texts are redacted here. The
    caller wakes the card outbox (a running bot's ``Services.desk.notify``)."""
    clean = redact(question.strip())
    if not clean or len(clean) > MAX_QUESTION:
        raise WorkflowError(f"请写下来电的问题（1–{MAX_QUESTION} 个字符）。")
    caller_name = redact(caller.strip())[:64] or "来电"
    ticket = tickets.open_ticket(
        hospital_id=hospital.id,
        reporter_platform=PHONE,
        reporter_user_id=f"call-by-{engineer.id}",
        reporter_name=caller_name,
        source_platform=PHONE,
        source_chat_id=hospital.id,
        source_message_id=f"call-{secrets.token_hex(6)}",
        question=clean,
        category=category,
        urgency=urgency,
        thread=[ThreadEntry(Direction.HOSPITAL, caller_name, clean, now)],
    )
    ticket = tickets.claim(ticket.number, engineer.id)
    remote.set_level(ticket.number, Level.PHONE, engineer.id)
    return ticket
