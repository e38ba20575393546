"""Pipeline behaviour through the in-process test bot (tests/testbot.py): the real app over
the sample KB and a temp SQLite database, with no platform in between. What the platforms do
with these replies is the adapter contract's business (tests/contract)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.inbox.scope import Handling, current
from bot.tickets.store import InvalidTransition
from tests.linked import until_linked
from tests.once import seeded_index_dir
from tests.testbot import (
    CASHIER,
    DESK,
    H1_CHAT,
    H2_CHAT,
    LI,
    NURSE,
    STRANGER_CHAT,
    WANG,
    TestBot,
    running_testbot,
    ticket_number,
    two_hospitals_config,
)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index folder for the module: later builds reuse its vectors (nothing re-embedded)."""
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
async def bot(tmp_path: Path, index_dir: Path) -> AsyncIterator[TestBot]:
    async with running_testbot(tmp_path, index_dir, two_hospitals_config()) as running:
        yield running


async def test_question_answer_unsolved_ticket_claim_relay_resolve(bot: TestBot) -> None:
    question = await bot.say("yb结算报2304，总额和明细对不上", user=NURSE, chat=H1_CHAT)
    answer = await bot.reply(chat=H1_CHAT)
    assert answer.reply.reply_to == question.message_id
    assert "住院医保结算提示总额与明细合计不一致" in answer.text
    assert answer.reply.citation is not None and answer.reply.citation.article_id == "hb-002"
    assert answer.labels == ["已解决", "没解决，转工程师"]

    # "没解决" → ticket, hospital told, card on the desk
    await bot.press(answer, "没解决，转工程师", user=NURSE)
    notice = await bot.reply(chat=H1_CHAT, where=lambda s: "工单" in s.text)
    number = ticket_number(notice.text)
    card = await bot.reply(chat=DESK)
    assert number in card.text and "第一人民医院" in card.text
    assert "hb-002" in card.text  # the article already tried
    assert card.labels[0] == "接单"  # then the likely categories, corrected with one tap
    assert all(label.startswith("改为") for label in card.labels[1:])

    # 接单 by 王工: card updated, hospital told
    await bot.press(card, "接单", user=WANG)
    accepted = await bot.reply(chat=H1_CHAT, where=lambda s: "已受理" in s.text)
    assert "王工" in accepted.text
    await bot.adapter.wait_until(
        lambda: any("已受理" in e.text for e in card.edits), "the card marked accepted"
    )
    assert bot.tickets.get(number).accepted_by == "e01"

    # engineer replies to the card → relayed to the hospital thread
    await bot.say("请问是哪个病人的结算？发下截图", user=WANG, chat=DESK, reply_to=card)
    relayed = await bot.reply(chat=H1_CHAT, where=lambda s: "发下截图" in s.text)
    assert relayed.reply.reply_to == question.message_id
    await until_linked(bot.app, "发下截图", chat_id=str(H1_CHAT))  # a person replies later

    # hospital answers the relayed message → relayed to the desk, recorded on the ticket
    await bot.say("是住院的，截图马上发", user=NURSE, chat=H1_CHAT, reply_to=relayed)
    back = await bot.reply(chat=DESK, where=lambda s: "截图马上发" in s.text)
    assert back.reply.reply_to == card.ref.message_id
    texts = [m.text for m in bot.tickets.messages(number)]
    assert "请问是哪个病人的结算？发下截图" in texts and "是住院的，截图马上发" in texts

    # /resolve → hospital told how it was solved; the audit trail has every step
    await bot.say(f"/resolve {number} 医保中心重新对总账后恢复", user=WANG, chat=DESK)
    done = await bot.reply(chat=H1_CHAT, where=lambda s: "处理完成" in s.text)
    assert "医保中心重新对总账后恢复" in done.text
    ticket = bot.tickets.get(number)
    assert ticket.status == "resolved" and ticket.resolution == "医保中心重新对总账后恢复"
    assert ticket.accepted_at is not None and ticket.completed_at is not None
    kinds = {e.kind for e in bot.tickets.events(number)}
    assert {
        "opened",
        "card_posted",
        "accepted",
        "relayed_to_hospital",
        "relayed_to_engineers",
        "resolved",
    } <= kinds


