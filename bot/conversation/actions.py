"""The buttons of a busy group's follow-ups, as typed actions (``bot.routing``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bot.routing.actions import MaxBytes, action
from bot.tickets.actions import TicketNumber

#: The longest service category key (``third-party``, ``data-report`` …) with room to spare.
CATEGORY_BYTES = 16
#: ``t<ticket number>`` or ``x<exchange id>``: what a bare 「还是不行」 may have been about.
EARLIER_BYTES = 21


@action("cat")
@dataclass(frozen=True)
class ChangeCategory:
    """改为… on a ticket's desk card or its hospital notice: one tap corrects the category."""

    number: TicketNumber
    category: Annotated[str, MaxBytes(CATEGORY_BYTES)]


@action("again")
@dataclass(frozen=True)
class WhichFollowUp:
    """One choice under 「您说的是哪个问题？」: the exchange that asked, and the earlier question
    or ticket the person picked."""

    asked: int
    earlier: Annotated[str, MaxBytes(EARLIER_BYTES)]


@action("ns")
@dataclass(frozen=True)
class NotSameProblem:
    """不是同一问题 under 「已并入工单 #…」: the person who joined the ticket leaves it."""

    number: TicketNumber
