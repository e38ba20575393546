"""「怎么还没人回」「进度怎么样了」 through the whole bot over the fake Telegram server: a nudge
goes under the card of the ticket the person waits on (theirs, or one they joined with 「我也是」)
marked 催办, they are told where it stands, and it is never a ticket of its own. Time moves
only through the test clock."""

# ruff: noqa: F811 (the Telegram e2e fixtures are imported, then requested by name)
from __future__ import annotations

import dataclasses

from bot.app import App
from bot.infra.config import Settings
from bot.tickets.models import Ticket
from tests.e2e.test_bot_telegram import (  # noqa: F401 (fixtures)
    CASHIER,
    DESK,
    H1_CHAT,
    NURSE,
    WANG,
    index_dir,
    settings,
    tg,
    ticket_number,
)
from tests.e2e.test_group_behaviour import (  # noqa: F401
    ANSWERED,
    DOCTOR,
    UNANSWERABLE,
    bot,
    clock,
    group_bot,
    rows,
    typing_in,
)
from tests.e2e.test_same_problem import BOT_MENTION
from tests.fakes.telegram_api import FakeTelegram
from tests.tickets.conftest import FakeClock


async def test_a_nudge_goes_under_the_card_and_says_where_the_ticket_stands(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE, first_name="护士小张")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    number = ticket_number(card.text)
    clock.advance(minutes=12)
    nudge = tg.user_message(H1_CHAT, NURSE, "怎么还没人回？？")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == nudge["message_id"]
    )
    assert f"#{number}" in (told.text or "") and "已等 12 分钟" in (told.text or "")
    relayed = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "催办" in (m.text or ""))
    assert relayed.reply_to == card.message_id and "怎么还没人回" in (relayed.text or "")
    assert "（催办）怎么还没人回？？" in [m.text for m in bot.services.tickets.messages(number)]
    # once an engineer has it, the nudge names them
    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    again = tg.user_message(H1_CHAT, NURSE, "进度怎么样了")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == again["message_id"]
    )
    assert "王工" in (told.text or "") and f"#{number}" in (told.text or "")
    # someone who joined it with 「我也是」 is waiting on it too
    tg.user_message(H1_CHAT, CASHIER, "我们这边也是")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "2 人反映" in (m.text or ""))
    theirs = tg.user_message(H1_CHAT, CASHIER, "还要等多久啊")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == theirs["message_id"]
    )
    assert f"#{number}" in (told.text or "")
    assert len(rows(bot, Ticket)) == 1


async def test_a_nudge_with_nothing_waiting_is_never_a_ticket(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, DOCTOR, "怎么还没人回")  # about something between people: left alone
    mention = tg.user_message(
        H1_CHAT,
        DOCTOR,
        f"{BOT_MENTION} 都半小时了",
        entities=[{"type": "mention", "offset": 0, "length": len(BOT_MENTION)}],
    )
    asked = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == mention["message_id"]
    )
    assert "请直接描述" in (asked.text or "")
    # 「人呢」 with nothing waiting is a greeting: it waits for the question it opens
    tg.user_message(H1_CHAT, NURSE, "人呢？？")
    await tg.wait_until(lambda: typing_in(tg, H1_CHAT) == 1, what="typing after 人呢")
    clock.advance(seconds=5)
    tg.user_message(H1_CHAT, NURSE, ANSWERED)
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "/kb/hb-006" in (m.text or ""))
    assert rows(bot, Ticket) == [] and len(tg.sent_messages(H1_CHAT)) == 2


async def test_the_learned_model_reads_a_nudge_but_never_a_report(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE, first_name="护士小张")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    number = ticket_number(card.text)
    clock.advance(minutes=5)
    nudge = tg.user_message(H1_CHAT, NURSE, "还有人在跟这个问题吗")  # the rules miss it
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == nudge["message_id"]
    )
    assert f"#{number}" in (told.text or "") and "已等 5 分钟" in (told.text or "")
    # the model alone would call this a nudge too; it tells a symptom, so it is decided: a P1
    tg.user_message(H1_CHAT, NURSE, "目前门诊和急诊都无法登录 麻烦尽快处理一下")
    await tg.wait_until(lambda: len(rows(bot, Ticket)) == 2, what="the outage paged")
    assert {t.urgency for t in rows(bot, Ticket)} == {"P3", "P1"}


async def test_whether_it_is_back_is_answered_from_the_open_outage_and_its_end_relayed(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    # nothing is down: 「恢复了吗」 is decided as usual (chit-chat, left alone)
    tg.user_message(H1_CHAT, DOCTOR, "恢复了吗")
    tg.user_message(H1_CHAT, NURSE, "HIS崩了！！！")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    number = ticket_number(card.text)
    assert rows(bot, Ticket)[0].urgency == "P1"
    assert not [m for m in tg.sent_messages(H1_CHAT) if "P1 工单" in (m.text or "")]
    clock.advance(minutes=7)
    # anyone may ask while it is open: told where the P1 stands, nothing relayed
    asked = tg.user_message(H1_CHAT, DOCTOR, "HIS恢复了吗")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == asked["message_id"]
    )
    assert f"P1 工单 #{number}" in (told.text or "") and "7 分钟前" in (told.text or "")
    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    again = tg.user_message(H1_CHAT, CASHIER, "什么时候能好啊")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == again["message_id"]
    )
    assert "王工已受理" in (told.text or "")
    assert not [m for m in tg.sent_messages(DESK) if "恢复了吗" in (m.text or "")]
    assert len(rows(bot, Ticket)) == 1
    # the hospital telling it is back: under the P1's card for the engineer, nothing in the group
    in_group = len(tg.sent_messages(H1_CHAT))
    tg.user_message(H1_CHAT, DOCTOR, "HIS恢复了，大家可以正常用了")
    relayed = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "告知已恢复" in (m.text or ""))
    assert relayed.reply_to == card.message_id and "HIS恢复了" in (relayed.text or "")
    assert len(tg.sent_messages(H1_CHAT)) == in_group and len(rows(bot, Ticket)) == 1
    # a question that tells its own symptom is decided, not answered with the status
    tg.user_message(H1_CHAT, CASHIER, "恢复了吗？我这收费还是报错 ORA-01017")
    await tg.wait_until(lambda: len(rows(bot, Ticket)) == 2, what="the cashier's own ticket")


async def test_with_outage_status_off_a_question_is_decided_and_a_restoration_left_alone(
    settings: Settings, tg: FakeTelegram, clock: FakeClock
) -> None:
    group = dataclasses.replace(settings.bot.group, outage_status_hours=0)
    off = dataclasses.replace(settings, bot=dataclasses.replace(settings.bot, group=group))
    app = group_bot(off, tg, clock)
    await app.start()
    try:
        tg.user_message(H1_CHAT, NURSE, "HIS崩了！！！")
        await tg.wait_for_sent(lambda m: m.chat_id == DESK)
        tg.user_message(H1_CHAT, DOCTOR, "HIS恢复了吗")
        tg.user_message(H1_CHAT, DOCTOR, "HIS恢复了，大家可以正常用了")
        tg.user_message(H1_CHAT, DOCTOR, ANSWERED)  # answered: everything before it was decided
        await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "/kb/hb-006" in (m.text or ""))
        assert not [m for m in tg.sent_messages(H1_CHAT) if "本院的故障" in (m.text or "")]
        assert not [m for m in tg.sent_messages(DESK) if "告知已恢复" in (m.text or "")]
        assert len(rows(app, Ticket)) == 1
    finally:
        await app.stop()
