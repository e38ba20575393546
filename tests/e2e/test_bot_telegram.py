"""The whole bot over Telegram: the real pipeline, ticket store and python-telegram-bot adapter,
talking HTTP to the fake Bot API on 127.0.0.1. Nothing is mocked but the platform's server."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram.adapter import TelegramAdapter
from bot.app import App, build_app
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from tests.fakes.telegram_api import FakeTelegram
from tests.linked import until_linked, watch_links
from tests.once import seeded_index_dir
from tests.testbot import (
    CASHIER,
    DESK,
    H1_CHAT,
    H2_CHAT,
    LI,
    NURSE,
    WANG,
    ticket_number,
    two_hospitals_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "123456:TEST-token"
# Roomy group pacing: these tests are about the flow, not Telegram's 20-a-minute (which spaces a
# group's fourth message 3 s after its first); the pacing tests set their own budgets.
CONFIG = two_hospitals_config("poll_timeout = 1\ngroup_per_minute = 600\ngroup_burst = 20")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index folder for the module: later builds reuse its vectors (nothing re-embedded)."""
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
def settings(tmp_path: Path, index_dir: Path) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG + f'\n[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', encoding="utf-8"
    )
    s = load_settings(path)
    return dataclasses.replace(s, kb=dataclasses.replace(s.kb, index_dir=str(index_dir)))


async def start_bot(settings: Settings, tg: FakeTelegram) -> App:
    tg_settings = dataclasses.replace(
        settings.telegram, base_url=tg.base_url, base_file_url=tg.base_file_url
    )
    adapter = TelegramAdapter(TOKEN, tg_settings)
    app = build_app(
        settings, Secrets.from_env({}), db=make_engine(settings.storage_url), adapters=[adapter]
    )
    watch_links(app)
    await app.start()
    return app


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(DESK, chat_type="supergroup", title="工程师群")
        fake.add_user(WANG, first_name="王工")
        fake.add_user(LI, first_name="李工")
        yield fake


@pytest.fixture
async def bot(settings: Settings, tg: FakeTelegram) -> AsyncIterator[App]:
    app = await start_bot(settings, tg)
    try:
        yield app
    finally:
        await app.stop()


async def test_question_answer_unsolved_ticket_claim_relay_resolve(
    bot: App, tg: FakeTelegram
) -> None:
    question = tg.user_message(
        H1_CHAT, NURSE, "yb结算报2304，总额和明细对不上", first_name="护士小张"
    )
    answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert answer.reply_to == question["message_id"]
    assert "住院医保结算提示总额与明细合计不一致" in (answer.text or "")
    assert "/kb/hb-002" in (answer.text or "")
    labels = [b["text"] for b in answer.buttons]
    assert labels == ["已解决", "没解决，转工程师"]

    # "没解决" → ticket, hospital told, card on the desk
    tg.callback_query(H1_CHAT, NURSE, answer.message_id, answer.buttons[1]["callback_data"])
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
    number = ticket_number(notice.text)
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    assert number in (card.text or "") and "第一人民医院" in (card.text or "")
    assert "hb-002" in (card.text or "")  # the article already tried
    claim, *categories = [b["text"] for b in card.buttons]
    assert claim == "接单" and categories and all(c.startswith("改为") for c in categories)

    # 接单 by 王工: card updated, hospital told
    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    accepted = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    assert "王工" in (accepted.text or "")
    await tg.wait_until(lambda: any("已受理" in (e.get("text") or "") for e in card.edits))
    assert bot.services.tickets.get(number).accepted_by == "e01"

    # engineer replies to the card → relayed to the hospital thread
    await until_linked(bot, number, chat_id=str(DESK))
    tg.user_message(
        DESK, WANG, "请问是哪个病人的结算？发下截图", reply_to_message_id=card.message_id
    )
    relayed = await tg.wait_for_sent(
        lambda m: m.chat_id == H1_CHAT and "发下截图" in (m.text or "")
    )
    assert relayed.reply_to == question["message_id"]

    # hospital answers the relayed message → relayed to the desk, recorded on the ticket
    await until_linked(bot, "发下截图", chat_id=str(H1_CHAT))
    tg.user_message(H1_CHAT, NURSE, "是住院的，截图马上发", reply_to_message_id=relayed.message_id)
    back = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "截图马上发" in (m.text or ""))
    assert back.reply_to == card.message_id
    texts = [m.text for m in bot.services.tickets.messages(number)]
    assert "请问是哪个病人的结算？发下截图" in texts and "是住院的，截图马上发" in texts

    # /resolve → hospital told how it was solved; the audit trail has every step
    tg.user_message(DESK, WANG, f"/resolve {number} 医保中心重新对总账后恢复")
    done = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "处理完成" in (m.text or ""))
    assert "医保中心重新对总账后恢复" in (done.text or "")
    ticket = bot.services.tickets.get(number)
    assert ticket.status == "resolved" and ticket.resolution == "医保中心重新对总账后恢复"
    assert ticket.accepted_at is not None and ticket.completed_at is not None
    kinds = [e.kind for e in bot.services.tickets.events(number)]
    for kind in (
        "opened",
        "card_posted",
        "accepted",
        "relayed_to_hospital",
        "relayed_to_engineers",
        "resolved",
    ):
        assert kind in kinds


