"""Behaving well in a busy group, through the whole bot over the fake Telegram server: pieces
of one question, no duplicate tickets, one P1 per outage, 「还是不行」, engineers already
talking, outage tickets without articles nobody saw. Time moves only through the test clock
the app is built with (the gathering window, the engineers' minutes, the incident window)."""

# ruff: noqa: F811 (the Telegram e2e fixtures are imported, then requested by name)
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, select

from adapters.telegram.adapter import TelegramAdapter
from bot.app import App, build_app
from bot.conversation.exchanges import Exchange
from bot.conversation.skips import SkippedMessage
from bot.infra.config import Secrets, Settings
from bot.infra.db import make_engine
from bot.tickets.incidents import IncidentReporter
from bot.tickets.models import Ticket
from tests.e2e.test_bot_telegram import (  # noqa: F401 (fixtures)
    CASHIER,
    DESK,
    H1_CHAT,
    NURSE,
    TOKEN,
    WANG,
    index_dir,
    settings,
    tg,
    ticket_number,
)
from tests.fakes.telegram_api import FakeTelegram
from tests.tickets.conftest import FakeClock

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

DOCTOR = 7003
ANSWERED = "住院病人入院时间录错了，床位费多算了一天"  # hb-006, answered
UNANSWERABLE = "新来的护士怎么开通HIS账号"  # escalated: the sample KB has nothing on it
OUTAGE = "全院HIS都登不上了，急！"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def group_bot(settings: Settings, tg: FakeTelegram, clock: FakeClock) -> App:
    """The bot over the fake Telegram server and the test clock, for a busy group."""
    tg_settings = dataclasses.replace(  # a busy group: no 3-message burst limit in the way
        settings.telegram,
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        group_burst=60,
        group_per_minute=600,
    )
    return build_app(
        settings,
        Secrets.from_env({}),
        db=make_engine(settings.storage_url),
        adapters=[TelegramAdapter(TOKEN, tg_settings)],
        clock=clock,
    )


@pytest.fixture
async def bot(settings: Settings, tg: FakeTelegram, clock: FakeClock) -> AsyncIterator[App]:
    app = group_bot(settings, tg, clock)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def rows(app: App, model: type) -> list:  # type: ignore[type-arg]
    with Session(app.services.db.engine) as s:
        return list(s.exec(select(model)).all())


def typing_in(tg: FakeTelegram, chat: int) -> int:
    return sum(1 for c in tg.calls_to("sendChatAction") if c.params.get("chat_id") == chat)


async def test_greeting_problem_and_screenshot_are_one_question(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, NURSE, "在吗", first_name="护士小张")
    await tg.wait_until(lambda: typing_in(tg, H1_CHAT) == 1, what="typing after 在吗")
    clock.advance(seconds=5)
    tg.user_message(H1_CHAT, NURSE, photo=True)  # a screenshot first, no caption
    await tg.wait_until(lambda: typing_in(tg, H1_CHAT) == 2, what="typing after the screenshot")
    clock.advance(seconds=10)
    question = tg.user_message(H1_CHAT, NURSE, ANSWERED)
    answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert answer.reply_to == question["message_id"] and "/kb/hb-006" in (answer.text or "")
    # one exchange: the problem and the screenshot together, the greeting left out
    [exchange] = rows(bot, Exchange)
    assert exchange.question.startswith(ANSWERED) and "[截图:" in exchange.question
    assert "在吗" not in exchange.question

    # a screenshot right after the question joins it: no second answer, kept in its thread
    clock.advance(seconds=8)
    tg.user_message(H1_CHAT, NURSE, photo=True)
    await tg.wait_until(lambda: len(rows(bot, Exchange)) == 2, what="the screenshot kept")
    # the window over, a greeting waits again and a new question stands alone
    clock.advance(seconds=60)
    tg.user_message(H1_CHAT, NURSE, "有人吗")
    await tg.wait_until(lambda: typing_in(tg, H1_CHAT) == 3, what="typing after 有人吗")
    clock.advance(seconds=60)  # the greeting's window passed: it is not part of what follows
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE)
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
    assert len(tg.sent_messages(H1_CHAT)) == 2  # the answer and this notice, nothing else
    first, piece, second = rows(bot, Exchange)
    assert piece.decision == "follow_up" and piece.thread_root == first.thread_root
    assert "[截图:" in piece.question
    ticket = bot.services.tickets.get(ticket_number(notice.text))
    assert ticket.question == UNANSWERABLE  # neither greeting nor old screenshot rode along
    assert second.question == UNANSWERABLE


