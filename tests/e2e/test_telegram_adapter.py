"""The real TelegramAdapter (real python-telegram-bot underneath) against FakeTelegram.

Nothing of PTB is mocked: the adapter long-polls / serves its webhook and calls the fake Bot API
over HTTP on 127.0.0.1. A recording core stands in for ``bot/``: it collects what the adapter
delivers and (by default) answers every message through ``adapter.send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from telegram import Update

from adapters.base import (
    Attachment,
    Button,
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    Citation,
    DeliveryError,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.messages import TRUNCATED_MARKER, render, render_parts
from adapters.telegram.settings import TelegramSettings
from adapters.telegram.updates import to_chat_event, to_incoming
from adapters.telegram.utf16 import utf16_len
from bot.inbox.codec import event_key

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.contract.core import RecordingCore  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

# PTB 22 warns on every RetryAfter it builds (int retry_after is deprecated); not our concern
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2. In a future major version attribute .retry_after."
)

T = TypeVar("T")

TOKEN = "123456:TEST-token_abc"
BOT_ID = 123456
BOT_USERNAME = "his_support_bot"
GROUP = -1001234567890
LAB = -1000000000777
FORUM = -1000000000888
USER = 4242
NURSE = 5151
ENGINEER = 777001
LOGGER = "test.hisbot.telegram"


def tg_chat(chat_id: int, thread_id: str | None = None) -> ChatRef:
    return ChatRef("telegram", str(chat_id), thread_id)


async def received(
    core: RecordingCore, sent: dict[str, Any], *, edited: bool = False
) -> IncomingMessage:
    """The IncomingMessage made of the Message JSON ``sent`` (as FakeTelegram returns it)."""
    return await core.message(
        str(sent["message_id"]), chat_id=str(sent["chat"]["id"]), edited=edited
    )


def settings_for(tg: FakeTelegram, **overrides: Any) -> TelegramSettings:
    base = TelegramSettings(
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        poll_timeout=1,
        network_backoff=0.01,
    )
    return dataclasses.replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(
    tg: FakeTelegram, *, webhook_secret: str | None = None, **overrides: Any
) -> AsyncIterator[tuple[TelegramAdapter, RecordingCore]]:
    adapter = TelegramAdapter(
        tg.token,
        settings_for(tg, **overrides),
        logging.getLogger(LOGGER),
        webhook_secret=webhook_secret,
    )
    core = RecordingCore()
    core.adapter, core.echo = adapter, True
    await adapter.start(core.handlers())
    try:
        yield adapter, core
    finally:
        await adapter.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ inbound messages


async def test_text_message_becomes_incoming_message_and_reply_quotes_it() -> None:
    # several sends to one group: a roomy group bucket (pacing is tested elsewhere)
    async with (
        FakeTelegram(token=TOKEN) as tg,
        running(tg, group_per_minute=600) as (adapter, core),
    ):
        assert adapter.platform == "telegram"
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        first = tg.user_message(
            GROUP,
            USER,
            "@his_support_bot HIS 挂号界面打不开",
            first_name="王",
            last_name="医生",
            chat_title="门诊信息科",
        )
        m = await received(core, first)
        assert m.chat == ChatRef("telegram", str(GROUP), None)
        assert m.message_id == str(first["message_id"])
        assert m.text == "HIS 挂号界面打不开"  # the @mention is stripped
        assert m.sender == Sender(str(USER), "王 医生", is_bot=False)
        assert m.chat_title == "门诊信息科"
        assert m.mentions_bot and not m.from_self and not m.forwarded and not m.edited
        assert m.reply_to_message_id is None and m.attachments == ()
        assert m.sent_at.tzinfo is not None and m.sent_at.utcoffset() == dt.timedelta(0)
        assert before - dt.timedelta(seconds=1) <= m.sent_at <= dt.datetime.now(dt.UTC)

        answer = await tg.wait_for_sent(lambda s: s.reply_to == first["message_id"])
        assert answer.text == "收到：HIS 挂号界面打不开"

        # a reply to the bot's message addresses the bot without a mention
        second = tg.user_message(GROUP, USER, "还是不行", reply_to_message_id=answer.message_id)
        m2 = await received(core, second)
        assert m2.reply_to_message_id == str(answer.message_id)
        assert m2.mentions_bot

        # chatter between colleagues does not; a username-only person keeps a name
        third = tg.user_message(GROUP, NURSE, "大家好 @li_nurse", username="li_nurse")
        m3 = await received(core, third)
        assert not m3.mentions_bot and m3.text == "大家好 @li_nurse"

        # commands are delivered as text, with the @bot suffix removed
        cmd = tg.user_message(GROUP, USER, "/ticket@his_support_bot 打印机卡纸")
        m4 = await received(core, cmd)
        assert m4.text == "/ticket 打印机卡纸" and m4.mentions_bot

        # a private chat is always addressed to the bot
        private = tg.user_message(USER, USER, "你好", chat_type="private")
        m5 = await received(core, private)
        assert m5.chat == ChatRef("telegram", str(USER)) and m5.mentions_bot
        await tg.wait_for_sent(lambda s: s.chat_id == USER)


async def test_photo_with_caption_and_document_become_attachments() -> None:
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (_, core):
        shot = tg.user_message(GROUP, USER, photo=True, caption="@his_support_bot 这个报错怎么办")
        m = await received(core, shot)
        largest = shot["photo"][-1]
        assert m.text == "这个报错怎么办" and m.mentions_bot  # the caption is the question
        assert m.attachments == (
            Attachment("photo", largest["file_id"], None, "image/jpeg", largest["file_size"]),
        )

        doc = tg.user_message(
            GROUP,
            USER,
            caption="日志在这里",
            document={"file_name": "his-error.pdf", "content": b"%PDF-1.4 NullReference"},
        )
        m2 = await received(core, doc)
        d = doc["document"]
        assert m2.text == "日志在这里"
        assert m2.attachments == (
            Attachment("document", d["file_id"], "his-error.pdf", "application/pdf", 22),
        )


async def test_edited_and_forwarded_messages_are_flagged() -> None:
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (_, core):
        original = tg.user_message(GROUP, USER, "打印机坏了")
        await received(core, original)
        tg.edited_message(GROUP, original["message_id"], "打印机卡纸了")
        edited = await received(core, original, edited=True)
        assert edited.text == "打印机卡纸了" and edited.edited and not edited.forwarded

        forwarded = tg.user_message(GROUP, USER, "转发：系统报错 E1024", forward_origin="李护士")
        m = await received(core, forwarded)
        assert m.forwarded and not m.edited


async def test_user_text_with_markup_characters_is_delivered_intact() -> None:
    nasty = "<b>& 报错 <script>a_b *c* [链接](x) _*[` &amp; 1.2"
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (_, core):
        msg = tg.user_message(GROUP, USER, nasty)
        m = await received(core, msg)
        assert m.text == nasty
        sent = await tg.wait_for_sent(lambda s: s.reply_to == msg["message_id"])
        assert sent.parse_mode is None
        assert sent.text == f"收到：{nasty}" and sent.raw_text == f"收到：{nasty}"


# ------------------------------------------------------------------ outbound rendering


async def test_send_with_buttons_citation_reply_mention_in_forum_thread() -> None:
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (adapter, core):
        core.echo = False
        question = tg.user_message(FORUM, USER, "怎么重置密码", message_thread_id=7)
        m = await received(core, question)
        assert m.chat == tg_chat(FORUM, "7")
        assert m.reply_to_message_id is None

        ref = await adapter.send(
            Reply(
                m.chat,
                "请按以下步骤重置：\n1. 打开 HIS 登录页",
                reply_to=m.message_id,
                citation=Citation("kb-12", "重置 HIS 密码", "http://127.0.0.1:8080/kb/kb-12"),
                buttons=(
                    (Button("解决了", "fb:yes:12"), Button("没解决", "fb:no:12")),
                    (Button("转人工", "esc:12"),),
                ),
                mention_user_ids=(str(ENGINEER),),
            )
        )
        sent = tg.sent_messages(FORUM)[-1]
        assert ref == MessageRef("telegram", str(FORUM), str(sent.message_id))
        assert sent.parse_mode is None
        assert sent.text == (
            "请按以下步骤重置：\n1. 打开 HIS 登录页\n\n🔔 @工程师\n\n"
            "📖 重置 HIS 密码\nhttp://127.0.0.1:8080/kb/kb-12"
        )
        assert [
            [b["callback_data"] for b in row] for row in sent.reply_markup["inline_keyboard"]
        ] == [
            ["fb:yes:12", "fb:no:12"],
            ["esc:12"],
        ]
        call = tg.calls_to("sendMessage")[-1]
        assert call.params["reply_parameters"] == {
            "message_id": question["message_id"],
            "allow_sending_without_reply": True,
        }
        assert sent.reply_to == question["message_id"]
        assert sent.message_thread_id == 7
        (mention,) = [e for e in sent.entities if e["type"] == "text_mention"]
        assert mention["user"]["id"] == ENGINEER
        start = mention["offset"]
        as_u16 = sent.text.encode("utf-16-le")
        assert as_u16[2 * start : 2 * (start + mention["length"])].decode("utf-16-le") == "@工程师"


async def test_long_text_is_split_with_reply_on_first_and_buttons_on_last() -> None:
    body = "\n".join(f"第{i}步：检查 HIS 服务状态并记录错误码。" * 4 for i in range(100))
    assert 2 * 4096 < utf16_len(body) < 3 * 4096 - 200
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (adapter, core):
        core.echo = False
        question = tg.user_message(GROUP, USER, "完整的排查步骤？")
        m = await received(core, question)
        ref = await adapter.send(
            Reply(m.chat, body, reply_to=m.message_id, buttons=((Button("好", "ok:1"),),))
        )
        parts = tg.sent_messages(GROUP)
        assert len(parts) == 3
        assert ref == MessageRef("telegram", str(GROUP), str(parts[-1].message_id))
        assert all(utf16_len(p.text) <= 4096 for p in parts)
        assert "\n".join(p.text for p in parts) == body  # split at line breaks, nothing lost
        assert [p.reply_to for p in parts] == [question["message_id"], None, None]
        assert [p.callback_data for p in parts] == [[], [], ["ok:1"]]


def test_render_plain_text_truncation_and_utf16_limits() -> None:
    chat = tg_chat(GROUP)
    # one message (edits): cut with a clear marker, buttons and citation kept
    long = Reply(
        chat,
        "错" * 5000,
        citation=Citation("a", "标题", "http://kb/a"),
        buttons=((Button("x", "x:1"),),),
    )
    kwargs = render(long)
    assert utf16_len(kwargs["text"]) <= 4096
    assert kwargs["text"].endswith(f"{TRUNCATED_MARKER}\n\n📖 标题\nhttp://kb/a")
    assert "parse_mode" not in kwargs and kwargs["reply_markup"] is not None
    # astral characters count twice: 3000 emoji are 6000 UTF-16 units → two messages
    parts = render_parts(Reply(chat, "😀" * 3000))
    assert [utf16_len(p["text"]) for p in parts] == [4096, 1904]
    # absurdly long text: at most five messages, the last one marked as cut
    huge = render_parts(Reply(chat, "行\n" * 20000))
    assert len(huge) == 5 and huge[-1]["text"].endswith(TRUNCATED_MARKER)
    # reply_to that is not a Telegram id is left out rather than failing the send
    assert "reply_parameters" not in render(Reply(chat, "hi", reply_to="slack-ts-1.2"))


# ------------------------------------------------------------------ buttons


async def test_button_press_acknowledge_and_edit() -> None:
    # several sends to one group: a roomy group bucket (pacing is tested elsewhere)
    async with (
        FakeTelegram(token=TOKEN) as tg,
        running(tg, group_per_minute=600) as (adapter, core),
    ):
        tg.add_chat(GROUP, title="门诊信息科")
        ref = await adapter.send(
            Reply(
                tg_chat(GROUP),
                "这个回答有帮助吗？",
                buttons=((Button("有帮助", "fb:yes:42"), Button("没帮助", "fb:no:42")),),
            )
        )
        query = tg.callback_query(GROUP, USER, int(ref.message_id), "fb:no:42", first_name="王")
        press = await core.wait_until(lambda: core.presses and core.presses[-1], what="press")
        assert press == ButtonPress(
            message=ref,
            sender=Sender(str(USER), "王"),
            action="fb:no:42",
            press_id=query["id"],
        )

        await adapter.acknowledge(press, "已记录，正在转人工")
        assert tg.callback_answers[query["id"]]["text"] == "已记录，正在转人工"
        await adapter.acknowledge(press)  # answered twice: expired query is logged, not raised

        new = Reply(tg_chat(GROUP), "已转人工处理", buttons=((Button("撤回", "undo:42"),),))
        await adapter.edit(ref, new)
        sent = tg.sent_messages(GROUP)[-1]
        assert sent.text == "已转人工处理" and sent.callback_data == ["undo:42"]
        await adapter.edit(ref, new)  # "message is not modified" is not an error
        await adapter.edit(ref, Reply(tg_chat(GROUP), "已转人工处理"))  # no buttons: removed
        assert sent.buttons == []
        assert [c.status for c in tg.calls_to("editMessageText")] == [200, 400, 200]
        with pytest.raises(DeliveryError) as gone:
            await adapter.edit(MessageRef("telegram", str(GROUP), "9999"), new)
        assert gone.value.permanent


# ------------------------------------------------------------------ chat events


async def test_group_migration_event_and_sends_follow_the_new_chat() -> None:
    old, new = -555, -1005550000000
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (adapter, core):
        core.echo = False
        hello = tg.user_message(old, USER, "旧群里的问题", chat_type="group", chat_title="药房")
        await received(core, hello)
        tg.migrate_to_supergroup(old, new)
        event = await core.wait_until(lambda: core.events and core.events[0], what="MIGRATED")
        assert dataclasses.replace(event, event_id="") == ChatEvent(
            ChatEventKind.MIGRATED, tg_chat(old), new_chat_id=str(new), title="药房"
        )
        later = tg.user_message(new, USER, "新群里的问题")
        await received(core, later)
        assert len(core.events) == 1  # the migrate_from twin in the new chat is no 2nd event

        # the core still addresses the old id: the reply lands in the supergroup, no 400 first
        ref = await adapter.send(Reply(tg_chat(old), "迁移后的回复", reply_to=hello["message_id"]))
        assert ref.chat_id == str(new)
        assert tg.sent_messages(new)[-1].text == "迁移后的回复"
        assert [c.status for c in tg.calls_to("sendMessage")] == [200]

        # migration the adapter did not see as an update: found out by the send itself
        old2, new2 = -556, -1005560000000
        tg.add_chat(old2, chat_type="group")
        tg.migrate_to_supergroup(old2, new2, enqueue=False)
        ref2 = await adapter.send(Reply(tg_chat(old2), "第二个群"))
        assert ref2.chat_id == str(new2) and tg.sent_messages(new2)[-1].text == "第二个群"
        assert core.events[-1] == ChatEvent(
            ChatEventKind.MIGRATED, tg_chat(old2), new_chat_id=str(new2)
        )
        assert [c.status for c in tg.calls_to("sendMessage")] == [200, 400, 200]


async def test_bot_added_renamed_removed_and_send_to_removed_chat_fails() -> None:
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (adapter, core):
        tg.bot_added(LAB, title="检验科", by_user_id=USER)
        tg.enqueue_update(
            {
                "message": {
                    "message_id": 50,
                    "from": tg.users[USER],
                    "chat": {"id": LAB, "type": "supergroup", "title": "检验科（新院区）"},
                    "date": int(time.time()),
                    "new_chat_title": "检验科（新院区）",
                }
            }
        )
        tg.bot_removed(LAB)
        tg.bot_added(LAB, title="检验科", by_user_id=USER)
        tg.bot_removed(LAB)
        await core.wait_until(lambda: len(core.events) >= 5, what="five chat events")
        assert [dataclasses.replace(e, event_id="") for e in core.events] == [
            ChatEvent(ChatEventKind.BOT_ADDED, tg_chat(LAB), title="检验科"),
            ChatEvent(ChatEventKind.RENAMED, tg_chat(LAB), title="检验科（新院区）"),
            ChatEvent(ChatEventKind.BOT_REMOVED, tg_chat(LAB), title="检验科"),
            ChatEvent(ChatEventKind.BOT_ADDED, tg_chat(LAB), title="检验科"),
            ChatEvent(ChatEventKind.BOT_REMOVED, tg_chat(LAB), title="检验科"),
        ]
        # each occurrence carries its update id: the inbox stores the second removal (after a
        # re-add) as an event of its own, not as a redelivery of the first
        assert all(e.event_id.isdigit() for e in core.events)
        assert len({event_key(e) for e in core.events}) == 5
        with pytest.raises(DeliveryError) as removed:
            await adapter.send(Reply(tg_chat(LAB), "还在吗"))
        assert removed.value.permanent and removed.value.chat == tg_chat(LAB)
        assert "kicked" in removed.value.reason
        with pytest.raises(DeliveryError) as unknown:
            await adapter.send(Reply(tg_chat(-100999), "hi"))
        assert unknown.value.permanent and "chat not found" in unknown.value.reason.lower()


# ------------------------------------------------------------------ failures and retries


async def test_server_errors_are_retried_then_reported_as_temporary() -> None:
    # every attempt takes a token of the group's 20/min bucket: a roomier bucket keeps this
    # test about retries (not about waiting 3 s per attempt)
    async with (
        FakeTelegram(token=TOKEN) as tg,
        running(tg, network_retries=3, group_per_minute=600) as (adapter, _),
    ):
        tg.add_chat(GROUP)
        tg.fail_next("sendMessage", 2, error_code=500)
        tg.fail_next("sendMessage", 1, error_code=502)
        await adapter.send(Reply(tg_chat(GROUP), "终于发出去了"))
        assert [c.status for c in tg.calls_to("sendMessage")] == [500, 500, 502, 200]
        assert [m.text for m in tg.sent_messages(GROUP)] == ["终于发出去了"]

        tg.fail_next("sendMessage", 10, error_code=503)
        with pytest.raises(DeliveryError) as failed:
            await adapter.send(Reply(tg_chat(GROUP), "发不出去"))
        tg.clear_faults()
        assert not failed.value.permanent
        assert [c.status for c in tg.calls_to("sendMessage")][4:] == [503] * 4

    # a flood that outlasts the rate limiter's retries is temporary too
    async with FakeTelegram(token=TOKEN) as tg, running(tg, max_retries=1) as (adapter, _):
        tg.add_chat(GROUP)
        tg.fail_next("sendMessage", 2, error_code=429, retry_after=1)
        with pytest.raises(DeliveryError) as flooded:
            await adapter.send(Reply(tg_chat(GROUP), "被限流"))
        assert not flooded.value.permanent and "flood" in flooded.value.reason
        assert tg.sent_messages() == []


async def test_a_batch_of_updates_is_stored_chat_by_chat_in_order_chats_side_by_side() -> None:
    """Storing an update is a database write: one after another, a busy bot's polling fell
    seconds behind. A chat whose first update is still being stored holds its own next one,
    not another chat's."""
    async with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(GROUP)
        tg.add_chat(LAB)
        adapter = TelegramAdapter(
            tg.token, settings_for(tg), logging.getLogger(LOGGER), receive_on_start=False
        )
        core = RecordingCore()
        slow = core.gates["甲一"] = asyncio.Event()
        await adapter.start(core.handlers())
        try:
            for chat, user, text in (
                (GROUP, USER, "甲一"),
                (GROUP, USER, "甲二"),
                (LAB, NURSE, "乙一"),
            ):
                tg.user_message(chat, user, text)
            await adapter.start_receiving()  # one getUpdates returns all three
            await core.wait_until(lambda: "乙一" in core.finished, what="the other chat stored")
            assert [m.text for m in core.messages] == ["甲一", "乙一"]  # 甲二 waits for 甲一
            slow.set()
            await core.wait_until(lambda: len(core.finished) == 3, what="all stored")
            assert [t for t in core.finished if t.startswith("甲")] == ["甲一", "甲二"]
            await tg.wait_for_updates_consumed()
        finally:
            await adapter.stop()


