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
    now = [0.0]

    async def sleep_moves_the_clock(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(asyncio, "sleep", sleep_moves_the_clock)
    pacer = Pacer(BroadcastSettings(telegram_per_second=4.0), clock=lambda: now[0])
    pacer.workers = 2
    assert [await pacer.slot("telegram") for _ in range(3)] == [0.0, 0.5, 1.0]  # 2 a second
    pacer.workers = 1  # the other worker died: after the turn already given, 4 a second again
    assert [await pacer.slot("telegram") for _ in range(2)] == [1.5, 1.75]


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
