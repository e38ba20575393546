"""Broadcasts inside the whole bot (``bot.app.build_app``): ``/notice`` in the engineers' group
through the desk, the confirmation button, 已知悉 from a hospital group, a question replying to
the notice that becomes a ticket linked to it — real pipeline, real ``TelegramAdapter``, the fake
Bot API."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.telegram.adapter import TelegramAdapter
from bot.app import App, build_app
from bot.inbox.models import OutboxMessage
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from tests.fakes.telegram_api import FakeTelegram
from tests.once import seeded_index_dir

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "123456:TEST-token"
H1, H2, DESK = -1001001, -1002002, -1009000
BOSS, WANG, NURSE, STRANGER = 5005, 5001, 7001, 7777
REPO = Path(__file__).resolve().parents[2]

CONFIG = f"""
[kb]
dir = "{REPO / "kb"}"
[telegram]
engineers_chat = {DESK}
poll_timeout = 1
# roomy group pacing: the flow is tested here, not Telegram's 20 a minute
group_per_minute = 600
group_burst = 20
[broadcast]
quiet_hours = ""
[[hospitals]]
id = "h001"
name = "第一人民医院"
region = "华东"
telegram_chats = [{H1}]
[[hospitals]]
id = "h002"
name = "第二人民医院"
region = "华南"
telegram_chats = [{H2}]
[[engineers]]
id = "e05"
name = "通知员"
roles = ["broadcaster"]
telegram_user = {BOSS}
[[engineers]]
id = "e01"
name = "王工"
telegram_user = {WANG}
"""

CREATE = """/notice create announcement
标题: 医保目录调整
内容: 4 月 1 日起门诊慢特病按新目录结算。
目标: region=华东"""


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
async def app(tmp_path: Path, index_dir: Path) -> AsyncIterator[tuple[App, FakeTelegram]]:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + f'[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', encoding="utf-8")
    s: Settings = load_settings(path)
    s = dataclasses.replace(s, kb=dataclasses.replace(s.kb, index_dir=str(index_dir)))
    async with FakeTelegram(token=TOKEN) as tg:
        tg.add_chat(DESK, chat_type="supergroup", title="工程师群")
        tg.add_chat(H1, chat_type="supergroup")
        tg.add_chat(H2, chat_type="supergroup")
        tg_settings = dataclasses.replace(
            s.telegram, base_url=tg.base_url, base_file_url=tg.base_file_url
        )
        bot = build_app(
            s,
            Secrets.from_env({}),
            db=make_engine(s.storage_url),
            adapters=[TelegramAdapter(TOKEN, tg_settings)],
        )
        await bot.start()
        try:
            yield bot, tg
        finally:
            await bot.stop()


def sent_keys(engine: Engine) -> list[tuple[str, str | None]]:
    """(key, message id) of every send recorded ``sent`` in the outbox."""
    with Session(engine) as s:
        stmt = select(OutboxMessage.key, OutboxMessage.message_id).where(
            OutboxMessage.state == "sent"
        )
        return list(s.exec(stmt).all())


def in_chat(chat: int, needle: str):  # type: ignore[no-untyped-def]
    return lambda m: m.chat_id == chat and needle in (m.text or "")


async def test_notice_from_the_desk_to_a_ticket_that_references_it(
    app: tuple[App, FakeTelegram],
) -> None:
    bot, tg = app
    broadcasts = bot.services.broadcasts
    assert broadcasts is not None
    tg.user_message(DESK, BOSS, CREATE, first_name="通知员")
    created = await tg.wait_for_sent(in_chat(DESK, "已创建通知 #1"))
    tg.user_message(DESK, BOSS, "/notice send 1", first_name="通知员")
    await tg.wait_for_sent(in_chat(DESK, "【测试"))
    # the desk's lane handled the next event: the answer above was recorded, keyed as its
    # inbox event's first send (a replay of that event finds it sent)
    [key] = [k for k, m in sent_keys(broadcasts.store.engine) if m == str(created.message_id)]
    assert key.startswith("telegram:") and key.endswith("#1")
    prompt = await tg.wait_for_sent(in_chat(DESK, "确认后通知 #1 将发送到 1 个群"))
    tg.callback_query(DESK, BOSS, prompt.message_id, prompt.callback_data[0], first_name="通知员")
    notice = await tg.wait_for_sent(in_chat(H1, "【公告】医保目录调整"), timeout=10)
    assert tg.sent_messages(H2) == []  # 华南 is not targeted

    # 已知悉 from the hospital group
    tg.callback_query(H1, NURSE, notice.message_id, notice.callback_data[0], first_name="护士小张")
    await tg.wait_until(lambda: broadcasts.store.receipts.receipts(1), what="the receipt")
    assert broadcasts.store.receipts.receipts(1)[0].user_name == "护士小张"

    # a message replying to the notice goes through the pipeline and becomes a ticket
    tg.user_message(
        H1,
        NURSE,
        "紧急！全院都登不上HIS了",
        reply_to_message_id=notice.message_id,
        first_name="护士小张",
    )
    await tg.wait_for_sent(in_chat(H1, "工单"), timeout=10)
    await tg.wait_until(
        lambda: [r for r in broadcasts.store.receipts.replies(1) if r.ticket_number]
    )
    [reply] = broadcasts.store.receipts.replies(1)
    assert reply.hospital_id == "h001" and reply.ticket_number


def refusals(app: App) -> list[tuple[str, str]]:
    assert app.services.broadcasts is not None
    return [(a.actor, a.action) for a in app.services.broadcasts.store.audit_log() if not a.allowed]


async def test_notice_commands_are_refused_and_audited_for_other_engineers_and_hospitals(
    app: tuple[App, FakeTelegram],
) -> None:
    bot, tg = app
    tg.user_message(DESK, WANG, CREATE, first_name="王工")  # an engineer without the role
    await tg.wait_for_sent(in_chat(DESK, "broadcaster"))
    tg.user_message(H1, NURSE, "/notice send 1", first_name="护士小张")  # in a hospital group
    await tg.wait_for_sent(in_chat(H1, "通知只能由工程师在工程师群中发送"))
    assert refusals(bot) == [("telegram:5001", "create"), ("telegram:7001", "command")]
    assert (
        bot.services.broadcasts is not None and bot.services.broadcasts.store.list_notices() == []
    )


async def test_a_non_engineers_notice_command_in_the_desk_is_audited(
    app: tuple[App, FakeTelegram],
) -> None:
    bot, tg = app
    tg.user_message(DESK, STRANGER, "/notice list", first_name="路人")  # not an engineer at all
    await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    await tg.wait_until(lambda: refusals(bot), timeout=2, what="the audit row")
    assert refusals(bot) == [("telegram:7777", "list")]
