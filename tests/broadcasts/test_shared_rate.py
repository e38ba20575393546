"""Several workers send a notice at once: the platform's limit is the bot's, so each worker's
pacer takes its share (``per_second`` ÷ live workers), read from the database every round."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.broadcasts import Broadcasts, BroadcastSettings, Pacer
from tests.broadcasts.conftest import FakeTransport


async def test_each_of_two_workers_paces_at_half_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:  # wakes when the test moves the clock
        deadline = now[0] + seconds
        while now[0] < deadline:
            await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    pacer = Pacer(BroadcastSettings(telegram_per_second=4.0), clock=lambda: now[0])
    pacer.workers = 2
    issued: list[float] = []

    async def send() -> None:
        await pacer.slot("telegram")
        issued.append(now[0])

    tasks = [asyncio.create_task(send()) for _ in range(3)]
    for _ in range(12):
        now[0] += 0.125
        for _ in range(20):
            await real_sleep(0)
    assert all(task.done() for task in tasks)
    assert issued == [100.125, 100.625, 101.125]  # 2 a second, not 4: a turn of 0.5 s


async def test_a_round_reads_how_many_workers_share_the_rate(
    make_broadcasts: Callable[..., Broadcasts], transport: FakeTransport
) -> None:
    workers = [3]
    bc = make_broadcasts(workers=lambda: workers[0])
    await bc.broadcaster.process_once()
    assert bc.broadcaster.pacer.workers == 3
    workers[0] = 1  # the others died
    await bc.broadcaster.process_once()
    assert bc.broadcaster.pacer.workers == 1
