"""The fake Bot API server speaks python-telegram-bot's real wire protocol.

Every test drives the unmodified PTB library (Application, Updater, AIORateLimiter, webhook
server, Bot) against ``tests.fakes.telegram_api.FakeTelegram`` over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

# tests/e2e has no __init__.py: unless a conftest in the `tests` package already made pytest put
# the repository root on sys.path, only this folder is there. Make `tests.fakes` importable.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

# PTB 22 warns on every RetryAfter it builds (int retry_after is deprecated); not our concern here
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2. In a future major version attribute .retry_after."
)

TOKEN = "123456:TEST-token_abc"
GROUP = -1001234567890
LAB = -1000000000777
USER = 4242


def build_app(tg: FakeTelegram, *, rate_limiter: AIORateLimiter | None = None) -> Application:
    builder = (
        ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url)
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    return builder.build()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("确认", callback_data="ok:1"),
                InlineKeyboardButton("取消", callback_data="no:1"),
            ]
        ]
    )
    await update.message.reply_text(f"收到：{update.message.text}", reply_markup=markup)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("已确认")
    await query.edit_message_text(f"已处理 {query.data}")


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def register(app: Application) -> None:
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(on_button))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ Application, polling


async def test_polling_message_gets_quoted_reply_and_button_press_is_answered() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        app = build_app(tg)
        register(app)
        async with polling(app):
            msg = tg.user_message(GROUP, USER, "HIS 挂号界面打不开", chat_title="门诊信息科")
            sent = await tg.wait_for_sent(1)
            reply = sent[0]
            assert reply.chat_id == GROUP
            assert reply.text == "收到：HIS 挂号界面打不开"
            assert reply.reply_to == msg["message_id"]  # PTB quotes by default in groups
            assert reply.message["from"]["id"] == 123456
            assert reply.message_id == msg["message_id"] + 1  # per-chat counter
            assert reply.callback_data == ["ok:1", "no:1"]

            # PTB's encoding: form-urlencoded, nested objects as JSON strings
            call = tg.calls_to("sendMessage")[0]
            assert call.content_type == "application/x-www-form-urlencoded"
            assert call.params["reply_parameters"] == {"message_id": msg["message_id"]}
            assert call.params["chat_id"] == GROUP

            query = tg.callback_query(GROUP, USER, reply.message_id, "ok:1")
            await tg.wait_for_call("answerCallbackQuery")
            assert tg.callback_answers[query["id"]]["text"] == "已确认"
            await tg.wait_until(lambda: reply.edits, what="edit of the reply")
            assert reply.text == "已处理 ok:1"
            assert reply.buttons == []  # editMessageText without reply_markup drops it
            await tg.wait_for_updates_consumed()

        methods = [m for m, _ in tg.calls]
        assert methods[:2] == ["getMe", "deleteWebhook"]  # bootstrap
        assert len(tg.sent_messages()) == 1
        # the last getUpdates confirmed everything (PTB's cleanup call uses the offset)
        assert tg.pending_updates == []


async def test_long_poll_waits_for_update_and_honours_offset_and_timeout() -> None:
    async with FakeTelegram(token=TOKEN) as tg, Bot(tg.token, base_url=tg.base_url) as bot:
        # A long poll that returns the update was answered on its arrival, not at its timeout.
        poll = asyncio.create_task(bot.get_updates(timeout=60, read_timeout=90))
        await tg.wait_for_call("getUpdates", answered=False)
        msg = tg.user_message(GROUP, USER, "/start@his_support_bot")
        updates = await asyncio.wait_for(poll, 30)
        assert [u.message.message_id for u in updates if u.message] == [msg["message_id"]]
        assert updates[0].message is not None
        assert updates[0].message.entities[0].type == "bot_command"
        # not confirmed yet: delivered again; confirmed with offset: gone
        assert len(await bot.get_updates(timeout=0)) == 1
        assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
        assert await bot.get_updates(timeout=1) == ()  # nothing new: empty at the timeout


# ------------------------------------------------------------------ 429 and AIORateLimiter


async def test_429_is_retried_by_aioratelimiter_and_delivers_exactly_once() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        app = build_app(tg, rate_limiter=AIORateLimiter(max_retries=3))
        register(app)
        tg.fail_next("sendMessage", 1, error_code=429, retry_after=1)
        async with polling(app):
            tg.user_message(GROUP, USER, "打印机卡纸")
            started = time.monotonic()
            await tg.wait_for_sent(1)
            assert time.monotonic() - started >= 1.0  # PTB slept retry_after (+0.1 s)
        assert [c.status for c in tg.calls_to("sendMessage")] == [429, 200]
        assert tg.calls_to("sendMessage")[0].error == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }
        assert len(tg.sent_messages()) == 1


# ------------------------------------------------------------------ webhook


async def test_webhook_right_secret_processed_wrong_secret_rejected() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    async with FakeTelegram(token=TOKEN, webhook_retry_interval=0.05) as tg:
        app = build_app(tg)
        register(app)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_webhook(
                listen="127.0.0.1",
                port=port,
                url_path="tg-hook",
                secret_token="s3cret",
                webhook_url=url,
            )
            try:
                assert tg.webhook == {"url": url, "secret_token": "s3cret", "max_connections": 40}
                with pytest.raises(Conflict):
                    await app.bot.get_updates()

                first = tg.user_message(GROUP, USER, "第一条")
                await tg.wait_for_sent(lambda m: m.reply_to == first["message_id"])

                tg.user_message(GROUP, USER, "伪造的", enqueue=False)
                assert await tg.post_with_wrong_secret(tg.last_update) == 403
                assert await tg.post_to_webhook(tg.last_update, secret_token=None) == 403

                second = tg.user_message(GROUP, USER, "第二条")
                await tg.wait_for_sent(lambda m: m.reply_to == second["message_id"])
            finally:
                await app.updater.stop()
                await app.stop()

        assert [m.text for m in tg.sent_messages()] == ["收到：第一条", "收到：第二条"]
        statuses = [(d.queued, d.status) for d in tg.webhook_deliveries]
        assert (False, 403) in statuses
        assert [s for q, s in statuses if q] == [200, 200]
        assert tg.pending_updates == []


# ------------------------------------------------------------------ error semantics via Bot


async def test_errors_map_to_ptb_exceptions() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        with pytest.raises(InvalidToken):  # 401 Unauthorized, like a revoked token
            async with Bot("999:wrong", base_url=tg.base_url):
                pass
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("notAMethod")
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(-100999, "hi")

            tg.add_chat(LAB, title="检验科")  # a supergroup (id below -10**12)
            with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "br" at byte'):
                await bot.send_message(LAB, "a<br>b", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
                await bot.send_message(LAB, "版本 1.2", parse_mode="MarkdownV2")
            ok = await bot.send_message(LAB, "<b>工单</b> 已创建", parse_mode="HTML")
            assert ok.text == "工单 已创建" and ok.entities[0].type == "bold"

            tg.fail_next("sendMessage", error_code=502)
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await bot.send_message(LAB, "x")

            tg.chat_removed(LAB)
            with pytest.raises(Forbidden, match=r"Forbidden: bot was kicked from the supergroup"):
                await bot.send_message(LAB, "还在吗")

            tg.user_message(-555, USER, "hi", chat_type="group")
            tg.migrate_to_supergroup(-555, -1005550000000)
            with pytest.raises(ChatMigrated) as migrated:
                await bot.send_message(-555, "hello")
            assert migrated.value.new_chat_id == -1005550000000
            await bot.send_message(-1005550000000, "hello")

            tg.bot_removed(-1005550000000)
            updates = await bot.get_updates(timeout=0)
            kinds = [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member]
            assert kinds == ["kicked"]


async def test_rate_limit_enforcer_and_seeded_fault_storm() -> None:
    # 20 messages per minute per group; time_scale=0.1 turns the minute into 6 s
    async with FakeTelegram(token=TOKEN, enforce_limits=True, time_scale=0.1) as tg:
        tg.add_chat(GROUP)
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            for i in range(20):
                await bot.send_message(GROUP, f"#{i}")
            with pytest.raises(RetryAfter, match="Flood control exceeded"):
                await bot.send_message(GROUP, "21st within a (scaled) minute")
        rejected = tg.calls_to("sendMessage")[-1]
        assert rejected.status == 429
        assert 1 <= rejected.error["parameters"]["retry_after"] <= 6
        assert len(tg.sent_messages()) == 20
    async with FakeTelegram(token=TOKEN, enforce_limits=True) as tg:
        tg.add_chat(USER, chat_type="private")
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            await bot.send_message(USER, "one")
            with pytest.raises(RetryAfter):
                await bot.send_message(USER, "two in the same second")

    async def storm(seed: int) -> list[int | None]:
        async with FakeTelegram(token=TOKEN) as tg:
            tg.add_chat(GROUP)
            tg.fail_ratio("sendChatAction", 0.3, seed=seed, error_code=500)
            async with Bot(tg.token, base_url=tg.base_url) as bot:
                for _ in range(30):
                    with contextlib.suppress(NetworkError):
                        await bot.send_chat_action(GROUP, "typing")
            return [c.status for c in tg.calls_to("sendChatAction")]

    first, again = await storm(7), await storm(7)
    assert first == again and 500 in first and 200 in first


async def test_files_download_through_base_file_url() -> None:
    async with FakeTelegram(token=TOKEN) as tg:
        msg = tg.user_message(
            GROUP,
            USER,
            caption="报错截图",
            document={"file_name": "error.log", "content": b"NullReferenceException"},
        )
        async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
            file = await bot.get_file(msg["document"]["file_id"])
            assert bytes(await file.download_as_bytearray()) == b"NullReferenceException"
            sent = await bot.send_document(GROUP, b"ticket export", filename="t.csv")
            assert sent.document is not None and sent.document.file_name == "t.csv"
        call = tg.calls_to("sendDocument")[0]
        assert call.content_type == "multipart/form-data"