async def test_a_429_in_one_group_holds_neither_a_page_nor_another_group() -> None:
    """PTB's AIORateLimiter paused every request of the bot for retry_after after any 429;
    the adapter's limiter pauses only the chat it was about, and retries there after it."""
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (adapter, _):
        tg.add_chat(GROUP)
        tg.add_chat(LAB)
        tg.add_user(ENGINEER, first_name="王工")
        tg.add_chat(ENGINEER, chat_type="private")
        tg.fail_next("sendMessage", 1, error_code=429, retry_after=30)
        flooded = asyncio.create_task(adapter.send(Reply(tg_chat(GROUP), "医院群的回复")))
        await tg.wait_for_call("sendMessage")  # answered 429: GROUP waits 30 s
        page = Reply(tg_chat(ENGINEER), "🚨 P1 工单 #2026-000001", priority=True)
        await asyncio.wait_for(adapter.send(page), 5)
        await asyncio.wait_for(adapter.send(Reply(tg_chat(LAB), "另一个群")), 5)
        assert [m.text for m in tg.sent_messages()] == ["🚨 P1 工单 #2026-000001", "另一个群"]
        assert not flooded.done()  # still waiting out its own chat's retry_after
        assert adapter.send_budget(tg_chat(GROUP)).count == 20
        flooded.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flooded