async def test_greetings_alone_never_open_a_ticket(bot: App, tg: FakeTelegram) -> None:
    tg.user_message(H1_CHAT, NURSE, "在吗")
    tg.user_message(H1_CHAT, NURSE, "有人吗？？")
    tg.user_message(H1_CHAT, NURSE, "好的谢谢")  # thanks: silence
    tg.user_message(H1_CHAT, CASHIER, ANSWERED)
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert len(tg.sent_messages(H1_CHAT)) == 1
    assert rows(bot, Ticket) == []


async def test_the_same_person_asking_again_is_pointed_to_their_open_ticket(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE)
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
    number = ticket_number(notice.text)
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    clock.advance(minutes=20)
    again = tg.user_message(H1_CHAT, NURSE, "新来的护士HIS账号怎么开通？急着用")
    pointer = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and "正在处理" in (m.text or "")
    )
    assert f"#{number}" in (pointer.text or "") and pointer.reply_to == again["message_id"]
    assert len(rows(bot, Ticket)) == 1
    said = [m.text for m in bot.services.tickets.messages(number)]
    assert "新来的护士HIS账号怎么开通？急着用" in said
    relayed = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "急着用" in (m.text or ""))
    assert relayed.reply_to == card.message_id
    # someone else asking the same thing gets their own ticket
    tg.user_message(H1_CHAT, CASHIER, UNANSWERABLE)
    await tg.wait_until(lambda: len(rows(bot, Ticket)) == 2, what="a second person's ticket")


async def test_one_outage_many_reporters_one_p1(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, CASHIER, OUTAGE, first_name="收费员小刘")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    number = ticket_number(card.text)
    clock.advance(minutes=3)
    second = tg.user_message(H1_CHAT, NURSE, "HIS进不去了 整个病区都登不上", first_name="护士小张")
    clock.advance(minutes=2)
    third = tg.user_message(H1_CHAT, DOCTOR, "医生站全部登不上了！！", first_name="李医生")
    joined = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == third["message_id"]
    )
    assert f"#{number}" in (joined.text or "") and "3 人报告" in (joined.text or "")
    [ticket] = rows(bot, Ticket)
    assert ticket.urgency == "P1"
    reporters = rows(bot, IncidentReporter)
    assert [(r.user_id, r.message_id) for r in reporters] == [
        (str(NURSE), str(second["message_id"])),
        (str(DOCTOR), str(third["message_id"])),
    ]
    await tg.wait_until(
        lambda: any("另有 2 人报告" in (e.get("text") or "") for e in card.edits),
        what="the card listing the other reporters",
    )
    assert len(tg.sent_messages(DESK)) == 1  # one card, updated, not one per report
    # each report joined the ticket's conversation and is linked to it (one transaction)
    kept = [m.text for m in bot.services.tickets.messages(number)]
    assert "HIS进不去了 整个病区都登不上" in kept and "医生站全部登不上了！！" in kept
    link = bot.services.links.ticket_for("telegram", str(H1_CHAT), str(third["message_id"]))
    assert link is not None and link.ticket_number == number

    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    tg.user_message(DESK, WANG, f"/resolve {number} 数据库监听已重启")
    everyone = await tg.wait_for_sent(
        lambda m: (
            m.chat_id == H1_CHAT
            and "处理完成" in (m.text or "")
            and m.reply_to == third["message_id"]
        )
    )
    mentioned = {e["user"]["id"] for e in everyone.entities if e.get("type") == "text_mention"}
    assert mentioned == {NURSE, DOCTOR} or all(
        str(u) in (everyone.raw_text or "") for u in (NURSE, DOCTOR)
    )
    # long after, the same words are a new outage
    clock.advance(minutes=45)
    tg.user_message(H1_CHAT, NURSE, OUTAGE)
    await tg.wait_until(lambda: len(rows(bot, Ticket)) == 2, what="a new P1")


