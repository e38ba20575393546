"""The composition root wires the services once: nothing is assigned to them afterwards, and
the ticket flow reaches the app's own card outbox through the port bound at build time."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.budget import SendBudget
from tests.testbot import DESK, TestBot, running_testbot, two_hospitals_config


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture
async def bot(tmp_path: Path, index_dir: Path) -> AsyncIterator[TestBot]:
    # a burst of 1: after one message the desk has no room for a non-urgent one
    config = two_hospitals_config() + "\n[desk]\nnon_urgent_per_minute = 1\n"
    async with running_testbot(tmp_path, index_dir, config, budget=SendBudget(20, 60.0, 1)) as b:
        yield b


async def test_the_services_are_frozen_and_the_flow_shares_their_collaborators(
    bot: TestBot,
) -> None:
    services = bot.app.services
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.clock = lambda: None  # type: ignore[misc,assignment]
    flow = services.ticket_flow
    assert flow.db is services.db and flow.tickets is services.tickets
    assert flow.desk is services.desk and flow.cards is services.cards
    assert flow.sla is services.sla and flow.broadcasts is services.broadcasts


async def test_the_desk_port_is_bound_to_the_apps_card_outbox(bot: TestBot) -> None:
    services, cards = bot.app.services, bot.app.cards
    desk = next(d for d in services.settings.desk_chats if d.chat_id == str(DESK))
    assert services.desk.has_room(desk)
    cards.queue.pace.entering(desk)  # one message reached the desk: its burst of 1 is spent
    assert not services.desk.has_room(desk) and not cards.has_room(desk)
    with pytest.raises(RuntimeError, match="already bound"):
        services.desk.bind(cards)  # type: ignore[attr-defined]