async def test_core_error_is_logged_with_update_id_but_no_text_and_processing_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (_, core):
        # The adapter logs the traceback, which carries the exception's own message: the
        # core's exceptions must not quote the text (the Slack adapter withholds it instead).
        core.quiet_errors = True
        bad = tg.user_message(GROUP, USER, "患者张三 住院号 0042 boom")
        update_id = tg.last_update["update_id"]
        await core.ended("患者张三 住院号 0042 boom")
        after = tg.user_message(GROUP, USER, "下一条")
        await received(core, after)
        await tg.wait_for_sent(lambda s: s.text == "收到：下一条")
    errors = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == f"telegram update {update_id} failed: RuntimeError"
    assert errors[0].exc_info is not None
    assert "患者张三" not in caplog.text and "0042" not in caplog.text
    assert bad["message_id"] != after["message_id"]


async def test_polling_confirms_an_update_only_after_the_core_returned() -> None:
    """The next getUpdates offset (Telegram's confirmation) never passes an update the core
    has not returned from (stored); a stopped adapter's next start gets it again."""
    async with FakeTelegram(token=TOKEN) as tg:
        async with running(tg) as (_, core):
            core.echo = False
            gate = asyncio.Event()
            core.gates["A1"] = gate
            tg.user_message(GROUP, USER, "A1")
            first = tg.last_update
            await core.wait_until(lambda: ("start", "A1") in core.log, what="A1 started")
            tg.user_message(GROUP, USER, "A2")
            assert first in tg.pending_updates  # not confirmed while the core holds it
            offsets = [c.params.get("offset") for c in tg.calls_to("getUpdates")]
            assert all(o is None or o <= first["update_id"] for o in offsets)
            gate.set()
            await core.ended("A2")
            await tg.wait_for_updates_consumed()
        # a batch taken but not returned from before a stop is delivered again after it
        stuck = asyncio.Event()
        async with running(tg) as (_, core):
            core.echo = False
            core.gates["B1"] = stuck
            tg.user_message(GROUP, USER, "B1")
            b1 = tg.last_update
            await core.wait_until(lambda: ("start", "B1") in core.log, what="B1 started")
        assert b1 in tg.pending_updates
        async with running(tg) as (_, core):
            core.echo = False
            await core.ended("B1")
            await tg.wait_for_updates_consumed()