async def test_a_reply_storm_of_429s_loses_nothing(bot: App, tg: FakeTelegram) -> None:
    tg.fail_ratio("sendMessage", 0.3, seed=7, retry_after=1)
    questions = [
        "yb结算报2304总额不一致",
        "入院时间录错床位费多算",
        "号源被锁了显示已满",
        "电子票据开具失败提示401",
    ]
    for q in questions:
        tg.user_message(H1_CHAT, NURSE, q)
    await tg.wait_for_sent(len(questions), chat_id=H1_CHAT, timeout=30)
    tg.clear_faults()
    replies = tg.sent_messages(H1_CHAT)
    assert len(replies) == len(questions)  # each question answered exactly once
    assert len({m.reply_to for m in replies}) == len(questions)


async def test_a_ticket_written_before_a_crash_gets_its_card_on_restart(
    settings: Settings, tg: FakeTelegram
) -> None:
    # the ticket is committed, then the process dies before the card is posted
    db = make_engine(settings.storage_url)
    app = build_app(settings, Secrets.from_env({}), db=db, adapters=[])
    ticket = app.services.tickets.open_ticket(
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id=NURSE,
        reporter_name="护士小张",
        source_platform="telegram",
        source_chat_id=H1_CHAT,
        source_message_id=1,
        question="门诊挂号打不开",
        category="usage",
    )
    assert app.services.tickets.tickets_without_card_in("telegram", DESK)
    # restart with the adapter: the missing card is posted
    restarted = await start_bot(settings, tg)
    try:
        card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
        assert ticket.number in (card.text or "")
        # the outbox records the card right after Telegram accepted it
        await tg.wait_until(
            lambda: restarted.services.tickets.tickets_without_card_in("telegram", DESK) == []
        )
    finally:
        await restarted.stop()


async def test_edited_question_is_not_answered_twice(bot: App, tg: FakeTelegram) -> None:
    question = tg.user_message(H1_CHAT, NURSE, "入院时间录错了，床位费多算")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    tg.edited_message(H1_CHAT, question["message_id"], "入院时间录错了，床位费多算了一天")
    tg.user_message(H1_CHAT, NURSE, "号源被锁了一直显示已满")  # a marker after the edit
    await tg.wait_for_sent(2, chat_id=H1_CHAT)
    assert len(tg.sent_messages(H1_CHAT)) == 2


async def test_screenshot_caption_is_the_question(bot: App, tg: FakeTelegram) -> None:
    tg.user_message(H1_CHAT, NURSE, None, photo=True, caption="开电子票据报401未授权，截图如下")
    answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert "/kb/hb-008" in (answer.text or "")


async def test_supergroup_migration_keeps_the_hospital(bot: App, tg: FakeTelegram) -> None:
    new_id = -1001001999
    tg.migrate_to_supergroup(H1_CHAT, new_id, user_id=NURSE)
    await tg.wait_until(
        lambda: bot.services.registry.hospital_for_chat("telegram", str(new_id)) is not None
    )
    assert bot.services.registry.hospital_for_chat("telegram", str(new_id)).id == "h001"
    tg.user_message(new_id, NURSE, "入院时间录错了，床位费多算了一天")
    answer = await tg.wait_for_sent(lambda m: m.chat_id == new_id)
    assert "/kb/hb-006" in (answer.text or "")


async def test_bot_removed_from_a_group_deactivates_the_chat(bot: App, tg: FakeTelegram) -> None:
    tg.bot_removed(H2_CHAT)
    await tg.wait_until(
        lambda: bot.services.registry.hospital_for_chat("telegram", str(H2_CHAT)) is None
    )
    chat = bot.services.registry.get_chat("telegram", str(H2_CHAT))
    assert chat is not None and not chat.active  # kept for the record, not deleted


