"""「同问」「我们这边也是」 through the whole bot over the fake Telegram server: the person joins
the ticket of the question just asked (told, listed on the card, told again when it is
resolved); three people with one problem make it a P1 that pages; and what is not a 「我也是」
(a recovery, talk after a pause, one's own ticket) changes nothing. Time moves only through
the test clock."""

# ruff: noqa: F811 (the Telegram e2e fixtures are imported, then requested by name)
from __future__ import annotations

from sqlmodel import Session, select

from bot.app import App
from bot.sla.models import SlaClock
from bot.tickets.incidents import IncidentReporter
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
from tests.e2e.test_group_behaviour import DOCTOR, UNANSWERABLE, bot, clock, rows  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram
from tests.tickets.conftest import FakeClock

BOT_MENTION = "@his_support_bot"


def clocks_of(app: App, number: str) -> dict[str, SlaClock]:
    with Session(app.services.db.engine) as s:
        ticket = s.exec(select(Ticket).where(Ticket.number == number)).one()
        return {c.kind: c for c in s.exec(select(SlaClock).where(SlaClock.ticket_id == ticket.id))}


async def opened(tg: FakeTelegram, user: int, text: str, name: str) -> str:
    """``user`` asks something the KB cannot answer; the ticket's number."""
    tg.user_message(H1_CHAT, user, text, first_name=name)
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "登记工单" in (m.text or ""))
    return ticket_number(notice.text)


async def test_me_too_joins_the_ticket_and_three_people_make_it_a_p1(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    number = await opened(tg, NURSE, UNANSWERABLE, "护士小张")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    before = clocks_of(bot, number)
    clock.advance(minutes=2)
    second = tg.user_message(H1_CHAT, CASHIER, "我们这边也是", first_name="收费员小刘")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == second["message_id"]
    )
    assert f"#{number}" in (told.text or "") and "2 人反映" in (told.text or "")
    await tg.wait_until(
        lambda: any(
            "同一问题另有 1 人报告：收费员小刘" in (e.get("text") or "") for e in card.edits
        ),
        what="the card listing the second reporter",
    )
    assert bot.services.tickets.get(number).urgency == "P3"
    # a third person, after the second's 「我也是」 (it refers to the same ticket): a P1
    clock.advance(minutes=1)
    third = tg.user_message(H1_CHAT, DOCTOR, "+1 一直转圈", first_name="李医生")
    raised = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and "3 人反映" in (m.text or "") and "紧急" in (m.text or "")
    )
    assert f"#{number}" in (raised.text or "")
    ticket = bot.services.tickets.get(number)
    assert ticket.urgency == "P1" and len(rows(bot, Ticket)) == 1
    [change] = [e for e in bot.services.tickets.events(number) if e.kind == "urgency_changed"]
    assert (change.actor_kind, change.from_value, change.to_value) == ("bot", "P3", "P1")
    reporters = rows(bot, IncidentReporter)
    assert [(r.user_id, r.message_id) for r in reporters] == [
        (str(CASHIER), str(second["message_id"])),
        (str(DOCTOR), str(third["message_id"])),
    ]
    # the P1's clocks fall due by the P1 targets from the raise, never later than before
    after = clocks_of(bot, number)
    for kind in ("accept", "resolve"):
        assert after[kind].due_at < before[kind].due_at
        assert after[kind].target_minutes < before[kind].target_minutes
    await tg.wait_until(
        lambda: any("同一故障另有 2 人报告" in (e.get("text") or "") for e in card.edits),
        what="the card re-rendered as a P1 with both reporters",
    )
    assert len(tg.sent_messages(DESK)) == 1  # one card, updated
    kept = [m.text for m in bot.services.tickets.messages(number)]
    assert "我们这边也是" in kept and "+1 一直转圈" in kept

    # resolved: everyone who said 「我也是」 hears it under their own message
    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    tg.user_message(DESK, WANG, f"/resolve {number} 已在系统管理里开通账号")
    await tg.wait_for_sent(
        lambda m: (
            m.chat_id == H1_CHAT
            and "处理完成" in (m.text or "")
            and m.reply_to == third["message_id"]
        )
    )