async def test_polling_asks_again_for_what_the_core_could_not_store() -> None:
    async with FakeTelegram(token=TOKEN) as tg, running(tg) as (_, core):
        core.echo = False
        core.unavailable["X"] = 2
        tg.user_message(GROUP, USER, "X")
        tg.user_message(GROUP, USER, "Y")
        await core.ended("Y")
        assert core.refused == ["X", "X"]
        assert [m.text for m in core.messages] == ["X", "Y"]  # stored once each, in order
        await tg.wait_for_updates_consumed()


async def test_a_send_whose_answer_is_lost_is_not_sent_again() -> None:
    """Telegram took the message but the answer never came: re-sending would post it twice."""
    async with (
        FakeTelegram(token=TOKEN) as tg,
        running(tg, network_retries=3, group_per_minute=600) as (adapter, _),
    ):
        tg.add_chat(GROUP)
        tg.lose_answer_next("sendMessage")
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(Reply(tg_chat(GROUP), "只发一次"))
        assert caught.value.outcome_unknown and not caught.value.permanent
        assert [m.text for m in tg.sent_messages(GROUP)] == ["只发一次"]
        # a 5xx answer proves nothing was posted: that one is retried
        tg.fail_next("sendMessage", error_code=502)
        await adapter.send(Reply(tg_chat(GROUP), "第二条"))
        assert [m.text for m in tg.sent_messages(GROUP)] == ["只发一次", "第二条"]
        # an edit is idempotent: retried even when the answer was lost
        sent = tg.sent_messages(GROUP)[-1]
        tg.lose_answer_next("editMessageText")
        await adapter.edit(
            MessageRef("telegram", str(GROUP), str(sent.message_id)), Reply(tg_chat(GROUP), "改过")
        )
        assert tg.sent_messages(GROUP)[-1].text == "改过"