async def test_urgent_message_opens_p1_and_mentions_the_dedicated_engineer(bot: TestBot) -> None:
    await bot.say("紧急！全院HIS都登不上了，收费处排长队", user=CASHIER, chat=H1_CHAT)
    notice = await bot.reply(chat=H1_CHAT)
    assert "紧急" in notice.text and "正在呼叫值班工程师" in notice.text
    # nobody is on the duty roster here, so nobody was reached: the hospital is told just that
    outcome = await bot.reply(chat=H1_CHAT, where=lambda s: s is not notice)
    assert "暂未联系上值班工程师" in outcome.text and "已呼叫" not in outcome.text
    card = await bot.reply(chat=DESK)
    assert bot.tickets.get(ticket_number(card.text)).urgency == "P1"
    assert str(WANG) in card.reply.mention_user_ids


async def test_a_p1s_paging_outcome_follows_its_notice_even_when_the_notice_is_slow(
    bot: TestBot,
) -> None:
    # the page goes at once, beside the notice; the platform is slow with the notice: the
    # outcome (「暂未联系上…」) must still not overtake 「正在呼叫…」
    release = asyncio.Event()
    bot.adapter.holds.append((lambda r: "正在呼叫值班工程师" in r.text, release))
    await bot.say("紧急！全院HIS都登不上了，收费处排长队", user=CASHIER, chat=H1_CHAT)
    await bot.adapter.wait_until(lambda: bool(bot.adapter.held), what="the held notice")
    number = ticket_number(bot.adapter.held[0].text)

    def paged() -> bool:
        return any("SLA 呼叫" in (e.text or "") for e in bot.tickets.events(number))

    sla = bot.app.services.sla
    assert sla is not None
    seen = sla.pulse.generation
    async with asyncio.timeout(20):  # guards a hang only: woken by the SLA watch's pulse
        while not await asyncio.to_thread(paged):  # the page is done, its outcome due
            seen = await sla.pulse.wait(seen, timeout=5)
    release.set()
    outcome = await bot.reply(chat=H1_CHAT, where=lambda s: "暂未联系上" in s.text)
    notice = next(s for s in bot.said_in(H1_CHAT) if "正在呼叫值班工程师" in s.text)
    assert bot.said_in(H1_CHAT).index(notice) < bot.said_in(H1_CHAT).index(outcome)


async def test_chitchat_is_silent(bot: TestBot) -> None:
    for text in ("收到，谢谢", "👍👍", "住院病人入院时间录错了，床位费多算了一天"):
        await bot.say(text, user=NURSE, chat=H1_CHAT, mentions_bot=False)
    # one chat's messages are handled in order: once the question is answered, the two
    # chit-chat messages before it have been handled too, and got nothing
    await bot.reply(chat=H1_CHAT)
    (answer,) = bot.said_in(H1_CHAT)
    assert "床位费" in answer.text


async def test_other_hospital_cannot_read_the_ticket(bot: TestBot) -> None:
    await bot.say("全院所有电脑都报ORA-12541，登不上", user=NURSE, chat=H1_CHAT)
    number = ticket_number((await bot.reply(chat=H1_CHAT)).text)
    await bot.say(f"/ticket {number}", user=CASHIER, chat=H2_CHAT)
    reply = await bot.reply(chat=H2_CHAT)
    assert "没有找到" in reply.text and "ORA" not in reply.text
    await bot.say(f"/ticket {number}", user=NURSE, chat=H1_CHAT)
    own = await bot.reply(chat=H1_CHAT, where=lambda s: "待接单" in s.text)
    assert number in own.text


async def test_unregistered_group_is_told_once_and_nothing_is_stored(bot: TestBot) -> None:
    await bot.say("医保结算报错怎么办", user=NURSE, chat=STRANGER_CHAT)
    await bot.say("有人吗？全院都登不上了", user=NURSE, chat=STRANGER_CHAT)
    await bot.say("入院时间录错了，床位费多算了", user=NURSE, chat=H1_CHAT)  # a marker
    await bot.reply(chat=H1_CHAT)
    await bot.reply(chat=STRANGER_CHAT)
    (told,) = bot.said_in(STRANGER_CHAT)
    assert "尚未登记" in told.text
    assert bot.tickets.open_tickets() == []


