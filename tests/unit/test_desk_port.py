"""The port through which the services reach the card outbox (``bot.tickets.services``)."""

from __future__ import annotations

import pytest

from adapters.base import ChatRef
from bot.tickets.services import DeskPort

DESK = ChatRef("telegram", "-100999")
OTHER = ChatRef("slack", "C0DESK")


class Outbox:
    """A card outbox that remembers what it was asked (only ``DESK`` is full)."""

    def __init__(self) -> None:
        self.woken = 0
        self.later: list[tuple[str, ChatRef]] = []

    def notify(self) -> None:
        self.woken += 1

    def has_room(self, desk: ChatRef) -> bool:
        return desk != DESK

    def refresh_later(self, number: str, desk: ChatRef) -> None:
        self.later.append((number, desk))


def test_unbound_there_is_nothing_to_wake_and_every_desk_has_room() -> None:
    port = DeskPort()
    port.notify()
    port.refresh_later("20261206-0001", DESK)
    assert port.has_room(DESK) and port.has_room(OTHER)


def test_bound_it_forwards_every_call_to_the_outbox() -> None:
    port, outbox = DeskPort(), Outbox()
    port.bind(outbox)
    port.notify()
    port.refresh_later("20261206-0001", DESK)
    assert (port.has_room(DESK), port.has_room(OTHER)) == (False, True)
    assert outbox.woken == 1 and outbox.later == [("20261206-0001", DESK)]


def test_it_is_bound_once() -> None:
    port, first = DeskPort(), Outbox()
    port.bind(first)
    with pytest.raises(RuntimeError, match="already bound"):
        port.bind(Outbox())
    port.notify()
    assert first.woken == 1  # the first outbox stays the one woken