async def test_still_not_working_under_the_resolution_reopens(bot: App, tg: FakeTelegram) -> None:
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE)
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    number = ticket_number(card.text)
    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    tg.user_message(DESK, WANG, f"/resolve {number} 已在系统管理里开通账号")
    done = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "处理完成" in (m.text or ""))
    assert bot.services.tickets.get(number).status == "resolved"
    # the resolution's link to the ticket is written just after it is sent (a person replies
    # seconds later; the test would within microseconds)
    await tg.wait_until(
        lambda: bot.services.links.ticket_for("telegram", str(H1_CHAT), str(done.message_id)),
        what="the resolution linked to its ticket",
    )

    tg.user_message(
        H1_CHAT, NURSE, "还是不行，登录提示没有权限", reply_to_message_id=done.message_id
    )
    told = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "重新打开" in (m.text or ""))
    assert f"#{number}" in (told.text or "")
    ticket = bot.services.tickets.get(number)
    assert ticket.status == "in_progress" and ticket.accepted_by == "e01"
    [reopened] = [e for e in bot.services.tickets.events(number) if e.kind == "reopened"]
    assert reopened.actor_kind == "hospital_user" and "没有权限" in (reopened.text or "")
    await tg.wait_for_sent(lambda m: m.chat_id == DESK and "重新打开" in (m.text or ""))


async def test_bare_still_not_working_links_to_the_latest_or_asks(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    # nothing answered yet: asked which, no ticket
    tg.user_message(H1_CHAT, NURSE, "还是不行")
    asked = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert "哪个问题" in (asked.text or "") and rows(bot, Ticket) == []

    # one answered question: the bare follow-up escalates it
    tg.user_message(H1_CHAT, NURSE, ANSWERED)
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "/kb/hb-006" in (m.text or ""))
    clock.advance(minutes=5)
    tg.user_message(H1_CHAT, NURSE, "试了还是不行啊")
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
    ticket = bot.services.tickets.get(ticket_number(notice.text))
    assert ANSWERED in ticket.question and ticket.reporter_user_id == str(NURSE)

    # two things in the hour (that ticket, and another answer): buttons, only for the asker
    clock.advance(minutes=5)
    tg.user_message(H1_CHAT, NURSE, "yb结算报2304，总额和明细对不上")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "/kb/hb-002" in (m.text or ""))
    clock.advance(minutes=5)
    tg.user_message(H1_CHAT, NURSE, "还是不行")
    choose = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "请点选" in (m.text or ""))
    labels = [b["text"] for b in choose.buttons]
    assert len(labels) == 2 and labels[1].startswith(f"工单 #{ticket.number}")
    tg.callback_query(H1_CHAT, CASHIER, choose.message_id, choose.buttons[0]["callback_data"])
    await tg.wait_until(lambda: tg.callback_answers, what="the stranger's press answered")
    assert len(rows(bot, Ticket)) == 1
    tg.callback_query(H1_CHAT, NURSE, choose.message_id, choose.buttons[0]["callback_data"])
    second = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or "") and m is not notice
    )
    assert "2304" in bot.services.tickets.get(ticket_number(second.text)).question


