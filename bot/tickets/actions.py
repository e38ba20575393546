"""The desk card's button as a typed action (wire form ``claim:<ticket number>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bot.routing.actions import MaxBytes, action

#: Ticket numbers are ``YYYY-NNNNNN`` (11 bytes); room for a longer sequence.
NUMBER_BYTES = 20
TicketNumber = Annotated[str, MaxBytes(NUMBER_BYTES)]


@action("claim")
@dataclass(frozen=True)
class Claim:
    """接单 on a ticket's card."""

    number: TicketNumber
