"""7x24 paging end to end: a P1 in a Telegram hospital group pages the on-call engineer by
Telegram direct message, the lead by Slack direct message and the paging webhook (a local
HTTP server on 127.0.0.1); the hospital is told who was paged and when. Then, with a clock the
test moves (no sleeping), the desk is warned at 80 %, the breach pages again, and a 收到 press
in the direct message stops the repeats. Real python-telegram-bot and slack-bolt against the
fakes; nothing is mocked but the platforms' servers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.slack.adapter import SlackAdapter
from adapters.telegram.adapter import TelegramAdapter
from bot.app import App, build_app
from bot.duty import Post
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.linked import until_linked, watch_links
from tests.once import seeded_index_dir
from tests.tickets.conftest import FakeClock
from tests.tickets.test_duty_roster import local

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "123456:TEST-token"
H1_CHAT, DESK = -1001001, -1009000
ONCALL_TG, NURSE = 5001, 7001
LEAD_SLACK = "U0LEAD001"
REPO = Path(__file__).resolve().parents[2]
TICKET_NO = re.compile(r"#(\d{4}-\d{6})")

CONFIG = f"""
[kb]
dir = "{REPO / "kb"}"
[telegram]
engineers_chat = {DESK}
poll_timeout = 1
group_per_minute = 600
group_burst = 20
[slack]
mode = "http"
http_port = 0
post_interval = 0.0
network_backoff = 0.01
stop_timeout = 3.0
[sla]
webhook_timeout = 3.0
[[hospitals]]
id = "h001"
name = "第一人民医院"
dedicated_engineer = "e02"
telegram_chats = [{H1_CHAT}]
[[engineers]]
id = "e01"
name = "赵工"
telegram_user = {ONCALL_TG}
[[engineers]]
id = "e02"
name = "钱工"
[[engineers]]
id = "e09"
name = "孙组长"
roles = ["engineer", "lead"]
slack_user = "{LEAD_SLACK}"
"""


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
async def pager_service() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A phone/SMS paging service stand-in on 127.0.0.1 that records what it is sent."""
    received: list[dict[str, Any]] = []

    async def page(request: web.Request) -> web.Response:
        received.append(json.loads(await request.text()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/page", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/page", received
    finally:
        await runner.cleanup()


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(DESK, chat_type="supergroup", title="工程师群")
        fake.add_user(ONCALL_TG, first_name="赵工")
        fake.add_chat(ONCALL_TG, chat_type="private")  # the engineer once started the bot
        yield fake


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user(LEAD_SLACK, name="sun", real_name="孙组长", display_name="孙组长")
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local(2026, 3, 4, 22, 0))  # a Wednesday night: the on-call service


@pytest.fixture
async def bot(
    tmp_path: Path,
    index_dir: Path,
    tg: FakeTelegram,
    slack: FakeSlack,
    clock: FakeClock,
    pager_service: tuple[str, list[dict[str, Any]]],
) -> AsyncIterator[App]:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + f'\n[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', "utf-8")
    s: Settings = load_settings(path)
    s = dataclasses.replace(
        s,
        kb=dataclasses.replace(s.kb, index_dir=str(index_dir)),
        telegram=dataclasses.replace(
            s.telegram, base_url=tg.base_url, base_file_url=tg.base_file_url
        ),
        slack=dataclasses.replace(s.slack, api_base_url=slack.api_url),
        sla=dataclasses.replace(s.sla, webhook_url=pager_service[0]),
    )
    adapters: list[Any] = [
        TelegramAdapter(TOKEN, s.telegram),
        SlackAdapter(
            slack.bot_token,
            s.slack,
            signing_secret=slack.signing_secret,
            logger=logging.getLogger("test.hisbot.slack"),
        ),
    ]
    app = build_app(
        s, Secrets.from_env({}), db=make_engine(s.storage_url), adapters=adapters, clock=clock
    )
    assert app.services.sla is not None
    roster = app.services.sla.roster
    for post in (Post.DAY, Post.NIGHT, Post.WEEKEND):
        roster.set_rotation(post, ["e01"], "e09")
    roster.set_rotation(Post.LEAD, ["e09"], "e09")
    watch_links(app)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def test_p1_pages_on_call_and_lead_then_breach_repeats_until_acknowledged(
    bot: App,
    tg: FakeTelegram,
    slack: FakeSlack,
    clock: FakeClock,
    pager_service: tuple[str, list[dict[str, Any]]],
) -> None:
    watch = bot.services.sla
    assert watch is not None
    tg.user_message(H1_CHAT, NURSE, "紧急！全院HIS都登不上了，收费处排长队")
    first = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert "正在呼叫值班工程师" in (first.text or "")
    number = TICKET_NO.search(first.text or "").group(1)  # type: ignore[union-attr]
    # then the hospital hears who was reached and when (22:00 Shanghai), and nothing untrue
    told = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "已呼叫" in (m.text or ""))
    assert f"工单 #{number}：22:00 已呼叫值班工程师赵工、孙组长" in (told.text or "")
    assert told.reply_to == first.reply_to  # in the question's thread
    dm = await tg.wait_for_sent(lambda m: m.chat_id == ONCALL_TG)
    assert number in (dm.text or "") and "紧急故障" in (dm.text or "")
    slack_dm = await slack.wait_for_post(lambda p: number in p.text)
    assert slack_dm.channel.startswith("D")  # a direct message to the lead
    assert [p["ticket"] for p in pager_service[1]] == [number]
    assert pager_service[1][0]["engineers"] == ["e01", "e09"]
    trail = [e.text or "" for e in bot.services.tickets.events(number)]
    assert any(
        "已私信 赵工（telegram）、孙组长（slack）" in t and "呼叫服务：ok" in t for t in trail
    )

    # 80 % of the 15-minute accept target: one warning on the desk, even if asked twice
    clock.advance(minutes=12)
    await watch.tick()
    await watch.tick()
    warnings = [m for m in tg.sent_messages(DESK) if "已过 80%" in (m.text or "")]
    assert len(warnings) == 1 and number in (warnings[0].text or "")

    # breach: paged again (on-call by Telegram DM, lead by Slack DM, the webhook)
    clock.advance(minutes=3)
    assert [f.step.value for f in await watch.tick()] == ["breach"]
    page = await tg.wait_for_sent(lambda m: m.chat_id == ONCALL_TG and "超时" in (m.text or ""))
    assert len(pager_service[1]) == 2
    tg.callback_query(ONCALL_TG, ONCALL_TG, page.message_id, page.callback_data[0])
    await answered(tg, "已确认工单")
    assert any("呼叫已确认：e01" in (e.text or "") for e in bot.services.tickets.events(number))
    clock.advance(minutes=30)
    assert await watch.tick() == []  # acknowledged: no more pages
    assert len(pager_service[1]) == 2