# ------------------------------------------------------------------ webhook


async def test_webhook_right_secret_processed_wrong_secret_rejected_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    caplog.set_level(logging.WARNING, logger=LOGGER)
    async with (
        FakeTelegram(token=TOKEN, webhook_retry_interval=0.05) as tg,
        running(
            tg,
            webhook_secret="s3cret-Token_1",
            mode="webhook",
            webhook_url=url,
            webhook_port=port,
        ) as (_, core),
    ):
        assert tg.webhook == {"url": url, "secret_token": "s3cret-Token_1", "max_connections": 40}
        assert tg.calls_to("setWebhook")[-1].params["allowed_updates"] == [
            "message",
            "edited_message",
            "callback_query",
            "my_chat_member",
        ]
        assert tg.calls_to("getUpdates") == []

        first = tg.user_message(GROUP, USER, "第一条")
        await received(core, first)
        await tg.wait_for_sent(lambda s: s.reply_to == first["message_id"])

        forged = tg.user_message(GROUP, USER, "伪造的", enqueue=False)
        assert await tg.post_with_wrong_secret(tg.last_update) == 403
        assert await tg.post_to_webhook(tg.last_update, secret_token=None) == 403

        # same chat, in order: had the forged update been accepted it would come first
        second = tg.user_message(GROUP, USER, "第二条")
        await received(core, second)
        assert [m.text for m in core.messages] == ["第一条", "第二条"]
        assert str(forged["message_id"]) not in {m.message_id for m in core.messages}
        await tg.wait_for_updates_consumed()

    rejected = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "wrong secret token rejected" in r.getMessage()
    ]
    assert len(rejected) == 2
    assert rejected[0].startswith("webhook request with wrong secret token rejected")
    assert "wrong-secret" not in caplog.text and "s3cret" not in caplog.text
    assert "伪造的" not in caplog.text


