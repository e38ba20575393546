"""The one place SLA button actions are encoded and decoded (``Button.action`` strings)."""

from __future__ import annotations

_ACK = "sla-ack"


def encode_ack(number: str) -> str:
    """The action of a page's 收到 button: acknowledges the ticket's breached clocks."""
    return f"{_ACK}:{number}"


def decode_ack(action: str) -> str | None:
    """The ticket number of a 收到 press, or None when ``action`` is not an SLA action."""
    kind, _, number = action.partition(":")
    return number if kind == _ACK and number else None
