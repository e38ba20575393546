"""The ticket store's errors: each a sentence an engineer can read, turned into each
surface's own words by ``bot.tickets.operations.explain``."""

from __future__ import annotations


class TicketError(Exception):
    """Base of the ticket store's errors; ``str()`` is a sentence an engineer can read."""


class TicketNotFound(TicketError, LookupError):
    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(f"no ticket {number}")


class AlreadyClaimed(TicketError):
    def __init__(self, number: str, engineer_id: str, engineer_name: str) -> None:
        self.number = number
        self.engineer_id = engineer_id
        self.engineer_name = engineer_name
        super().__init__(
            f"ticket {number} was already accepted by {engineer_name or engineer_id} ({engineer_id})"
        )


class NotAllowed(TicketError):
    """``code`` names the rule for surfaces that explain it in their own words
    (``bot.tickets.operations.explain``); ``why`` is the English sentence for logs and the CLI."""

    def __init__(self, why: str, code: str = "") -> None:
        self.why = why
        self.code = code
        super().__init__(why)


class InvalidTransition(TicketError):
    def __init__(self, from_status: str, to_status: str, number: str = "") -> None:
        self.from_status = from_status
        self.to_status = to_status
        self.number = number
        what = f"ticket {number}" if number else "a ticket"
        super().__init__(f"{what} cannot go from {from_status} to {to_status}")


class ResolutionRequired(TicketError):
    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(f"ticket {number}: say how it was resolved (the resolution is required)")


class InvalidValue(TicketError, ValueError):
    """A category, urgency or direction that does not exist."""
