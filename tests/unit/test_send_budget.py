"""A chat's send budget (``adapters.budget``) and the Telegram limiter's overall gate, on
clocks the test moves: the burst, the steady rate, the sliding window, room kept for an
urgent message, a 429's pause, and priority sends granted before earlier ordinary ones."""

from __future__ import annotations

import asyncio

import pytest

from adapters.budget import BudgetMeter, SendBudget
from adapters.telegram.limiter import PriorityGate

GROUP = SendBudget(20, 60.0, 3)  # Telegram's group: 20 a minute, 3 back to back


def sends(meter: BudgetMeter, n: int, now: float = 0.0) -> list[float]:
    return [meter.take_next(now) for _ in range(n)]


def test_a_burst_then_one_every_interval_and_never_more_than_count_in_a_window() -> None:
    meter = BudgetMeter(GROUP)
    times = sends(meter, 25)
    assert times[:5] == pytest.approx([0, 0, 0, 3, 6])
    assert all(
        sum(1 for t in times if start <= t < start + 60) <= 20 for start in times
    )  # the leaky bucket alone would let 22 through in the first minute
    assert times[20] == pytest.approx(60.0)  # the window, not the bucket, holds the 21st


def test_room_for_an_urgent_message_and_what_passes_within_seconds() -> None:
    meter = BudgetMeter(GROUP)
    assert meter.passing_within(0.0, 0.0) == 3 and meter.passing_within(0.0, 5.0) == 4
    meter.take(0.0)
    meter.take(0.0)
    assert meter.free_at(0.0) == 0.0  # one more may go now …
    assert meter.free_at(0.0, reserve=1) == pytest.approx(3.0)  # … but it would take the last
    assert meter.passing_within(0.0, 0.0) == 1


def test_a_429_pauses_the_meter_and_an_idle_one_can_be_forgotten() -> None:
    meter = BudgetMeter(SendBudget(1, 1.0, 1))  # a private chat: one a second
    meter.take(0.0)
    meter.pause(30.0)
    assert meter.free_at(1.0) == 30.0 and not meter.idle(10.0)
    assert meter.idle(31.0)


def test_a_budget_refuses_a_burst_above_its_count() -> None:
    with pytest.raises(ValueError, match="burst"):
        SendBudget(2, 1.0, 3)


async def test_the_overall_gate_lets_priority_sends_go_before_earlier_ordinary_ones() -> None:
    now = [0.0]
    gate = PriorityGate(SendBudget(1, 1.0, 1), lambda: now[0])
    await gate.acquire(priority=False)  # the budget's one message of this second
    order: list[str] = []

    async def send(name: str, priority: bool) -> None:
        await gate.acquire(priority)
        order.append(name)

    tasks = [asyncio.create_task(send(f"reply{i}", False)) for i in range(3)]
    tasks.append(asyncio.create_task(send("page", True)))
    await asyncio.sleep(0)  # every task is queued at the gate
    gate.grant()
    assert order == []  # nothing passes before the budget frees
    for second in (1.0, 2.0, 3.0, 4.0):
        now[0] = second
        gate.grant()
        await asyncio.sleep(0)
    assert order == ["page", "reply0", "reply1", "reply2"]
    await asyncio.gather(*tasks)