async def test_offer_mode_asks_before_opening_a_ticket(
    settings: Settings, tg: FakeTelegram
) -> None:
    offer = dataclasses.replace(settings, bot=dataclasses.replace(settings.bot, escalation="offer"))
    app = await start_bot(offer, tg)
    try:
        tg.user_message(H1_CHAT, NURSE, "手术麻醉系统的排班表怎么导出到Excel？")
        reply = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
        assert [b["text"] for b in reply.buttons] == ["转工程师"]
        assert app.services.tickets.open_tickets() == []
        tg.callback_query(H1_CHAT, NURSE, reply.message_id, reply.buttons[0]["callback_data"])
        notice = await tg.wait_for_sent(
            lambda m: m.chat_id == H1_CHAT and "已为您登记" in (m.text or "")
        )
        assert app.services.tickets.get(ticket_number(notice.text)).question.startswith("手术麻醉")
    finally:
        await app.stop()


async def test_broadcast_from_the_desk_reaches_hospitals_and_records_receipts(
    settings: Settings, tg: FakeTelegram
) -> None:
    bc = dataclasses.replace(
        settings,
        engineers=tuple(
            dataclasses.replace(e, roles=("engineer", "broadcaster")) if e.id == "e01" else e
            for e in settings.engineers
        ),
        broadcast=dataclasses.replace(settings.broadcast, quiet_hours="", poll_seconds=0.2),
        telegram=dataclasses.replace(settings.telegram, group_per_minute=600, group_burst=20),
    )
    for chat, title in ((H1_CHAT, "第一人民医院"), (H2_CHAT, "第二人民医院")):
        tg.add_chat(chat, chat_type="supergroup", title=title)
    app = await start_bot(bc, tg)
    try:
        # someone without the broadcaster role is refused
        tg.user_message(
            DESK,
            LI,
            "/notice create announcement\n标题: 医保接口调整\n内容: 本周五起启用新版接口\n目标: all",
        )
        refusal = await tg.wait_for_sent(
            lambda m: m.chat_id == DESK and "broadcaster" in (m.text or "")
        )
        assert refusal.reply_to is not None
        # a broadcaster creates, test-sends and confirms
        tg.user_message(
            DESK,
            WANG,
            "/notice create announcement\n标题: 医保接口调整\n内容: 本周五起启用新版接口\n目标: all",
        )
        created = await tg.wait_for_sent(
            lambda m: (
                m.chat_id == DESK and "#" in (m.text or "") and m.message_id != refusal.message_id
            )
        )
        notice_id = int(re.search(r"#(\d+)", created.text or "").group(1))
        tg.user_message(DESK, WANG, f"/notice send {notice_id}")
        ask = await tg.wait_for_sent(
            lambda m: m.chat_id == DESK and any("确认" in b["text"] for b in m.buttons)
        )
        confirm = next(b for b in ask.buttons if "确认" in b["text"])
        tg.callback_query(DESK, WANG, ask.message_id, confirm["callback_data"])
        # both hospitals get it once, with 已知悉
        h1 = await tg.wait_for_sent(
            lambda m: m.chat_id == H1_CHAT and "医保接口调整" in (m.text or ""), timeout=15
        )
        await tg.wait_for_sent(
            lambda m: m.chat_id == H2_CHAT and "医保接口调整" in (m.text or ""), timeout=15
        )
        assert [b["text"] for b in h1.buttons] == ["已知悉"]
        tg.callback_query(H1_CHAT, NURSE, h1.message_id, h1.buttons[0]["callback_data"])
        await tg.wait_until(
            lambda: any("已记录" in (a.get("text") or "") for a in tg.callback_answers.values())
        )
        assert len([m for m in tg.sent_messages(H1_CHAT) if "医保接口调整" in (m.text or "")]) == 1
    finally:
        await app.stop()


def always_confirm(settings: Settings) -> Settings:
    """Every answerable question lands in the confirm band: never answered outright, never a
    choice of several, asked about when any article is plausible at all."""
    decide = dataclasses.replace(
        settings.decide, answer_threshold=float("inf"), confirm_threshold=0.0, clarify_max=2
    )
    decide = dataclasses.replace(decide, clarify_threshold=1.0)
    return dataclasses.replace(settings, decide=decide)