async def eventually(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds: the bot works on its own tasks (bounded, no fixed delay)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def answered(tg: FakeTelegram, text: str) -> None:
    """Until the bot has answered a button press with ``text`` (the press is handled by the
    adapter's own task; this waits on that, bounded, never on a fixed delay)."""
    for _ in range(500):
        if any(text in str(c.params.get("text", "")) for c in tg.calls_to("answerCallbackQuery")):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no button answer with {text!r}:\n{tg.describe()}")


async def test_desk_duty_pause_and_the_hospitals_answer_resumes(
    bot: App, tg: FakeTelegram, clock: FakeClock
) -> None:
    watch = bot.services.sla
    assert watch is not None
    tg.user_message(DESK, ONCALL_TG, "/duty")
    duty = await tg.wait_for_sent(lambda m: m.chat_id == DESK and "当前班次" in (m.text or ""))
    assert "夜班" in (duty.text or "") and "值班工程师：赵工" in (duty.text or "")
    assert "值班组长：孙组长" in (duty.text or "")
    tg.user_message(H1_CHAT, NURSE, "/duty")  # the hospital asks who is on duty
    told = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "值班" in (m.text or ""))
    assert "非工作时间" in (told.text or "") and "值班工程师：赵工" in (told.text or "")

    tg.user_message(H1_CHAT, NURSE, "新来的护士怎么开通HIS账号")  # not in the KB: a P3 ticket
    notice = await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT and "工单" in (m.text or ""))
    number = TICKET_NO.search(notice.text or "").group(1)  # type: ignore[union-attr]
    tg.user_message(DESK, ONCALL_TG, f"/pause {number} 等医院提供账号截图")
    await tg.wait_for_sent(lambda m: m.chat_id == DESK and "已暂停" in (m.text or ""))
    assert all(c.paused_at is not None for c in watch.clocks.for_ticket(number))
    clock.advance(days=10)
    assert await watch.tick() == []  # paused: no warning, no page

    # the hospital answers in the ticket's thread: the clocks go on by themselves
    await until_linked(bot, number, chat_id=str(H1_CHAT))
    tg.user_message(H1_CHAT, NURSE, "截图已发", reply_to_message_id=notice.message_id)
    await tg.wait_for_sent(lambda m: m.chat_id == DESK and "截图已发" in (m.text or ""))
    await eventually(lambda: all(c.paused_at is None for c in watch.clocks.for_ticket(number)))

    def trail() -> list[str]:
        return [e.text or "" for e in bot.services.tickets.events(number)]

    # the clocks are written first, the audit line right after: wait for it, not the clocks
    await eventually(lambda: "SLA 继续计时：医院回复" in trail())
    assert any(t.startswith("SLA 暂停（等待医院）：e01 等医院提供账号截图") for t in trail())
