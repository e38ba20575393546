"""A desk card whose send a dead worker left in flight (now ``unknown``: it may be in the chat)
is neither posted again nor listed in an urgent digest — at most once, on a clock the test
moves and a real database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core import card_key
from bot.deskqueue.outbox import ChatLimit, DeskQueue
from bot.inbox import OutboxState, OutboxStore
from bot.tickets import Ticket
from tests.tickets.test_desk_queue import DESK, SETTINGS, carded, desk_texts, services

from .conftest import FakeClock

__all__ = ["services"]  # the fixture, shared with the desk queue's tests


async def test_a_card_in_flight_at_a_kill_is_shown_at_most_once(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    urgent = [open_ticket(urgency="P1", question=f"全院第{i}个系统停了").number for i in range(5)]
    engine = services.db.engine
    dead = OutboxStore(engine, clock)  # the worker that was posting the first card
    assert dead.claim(card_key(urgent[0], DESK), DESK.platform, DESK.chat_id) is None
    assert OutboxStore(engine, clock).interrupted() == 1  # found by the next one: unknown
    # a burst of 3, 20 a minute: 4 cards pass within 5 s — five waiting would make a digest
    queue = DeskQueue(services, SETTINGS, {"telegram": ChatLimit(per_minute=20, burst=3)})
    await queue.run_once()
    assert carded(services) == urgent[1:]  # four cards, no digest listing the first again
    assert not any(urgent[0] in text for text in desk_texts(services))
    clock.advance(minutes=5)
    await queue.run_once()
    assert carded(services) == urgent[1:]
    assert dead.claim(card_key(urgent[0], DESK), "telegram", DESK.chat_id) is not None
    assert OutboxStore(engine, clock).count(OutboxState.UNKNOWN) == 1