async def test_what_is_not_a_me_too_changes_nothing(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE, first_name="护士小张")
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "登记工单" in (m.text or ""))
    number = ticket_number(notice.text)
    # one's own 「我也是」 right after one's own question adds no reporter
    tg.user_message(H1_CHAT, NURSE, "我也是")
    # a recovery replying to the question is relayed to the ticket, not joined to it
    clock.advance(minutes=1)
    tg.user_message(H1_CHAT, CASHIER, "我这边也好了 谢谢", reply_to_message_id=notice.reply_to)
    await tg.wait_for_sent(lambda m: m.chat_id == DESK and "我这边也好了" in (m.text or ""))
    # after talk about something else, 「我也是」 is about that talk
    tg.user_message(H1_CHAT, CASHIER, "今天夜班好累啊")
    tg.user_message(H1_CHAT, DOCTOR, "我也是")
    # long after the question, 「同问」 after the asker's repeat refers to nothing
    clock.advance(minutes=31)
    tg.user_message(H1_CHAT, NURSE, "新来的护士怎么开通HIS账号啊")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "正在处理" in (m.text or ""))
    clock.advance(minutes=1)
    tg.user_message(H1_CHAT, DOCTOR, "同问")
    # a chat's messages are handled in order: once this is answered, the rest were decided
    tg.user_message(H1_CHAT, DOCTOR, "住院病人入院时间录错了，床位费多算了一天")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "/kb/hb-006" in (m.text or ""))
    assert rows(bot, IncidentReporter) == [] and len(rows(bot, Ticket)) == 1
    assert bot.services.tickets.get(number).urgency == "P3"
    said = [m.text or "" for m in tg.sent_messages(H1_CHAT)]
    assert not any("人反映" in t for t in said)


async def test_a_mention_of_the_bot_finds_the_ticket_and_a_reply_joins_at_any_age(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    tg.user_message(H1_CHAT, NURSE, UNANSWERABLE, first_name="护士小张")
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "登记工单" in (m.text or ""))
    number = ticket_number(notice.text)
    # 「@bot 我们也是」 after unrelated talk (DingTalk and WeCom robots see only such
    # messages): the chat's newest open ticket of someone else, opened within the window
    clock.advance(minutes=5)
    tg.user_message(H1_CHAT, CASHIER, "中午吃什么")
    mention = tg.user_message(
        H1_CHAT,
        DOCTOR,
        f"{BOT_MENTION} 我们科也是",
        entities=[{"type": "mention", "offset": 0, "length": len(BOT_MENTION)}],
    )
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == mention["message_id"]
    )
    assert f"#{number}" in (told.text or "") and "2 人反映" in (told.text or "")
    # an hour later, 「同问」 replying to the question: joins, and three people make a P1
    clock.advance(minutes=60)
    reply = tg.user_message(H1_CHAT, CASHIER, "同问", reply_to_message_id=notice.reply_to)
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == reply["message_id"]
    )
    assert f"#{number}" in (told.text or "") and "3 人反映" in (told.text or "")
    await tg.wait_until(
        lambda: bot.services.tickets.get(number).urgency == "P1", what="the raise to P1"
    )


async def test_a_me_too_that_tells_an_outage_is_paged_as_one(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    first = await opened(tg, NURSE, UNANSWERABLE, "护士小张")
    clock.advance(minutes=1)
    tg.user_message(H1_CHAT, CASHIER, "我们这边也是，HIS都登不上了，急！", first_name="收费员小刘")
    await tg.wait_until(lambda: len(rows(bot, Ticket)) == 2, what="a P1 of its own")
    [p1] = [t for t in rows(bot, Ticket) if t.number != first]
    assert p1.urgency == "P1" and p1.reporter_user_id == str(CASHIER)
    assert rows(bot, IncidentReporter) == [] and bot.services.tickets.get(first).urgency == "P3"


async def test_not_the_same_problem_takes_a_me_too_back(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    number = await opened(tg, NURSE, UNANSWERABLE, "护士小张")
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    clock.advance(minutes=1)
    me_too = tg.user_message(H1_CHAT, CASHIER, "我们这边也是", first_name="收费员小刘")
    told = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and m.reply_to == me_too["message_id"]
    )
    [undo] = [b for b in told.buttons if b["text"] == "不是同一问题"]
    await tg.wait_until(
        lambda: any("另有 1 人报告" in (e.get("text") or "") for e in card.edits), what="listed"
    )
    # someone else cannot take it back for them
    tg.callback_query(H1_CHAT, DOCTOR, told.message_id, undo["callback_data"])
    await tg.wait_until(lambda: len(tg.callback_answers) == 1, what="the refusal")
    assert len(rows(bot, IncidentReporter)) == 1
    # they can: off the ticket, the notice says so, the card no longer lists them
    tg.callback_query(H1_CHAT, CASHIER, told.message_id, undo["callback_data"])
    await tg.wait_until(lambda: not rows(bot, IncidentReporter), what="taken off the ticket")
    await tg.wait_until(
        lambda: any("移出" in (e.get("text") or "") for e in told.edits), what="the notice edited"
    )
    await tg.wait_until(
        lambda: "另有" not in (card.edits[-1].get("text") or "") if card.edits else False,
        what="the card re-rendered",
    )
    link = bot.services.links.ticket_for("telegram", str(H1_CHAT), str(me_too["message_id"]))
    assert link is None
    notes = [e.text or "" for e in bot.services.tickets.events(number) if e.kind == "note"]
    assert any("收费员小刘 表示不是同一问题" in n for n in notes)
    # their own problem, told next, is a ticket of its own
    tg.user_message(H1_CHAT, CASHIER, "收费处的发票打印机换了新的，驱动怎么装")
    await tg.wait_until(lambda: len(rows(bot, Ticket)) == 2, what="their own ticket")