async def test_engineer_commands_need_a_registered_engineer(bot: TestBot) -> None:
    await bot.say("/tickets", user=9999, chat=DESK)
    refusal = await bot.reply(chat=DESK)
    assert "只有登记的工程师" in refusal.text


async def test_still_not_working_under_an_answer_escalates_the_thread(bot: TestBot) -> None:
    await bot.say("入院时间录错了，床位费多算了一天", user=NURSE, chat=H1_CHAT)
    answer = await bot.reply(chat=H1_CHAT)
    await bot.say("按步骤改了还是不行", user=NURSE, chat=H1_CHAT, reply_to=answer)
    notice = await bot.reply(chat=H1_CHAT, where=lambda s: "工单" in s.text)
    number = ticket_number(notice.text)
    ticket = bot.tickets.get(number)
    assert "床位费" in ticket.question and "还是不行" in ticket.question  # the whole thread
    assert [a.article_id for a in bot.tickets.articles(number)] == ["hb-006"]


async def test_two_engineers_claim_at_once_one_wins(bot: TestBot) -> None:
    await bot.say("手术麻醉系统的排班表怎么导出到Excel？", user=NURSE, chat=H1_CHAT)
    card = await bot.reply(chat=DESK)
    await asyncio.gather(bot.press(card, "接单", user=WANG), bot.press(card, "接单", user=LI))
    await bot.adapter.wait_until(lambda: len(bot.adapter.acknowledged) >= 2, "two answers")
    owner = bot.tickets.get(ticket_number(card.text)).accepted_by
    assert owner in ("e01", "e02")
    answers = [text for _, text in bot.adapter.acknowledged]
    assert any("已接单" in a for a in answers) and any("已被" in a for a in answers)
    await bot.reply(chat=H1_CHAT, where=lambda s: "已受理" in s.text)
    assert len([s for s in bot.said_in(H1_CHAT) if "已受理" in s.text]) == 1


async def test_a_replayed_reopen_finishes_telling_instead_of_failing(bot: TestBot) -> None:
    """A crash after /reopen changed the ticket and before the hospital was told: the replay
    of that event tells it (once), where the store alone would refuse a second reopening."""
    await bot.say("yb结算报2304，总额和明细对不上", user=NURSE, chat=H1_CHAT)
    answer = await bot.reply(chat=H1_CHAT)
    await bot.press(answer, "没解决，转工程师", user=NURSE)
    number = ticket_number((await bot.reply(chat=H1_CHAT, where=lambda s: "工单" in s.text)).text)
    card = await bot.reply(chat=DESK)
    await bot.press(card, "接单", user=WANG)
    await bot.say(f"/resolve {number} 重新对账后恢复", user=WANG, chat=DESK)
    await bot.reply(chat=H1_CHAT, where=lambda s: "处理完成" in s.text)
    services = bot.app.services
    engineer = await services.db.read(lambda: services.registry.get_engineer("e01"))
    assert engineer is not None
    flow, key = services.ticket_flow, "telegram:test-reopen"

    def told() -> list[str]:
        return [s.text for s in bot.said_in(H1_CHAT) if "已重新打开" in s.text]

    token = current.set(Handling(key, task=asyncio.current_task()))
    try:  # the first handling changed the ticket; the crash stopped it before telling
        await services.db.write(lambda: services.tickets.reopen(number, "e01", "仍报2304"))
    finally:
        current.reset(token)
    assert told() == []
    replays = []
    for _ in range(2):  # a second replay (another crash) sends nothing more
        token = current.set(Handling(key, replay=True, task=asyncio.current_task()))
        try:
            replays.append(await flow.reopen(number, engineer, "仍报2304"))
        finally:
            current.reset(token)
    reopened, again = replays
    assert reopened.status == again.status == "in_progress"
    assert told() == [f"工单 #{number} 已重新打开，工程师会继续跟进。"]
    # a different reopening is still refused (only the replayed one is finished)
    with pytest.raises(InvalidTransition):
        await flow.reopen(number, engineer, "另一个原因")