async def test_a_close_call_is_confirmed_before_the_steps_are_sent(
    settings: Settings, tg: FakeTelegram
) -> None:
    app = await start_bot(always_confirm(settings), tg)
    try:
        question = tg.user_message(H1_CHAT, NURSE, "yb结算报2304，总额和明细对不上")
        ask = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
        assert ask.reply_to == question["message_id"]
        assert (ask.text or "").startswith("是这个问题吗？《住院医保结算提示总额与明细合计不一致》")
        assert [b["text"] for b in ask.buttons] == ["是", "不是，转工程师"]
        assert "处理步骤" not in (ask.text or "") and "/kb/" not in (ask.text or "")

        # 是 → the steps with their citation and the usual feedback buttons; the question's
        # buttons are gone, so it cannot be pressed twice
        tg.callback_query(H1_CHAT, NURSE, ask.message_id, ask.buttons[0]["callback_data"])
        answer = await tg.wait_for_sent(
            lambda m: m.chat_id == H1_CHAT and "/kb/hb-002" in (m.text or "")
        )
        assert answer.reply_to == question["message_id"]
        assert [b["text"] for b in answer.buttons] == ["已解决", "没解决，转工程师"]
        await tg.wait_until(lambda: any("✔" in (e.get("text") or "") for e in ask.edits))
        assert app.services.tickets.open_tickets() == []

        # 不是 on another question → a ticket for an engineer, nothing answered
        tg.user_message(H1_CHAT, CASHIER, "号源被锁了一直显示已满")
        ask2 = await tg.wait_for_sent(
            lambda m: (
                m.chat_id == H1_CHAT and (m.text or "").startswith("是这个问题吗") and m is not ask
            )
        )
        tg.callback_query(H1_CHAT, CASHIER, ask2.message_id, ask2.buttons[1]["callback_data"])
        notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
        ticket = app.services.tickets.get(ticket_number(notice.text))
        assert "号源" in ticket.question
    finally:
        await app.stop()


async def test_talk_between_people_gets_no_answer_and_no_ticket(bot: App, tg: FakeTelegram) -> None:
    tg.add_user(CASHIER, first_name="收费员小刘", username="xiaoliu")
    # a question put to a colleague by @-mention (entity) …
    tg.user_message(H1_CHAT, NURSE, "@xiaoliu yb结算报2304，总额和明细对不上 你那边怎么弄的")
    # … and a reply to a colleague's message
    colleague = tg.user_message(H1_CHAT, CASHIER, "[图片]")  # a screenshot, left alone
    tg.user_message(
        H1_CHAT,
        NURSE,
        "是不是医保2304 总额和明细对不上",
        reply_to_message_id=colleague["message_id"],
    )
    # the same question to the bot afterwards is answered: the three above were handled first
    tg.user_message(H1_CHAT, NURSE, "yb结算报2304，总额和明细对不上")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    sent = tg.sent_messages(H1_CHAT)
    assert len(sent) == 1 and "/kb/hb-002" in (sent[0].text or "")
    assert bot.services.tickets.open_tickets() == []


async def test_a_p1_storm_on_a_telegram_desk_is_shown_at_once_in_one_urgent_digest(
    settings: Settings, tg: FakeTelegram
) -> None:
    """The Telegram adapter declares its groups' budget (20 a minute, a burst of 3): six P1s
    at once go into the desk's next slot as ONE urgent digest, not six cards queueing."""
    shipped = dataclasses.replace(settings.telegram, group_per_minute=20, group_burst=3)
    bot = await start_bot(dataclasses.replace(settings, telegram=shipped), tg)
    try:
        await _p1_storm_is_one_digest(bot, tg)
    finally:
        await bot.stop()


async def _p1_storm_is_one_digest(bot: App, tg: FakeTelegram) -> None:
    # the card outbox's start-up pass reads on a database thread: paused, it cannot see the
    # storm half-written and post part of it before the rest exists (a flaky split)
    await bot.cards.stop()
    numbers = [
        bot.services.tickets.open_ticket(
            hospital_id="h001", reporter_platform="telegram", reporter_user_id=str(NURSE),
            reporter_name="护士小张", source_platform="telegram", source_chat_id=str(H1_CHAT),
            source_message_id=str(900 + i), question=f"第{i}个院区HIS全部登录不了",
            category="usage", urgency="P1",
        ).number
        for i in range(6)
    ]  # fmt: skip
    bot.cards.start()  # its start-up pass sends what waits: the whole storm at once
    digest = await tg.wait_for_sent(
        lambda m: m.chat_id == DESK and (m.text or "").startswith("🚨 紧急工单汇总")
    )
    assert all((digest.text or "").count(f"/claim {n}") == 1 for n in numbers)
    assert not [m for m in tg.sent_messages(DESK) if (m.text or "").startswith("🎫")]
