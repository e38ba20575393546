"""The category buttons offered on a ticket's desk card and hospital notice."""

from __future__ import annotations

from adapters.base import Button
from bot import texts
from bot.conversation.actions import ChangeCategory
from bot.routing import encode
from bot.tickets.category_guess import likely_categories
from bot.tickets.models import Ticket


def choices(ticket: Ticket, k: int = 3) -> tuple[Button, ...]:
    """Buttons for the likely categories other than the ticket's current one."""
    others = [c for c in likely_categories(ticket.question, (), k + 1) if c != ticket.category]
    return tuple(
        Button(f"改为{texts.CATEGORY_LABELS.get(c, c)}", encode(ChangeCategory(ticket.number, c)))
        for c in others[:k]
    )