async def test_webhook_answers_malformed_json_with_400_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import aiohttp

    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    secret = "s3cret-Token_1"
    bodies = [
        b"[]",
        b"[1, 2, 3]",
        b"null",
        b"42",
        b'"text"',
        b'{"no_update_id": 1}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"update_id": 1, "message": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",
        b"\xff\xfe not json",
    ]
    async with (
        FakeTelegram(token=TOKEN, webhook_retry_interval=0.05) as tg,
        running(tg, webhook_secret=secret, mode="webhook", webhook_url=url, webhook_port=port) as (
            _,
            core,
        ),
        aiohttp.ClientSession() as http,
    ):
        for body in bodies:
            async with http.post(
                url,
                data=body,
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": secret,
                    "Content-Type": "application/json",
                },
            ) as r:
                assert r.status == 400, body[:40]
        first = tg.user_message(GROUP, USER, "之后照常")
        await received(core, first)  # the endpoint still works
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


async def test_webhook_answers_503_until_the_core_stored_the_update() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    async with (
        FakeTelegram(token=TOKEN, webhook_retry_interval=0.01) as tg,
        running(
            tg, webhook_secret="s3cret-Token_1", mode="webhook", webhook_url=url, webhook_port=port
        ) as (_, core),
    ):
        core.echo = False
        core.unavailable["W"] = 2
        tg.user_message(GROUP, USER, "W")
        update = tg.last_update
        await core.ended("W")
        await tg.wait_for_updates_consumed()
        statuses = [d.status for d in tg.webhook_deliveries if d.update_id == update["update_id"]]
        assert statuses == [503, 503, 200]
        assert [m.text for m in core.messages] == ["W"]


