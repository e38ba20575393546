"""A digest in the desk works like cards (``bot.desk.queue``): its 接单 buttons (a claim
re-renders it), ``/claim <no>`` for any ticket it lists, and a reply starting with one of its
numbers reaches that hospital; an urgent digest (more P1s than the group's limiter sends
within seconds) is claimed the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.budget import SendBudget
from tests.once import seeded_index_dir
from tests.testbot import (
    DESK,
    H1_CHAT,
    LI,
    WANG,
    TestBot,
    running_testbot,
    two_hospitals_config,
)

#: Above 2 waiting non-urgent tickets the desk gets a digest; one non-urgent send a minute.
CONFIG = two_hospitals_config() + "\n[desk]\ndigest_after_cards = 2\nnon_urgent_per_minute = 1\n"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
async def bot(tmp_path: Path, index_dir: Path) -> AsyncIterator[TestBot]:
    # the desk declares Telegram's group budget: a burst of 3, 20 a minute
    async with running_testbot(
        tmp_path, index_dir, CONFIG, budget=SendBudget(20, 60.0, 3)
    ) as running:
        yield running


def open_tickets(bot: TestBot, n: int, urgency: str = "P3") -> list[str]:
    """``n`` tickets from the first hospital's group, written at once (a storm)."""
    return [
        bot.tickets.open_ticket(
            hospital_id="h001", reporter_platform="telegram", reporter_user_id="7001",
            reporter_name="护士小张", source_platform="telegram", source_chat_id=str(H1_CHAT),
            source_message_id=str(900 + i), question=f"第{i}个院区打印腕带没反应",
            category="usage", urgency=urgency,
        ).number
        for i in range(n)
    ]  # fmt: skip


async def test_claim_and_reply_from_a_digest(bot: TestBot) -> None:
    first, second, third = open_tickets(bot, 3)
    bot.app.services.desk.notify()
    digest = await bot.reply(chat=DESK, where=lambda s: s.text.startswith("📋"))
    assert all(f"/claim {n}" in digest.text for n in (first, second, third))
    assert not [s for s in bot.said_in(DESK) if s.text.startswith("🎫")]  # no card each

    await bot.press(digest, f"接单 #{first}", user=WANG)
    await bot.reply(chat=H1_CHAT, where=lambda s: f"已受理工单 #{first}" in s.text)
    await bot.adapter.wait_until(lambda: bool(digest.edits), "the digest re-rendered")
    assert f"#{first} " in digest.text and f"/claim {first}" not in digest.text  # ✅ 已受理
    assert f"接单 #{first}" not in digest.labels and f"接单 #{second}" in digest.labels
    await bot.say(f"/claim {second}", user=LI, chat=DESK)
    await bot.reply(chat=DESK, where=lambda s: s.text == f"已接单 #{second}")
    assert bot.tickets.get(first).accepted_by == "e01"
    assert bot.tickets.get(second).accepted_by == "e02"

    await bot.say(f"#{first} 请先重启打印服务", user=WANG, chat=DESK, reply_to=digest)
    await bot.reply(chat=H1_CHAT, where=lambda s: "请先重启打印服务" in s.text)
    await bot.say("请先重启", user=WANG, chat=DESK, reply_to=digest)
    await bot.reply(chat=DESK, where=lambda s: "请以其中的工单号开头" in s.text)
    assert [m.text for m in bot.tickets.messages(first) if m.direction == "engineer"] == [
        "请先重启打印服务"
    ]


async def test_claim_from_an_urgent_digest(bot: TestBot) -> None:
    """Six P1s at once: more than the desk group's limiter (a burst of 3, 20 a minute) sends
    within seconds, so one urgent digest shows them all, mentioning 王工."""
    p1s = open_tickets(bot, 6, "P1")
    bot.app.services.desk.notify()
    digest = await bot.reply(chat=DESK, where=lambda s: s.text.startswith("🚨 紧急工单汇总"))
    assert all(digest.text.count(f"/claim {n}") == 1 for n in p1s)
    assert str(WANG) in digest.reply.mention_user_ids
    assert not [s for s in bot.said_in(DESK) if s.text.startswith("🎫")]

    await bot.press(digest, f"接单 #{p1s[0]}", user=WANG)
    await bot.reply(chat=H1_CHAT, where=lambda s: f"已受理工单 #{p1s[0]}" in s.text)
    await bot.adapter.wait_until(lambda: bool(digest.edits), "the urgent digest re-rendered")
    assert digest.text.startswith("🚨") and f"/claim {p1s[0]}" not in digest.text
    assert f"接单 #{p1s[0]}" not in digest.labels and f"接单 #{p1s[1]}" in digest.labels
    await bot.say(f"/claim {p1s[5]}", user=LI, chat=DESK)
    await bot.reply(chat=DESK, where=lambda s: s.text == f"已接单 #{p1s[5]}")
    assert bot.tickets.get(p1s[0]).accepted_by == "e01"
    assert bot.tickets.get(p1s[5]).accepted_by == "e02"