async def test_the_bot_stays_out_while_an_engineer_talks_to_the_person(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.add_user(WANG, first_name="王工")
    first = tg.user_message(H1_CHAT, NURSE, "王工 麻烦看下我们这边收费的问题")
    tg.user_message(H1_CHAT, WANG, "我远程看一下，稍等", reply_to_message_id=first["message_id"])
    asked = tg.user_message(H1_CHAT, NURSE, ANSWERED)
    await tg.wait_until(lambda: rows(bot, SkippedMessage), what="the skip record")
    [skipped] = rows(bot, SkippedMessage)
    assert skipped.message_id == str(asked["message_id"]) and skipped.engineer_id == "e01"
    assert skipped.reason == "engineer_talking"
    # someone else is still answered; the engineer's own message never was
    tg.user_message(H1_CHAT, CASHIER, ANSWERED)
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert len(tg.sent_messages(H1_CHAT)) == 1 and rows(bot, Ticket) == []
    # minutes later the bot answers the person again
    clock.advance(minutes=11)
    tg.user_message(H1_CHAT, NURSE, ANSWERED)
    await tg.wait_for_sent(2, chat_id=H1_CHAT)


async def test_an_outage_ticket_lists_no_article_nobody_saw(bot: App, tg: FakeTelegram) -> None:
    # the decision carries hb-001 as a hint for the engineers, but the hospital never saw it
    tg.user_message(H1_CHAT, CASHIER, "全院客户端都提示无监听程序，连不上数据库，急！！")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    number = ticket_number(card.text)
    assert bot.services.tickets.get(number).urgency == "P1"
    assert bot.services.tickets.articles(number) == []
    assert "hb-001" not in (card.text or "")


async def test_an_outage_told_to_a_colleague_still_pages(bot: App, tg: FakeTelegram) -> None:
    """A reply to a person is their conversation — unless it is a clear outage."""
    colleague = tg.user_message(H1_CHAT, CASHIER, "你们那边能收费吗", first_name="收费员小刘")
    tg.user_message(
        H1_CHAT,
        NURSE,
        "全院HIS都登不上了 门诊所有窗口都停了",
        reply_to_message_id=colleague["message_id"],
    )
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    assert bot.services.tickets.get(ticket_number(card.text)).urgency == "P1"
    [ticket] = rows(bot, Ticket)
    assert ticket.reporter_user_id == str(NURSE)


async def test_the_category_is_corrected_with_one_tap_by_the_reporter_or_an_engineer(
    bot: App, tg: FakeTelegram
) -> None:
    tg.user_message(H1_CHAT, NURSE, "医保卡读卡器新电脑上怎么装驱动")
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
    number = ticket_number(notice.text)
    ticket = bot.services.tickets.get(number)
    offered = {b["text"]: b["callback_data"] for b in notice.buttons}
    assert ticket.category in ("insurance", "install") and "分类：" in (notice.text or "")
    other = "改为安装" if ticket.category == "insurance" else "改为医保"
    assert other in offered
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    await tg.wait_until(lambda: bot.services.tickets.cards_for(number), what="the card recorded")
    # a bystander cannot change someone else's ticket
    tg.callback_query(H1_CHAT, CASHIER, notice.message_id, offered[other])
    await tg.wait_until(lambda: len(tg.callback_answers) == 1, what="the refusal")
    assert bot.services.tickets.get(number).category == ticket.category
    # the reporter can, in one tap; the desk card follows
    tg.callback_query(H1_CHAT, NURSE, notice.message_id, offered[other])
    await tg.wait_until(lambda: len(tg.callback_answers) == 2, what="the reporter's tap")
    changed = bot.services.tickets.get(number).category
    assert changed != ticket.category
    label = "安装" if changed == "install" else "医保"
    await tg.wait_until(
        lambda: f"分类：{label}" in (card.text or ""), what="the card re-rendered with the category"
    )
    [event] = [e for e in bot.services.tickets.events(number) if e.kind == "category_changed"]
    assert event.actor_kind == "hospital_user" and event.to_value == changed
    # an engineer corrects it from the card
    consult = next(b for b in card.buttons if b["text"] == "改为咨询")
    tg.callback_query(DESK, WANG, card.message_id, consult["callback_data"])
    await tg.wait_until(
        lambda: bot.services.tickets.get(number).category == "consult", what="the engineer's tap"
    )
    last = [e for e in bot.services.tickets.events(number) if e.kind == "category_changed"][-1]
    assert last.actor_id == "e01" and last.from_value == changed