def test_webhook_mode_requires_a_secret_and_a_url() -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        TelegramSettings(mode="webhook")
    settings = TelegramSettings(mode="webhook", webhook_url="https://bot.example/telegram")
    with pytest.raises(ValueError, match="secret"):
        TelegramAdapter(TOKEN, settings, logging.getLogger(LOGGER))


async def test_rejected_token_fails_start_without_quoting_it() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        adapter = TelegramAdapter("999:revoked-secret", settings_for(tg), logging.getLogger(LOGGER))
        with pytest.raises(RuntimeError, match="rejected the bot token") as failed:
            await adapter.start(RecordingCore().handlers())
        assert "revoked-secret" not in str(failed.value)
        assert failed.value.__suppress_context__
        await adapter.stop()  # after a failed start: nothing left running, no error


# ------------------------------------------------------------------ pure conversion details


def _update(payload: dict[str, Any]) -> Update:
    update = Update.de_json({"update_id": 1, **payload}, None)
    assert update is not None
    return update


def test_conversion_edge_cases() -> None:
    now = int(time.time())
    forum = {"id": FORUM, "type": "supergroup", "title": "信息科", "is_forum": True}
    user = {"id": USER, "is_bot": False, "first_name": "", "username": "dr_wang"}
    # a topic message "replies" to the topic root: that is the thread, not a reply
    topic_msg = {
        "message_id": 11,
        "from": user,
        "chat": forum,
        "date": now,
        "message_thread_id": 3,
        "is_topic_message": True,
        "reply_to_message": {"message_id": 3, "chat": forum, "date": now},
        "voice": {
            "file_id": "VOICE1",
            "file_unique_id": "v1",
            "duration": 4,
            "mime_type": "audio/ogg",
            "file_size": 2048,
        },
    }
    m = to_incoming(_update({"message": topic_msg}), BOT_ID, BOT_USERNAME)
    assert m is not None
    assert m.chat == tg_chat(FORUM, "3") and m.reply_to_message_id is None
    assert m.sender == Sender(str(USER), "dr_wang")  # no first/last name: the username
    assert m.attachments == (Attachment("voice", "VOICE1", None, "audio/ogg", 2048),)
    assert m.text == "" and not m.mentions_bot

    # a message of the bot itself is marked from_self (the core drops those first)
    own = {
        "message_id": 12,
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "HIS"},
        "chat": forum,
        "date": now,
        "text": "收到",
    }
    m2 = to_incoming(_update({"message": own}), BOT_ID, BOT_USERNAME)
    assert m2 is not None and m2.from_self and m2.sender.is_bot

    # stickers and other content the core cannot use are dropped
    sticker = {
        "message_id": 13,
        "from": user,
        "chat": forum,
        "date": now,
        "sticker": {
            "file_id": "S",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        },
    }
    assert to_incoming(_update({"message": sticker}), BOT_ID, BOT_USERNAME) is None

    # a mention in the middle of a sentence leaves no double blank
    group = {"id": GROUP, "type": "supergroup", "title": "门诊"}
    text = "请 @his_support_bot 看看"
    mid = {
        "message_id": 14,
        "from": user,
        "chat": group,
        "date": now,
        "text": text,
        "entities": [{"type": "mention", "offset": 2, "length": 16}],
    }
    m3 = to_incoming(_update({"message": mid}), BOT_ID, BOT_USERNAME)
    assert m3 is not None and m3.text == "请 看看" and m3.mentions_bot

    # joining is BOT_ADDED; a promotion of the member bot to admin is not
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "HIS"}

    def member_update(old: dict[str, Any], new: dict[str, Any]) -> Update:
        return _update(
            {
                "my_chat_member": {
                    "chat": group,
                    "from": user,
                    "date": now,
                    "old_chat_member": {"user": bot, **old},
                    "new_chat_member": {"user": bot, **new},
                }
            }
        )

    admin = {
        "status": "administrator",
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": False,
        "can_restrict_members": False,
        "can_promote_members": False,
        "can_change_info": False,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
    }
    assert to_chat_event(member_update({"status": "member"}, admin)) is None
    assert to_chat_event(member_update({"status": "left"}, admin)) == ChatEvent(
        ChatEventKind.BOT_ADDED, tg_chat(GROUP), title="门诊", event_id="1"
    )
