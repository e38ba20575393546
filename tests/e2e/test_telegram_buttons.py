"""Buttons over Telegram whatever the article ids: a 58-character article id used to overflow
the 64-byte callback data (``pick:{exchange}:{article}``), so the clarify list was refused by
Telegram and the hospital got no reply (issue 11, item 2). Real python-telegram-bot against
the fake Bot API, which refuses callback data over 64 bytes as Telegram does."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from bot.infra.config import Settings
from tests.e2e import test_bot_telegram as bot_telegram
from tests.e2e.test_bot_telegram import DESK, H1_CHAT, NURSE, WANG, start_bot
from tests.e2e.test_kb_labels import claim_and_resolve
from tests.fakes.telegram_api import FakeTelegram
from tests.testbot import REPO

settings = bot_telegram.settings
index_dir = bot_telegram.index_dir
tg = bot_telegram.tg

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

LONG_ID = "hb-002-" + "x" * 51  # 58 characters
QUESTION = "yb结算报2304，总额和明细对不上"  # hb-002's question


def long_id_kb(tmp_path: Path) -> Path:
    """The sample KB with hb-002 (the article the question finds) under a 58-character id."""
    kb = tmp_path / "kb"
    shutil.copytree(REPO / "kb", kb)
    page = kb / "hb-002.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace('id = "hb-002"', f'id = "{LONG_ID}"'),
        encoding="utf-8",
    )
    page.rename(kb / f"{LONG_ID}.md")
    return kb


def always_clarify(settings: Settings, kb: Path, index: Path) -> Settings:
    """Every question gets a choice of its two nearest articles, never an answer outright."""
    decide = dataclasses.replace(
        settings.decide,
        answer_threshold=float("inf"),
        clarify_threshold=0.0,
        clarify_margin=1.0,
        clarify_max=2,
    )
    kb_settings = dataclasses.replace(settings.kb, dir=str(kb), index_dir=str(index))
    # not a test of Telegram's 20 messages a minute per group (the answer's edits count too)
    telegram = dataclasses.replace(settings.telegram, group_per_minute=600, group_burst=20)
    return dataclasses.replace(settings, decide=decide, kb=kb_settings, telegram=telegram)


async def test_a_58_character_article_id_is_offered_picked_and_labelled(
    settings: Settings, tg: FakeTelegram, tmp_path: Path, index_dir: Path
) -> None:
    app = await start_bot(always_clarify(settings, long_id_kb(tmp_path), index_dir), tg)
    try:
        question = tg.user_message(H1_CHAT, NURSE, QUESTION)
        listing = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
        titles = [b["text"] for b in listing.buttons]
        assert titles[0] == "住院医保结算提示总额与明细合计不一致"  # the long-id article
        assert all(len(d.encode()) <= 64 for d in listing.callback_data)

        tg.callback_query(H1_CHAT, NURSE, listing.message_id, listing.buttons[0]["callback_data"])
        answer = await tg.wait_for_sent(
            lambda m: m.chat_id == H1_CHAT and f"/kb/{LONG_ID}" in (m.text or "")
        )
        assert answer.reply_to == question["message_id"]
        assert "处理步骤" in (answer.text or "") or "1." in (answer.text or "")

        # 没解决 → a ticket; resolving it offers the long-id article as a label button
        tg.callback_query(H1_CHAT, NURSE, answer.message_id, answer.buttons[-1]["callback_data"])
        number, ask = await claim_and_resolve(tg)
        assert "住院医保结算提示总额与明细合计不一致" in ask.buttons[0]["text"]
        assert all(len(d.encode()) <= 64 for d in ask.callback_data)
        tg.callback_query(DESK, WANG, ask.message_id, ask.buttons[0]["callback_data"])
        await tg.wait_until(lambda: any("标注" in (e.get("text") or "") for e in ask.edits))
        assert app.services.labels is not None
        label = app.services.labels.get(number)
        assert label is not None and label.article_id == LONG_ID
    finally:
        await app.stop()


async def test_a_forged_or_stale_button_gets_an_answer_not_silence(
    settings: Settings, tg: FakeTelegram
) -> None:
    app = await start_bot(settings, tg)
    try:
        tg.user_message(H1_CHAT, NURSE, QUESTION)
        answer = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
        query = tg.callback_query(
            H1_CHAT, NURSE, answer.message_id, "another-bot:42", check_button=False
        )
        await tg.wait_until(lambda: query["id"] in tg.callback_answers)
        assert tg.callback_answers[query["id"]].get("text") == "这个按钮已失效。"
    finally:
        await app.stop()
