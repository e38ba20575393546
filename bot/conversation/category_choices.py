"""The category buttons' action, ``cat:<ticket>:<category>``, encoded and decoded only here."""

from __future__ import annotations

from adapters.base import Button
from bot import texts
from bot.tickets.category_guess import likely_categories
from bot.tickets.models import Ticket

_PREFIX = "cat"


def choices(ticket: Ticket, k: int = 3) -> tuple[Button, ...]:
    """Buttons for the likely categories other than the ticket's current one."""
    others = [c for c in likely_categories(ticket.question, (), k + 1) if c != ticket.category]
    return tuple(
        Button(f"改为{texts.CATEGORY_LABELS.get(c, c)}", f"{_PREFIX}:{ticket.number}:{c}")
        for c in others[:k]
    )


def decode(action: str) -> tuple[str, str] | None:
    """(ticket number, category) of a category button, None for any other action."""
    prefix, _, rest = action.partition(":")
    number, _, category = rest.partition(":")
    return (number, category) if prefix == _PREFIX and number and category else None
