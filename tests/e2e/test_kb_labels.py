"""Label capture on the desk: after ``/resolve``, one tap records which article answers the
question — over the real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.kb.loop.labels import LabelStore
from bot.kb.loop.models import Verdict
from tests.e2e import test_bot_telegram as bot_telegram
from tests.e2e.test_bot_telegram import DESK, H1_CHAT, LI, NURSE, WANG, ticket_number
from tests.fakes.telegram_api import FakeTelegram, SentMessage

# the whole-bot fixtures of the Telegram end-to-end tests
index_dir = bot_telegram.index_dir
settings = bot_telegram.settings
tg = bot_telegram.tg
bot = bot_telegram.bot

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")


async def _resolved_ticket(tg: FakeTelegram, question: str) -> tuple[str, SentMessage]:
    """Ask → 没解决 (or escalation) → claim → /resolve; returns (number, the label prompt)."""
    tg.user_message(H1_CHAT, NURSE, question)
    first = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    if first.buttons and "没解决" in first.buttons[-1]["text"]:
        tg.callback_query(H1_CHAT, NURSE, first.message_id, first.buttons[-1]["callback_data"])
    return await claim_and_resolve(tg)


async def claim_and_resolve(tg: FakeTelegram) -> tuple[str, SentMessage]:
    """The new ticket's card → 接单 → /resolve; returns (number, the label prompt)."""
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "接单" in str(m.buttons))
    number = ticket_number(card.text)
    tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已受理" in (m.text or ""))
    tg.user_message(DESK, WANG, f"/resolve {number} 重新对总账后恢复")
    ask = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "哪篇知识库文章" in (m.text or ""))
    assert number in (ask.text or "")
    return number, ask


async def test_one_tap_labels_the_resolved_question_with_the_tried_article(
    bot: App, tg: FakeTelegram
) -> None:
    number, ask = await _resolved_ticket(tg, "yb结算报2304，总额和明细对不上")
    labels = [b["text"] for b in ask.buttons]
    # the article the bot tried comes first, then the engine's candidates; none / new last
    assert "住院医保结算提示总额与明细合计不一致" in labels[0]
    assert labels[-2:] == ["无需文章", "需要新文章"]
    tg.callback_query(DESK, WANG, ask.message_id, ask.buttons[0]["callback_data"])
    await tg.wait_until(lambda: any("标注" in (e.get("text") or "") for e in ask.edits))
    store = LabelStore(bot.db)  # type: ignore[arg-type]
    label = store.get(number)
    assert label is not None and label.verdict == Verdict.ARTICLE
    assert label.article_id == "hb-002" and label.labelled_by == "e01"
    [row] = store.labelled()
    assert row.question == "yb结算报2304，总额和明细对不上" and row.article_id == "hb-002"


async def test_a_later_tap_replaces_the_label_and_strangers_cannot_label(
    bot: App, tg: FakeTelegram
) -> None:
    number, ask = await _resolved_ticket(tg, "手术麻醉系统的排班表怎么导出到Excel？")
    store = LabelStore(bot.db)  # type: ignore[arg-type]
    stranger = 9999
    tg.callback_query(DESK, stranger, ask.message_id, ask.buttons[-1]["callback_data"])
    await tg.wait_until(
        lambda: any("已登记的工程师" in (a.get("text") or "") for a in tg.callback_answers.values())
    )
    assert store.get(number) is None
    tg.callback_query(DESK, LI, ask.message_id, ask.buttons[-1]["callback_data"])  # 需要新文章
    await tg.wait_until(lambda: (lab := store.get(number)) is not None and lab.verdict == "new")
    tg.callback_query(DESK, WANG, ask.message_id, ask.buttons[-2]["callback_data"])  # 无需文章
    await tg.wait_until(lambda: (lab := store.get(number)) is not None and lab.verdict == "none")
    label = store.get(number)
    assert label is not None and label.labelled_by == "e01" and label.article_id is None
    assert len(store.labelled()) == 1


async def test_the_weekly_summary_reaches_the_desk(bot: App, tg: FakeTelegram) -> None:
    services = bot.services
    for n, text in enumerate(
        ["腕带打印机打出来是空白的", "病人腕带打印出来一片空白", "护士站腕带打不出字，纸是白的"]
    ):
        t = services.tickets.open_ticket(
            hospital_id=("h001", "h002")[n % 2],
            reporter_platform="telegram",
            reporter_user_id=str(NURSE),
            reporter_name="护士",
            source_platform="telegram",
            source_chat_id=str(H1_CHAT),
            source_message_id=str(900 + n),
            question=text,
            category="install",
        )
        services.tickets.claim(t.number, "e01")
        services.tickets.resolve(t.number, "e01", "打印方式改为热敏后恢复")
    assert bot.weekly is not None
    assert await bot.weekly.post() == 1
    post = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "本周新出现" in (m.text or ""))
    text = post.text or ""
    assert "3 次，2 家医院（第一人民医院、第二人民医院）" in text
    assert "无文章，建议起草" in text and "处理：打印方式改为热敏后恢复" in text
