"""The whole bot over DingTalk: config.toml with tenants, ``build_app``'s configured adapters
(credentials from the environment), the real pipeline and ticket store, the DingTalk adapter
against the fake DingTalk and the Telegram adapter against the fake Telegram (the desk)."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bot.app import App, build_app  # noqa: E402
from bot.infra.config import Secrets, Settings, load_settings  # noqa: E402
from bot.infra.db import make_engine  # noqa: E402
from tests.fakes.dingtalk_api import FakeDingTalk, Sent  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.linked import until_linked, watch_links  # noqa: E402
from tests.once import seeded_index_dir  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "123456:TEST-token"
DESK = -1009000
WANG = 5001
H1 = "cidH1ward"  # 第一人民医院's group, in its own tenant h001
H2 = "cidH2ward"  # 第二人民医院's group, in tenant h002
DT_DESK = "cidVendorDesk"
REPO = Path(__file__).resolve().parents[2]
TICKET_NO = re.compile(r"#(\d{4}-\d{6})")


def config(dt: FakeDingTalk, tg: FakeTelegram, desk_on_dingtalk: bool) -> str:
    desk = f'desk_tenant = "vendor"\nengineers_group = "{DT_DESK}"' if desk_on_dingtalk else ""
    tenants = "".join(
        f"""
[[dingtalk.tenants]]
name = "{n}"
client_id_env = "DT_{n.upper()}_ID"
client_secret_env = "DT_{n.upper()}_SECRET"
"""
        for n in ("h001", "h002", "vendor")
    )
    telegram = (
        ""
        if desk_on_dingtalk
        else f"""
[telegram]
engineers_chat = {DESK}
poll_timeout = 1
group_per_minute = 600
group_burst = 20
base_url = "{tg.base_url}"
base_file_url = "{tg.base_file_url}"
"""
    )
    return f"""
[kb]
dir = "{REPO / "kb"}"
{telegram}
[dingtalk]
api_base = "{dt.base_url}"
{desk}
{tenants}
[[hospitals]]
id = "h001"
name = "第一人民医院"
dedicated_engineer = "e01"
dingtalk_groups = ["h001/{H1}"]
[[hospitals]]
id = "h002"
name = "第二人民医院"
dingtalk_groups = ["h002/{H2}"]
[[engineers]]
id = "e01"
name = "王工"
roles = ["engineer", "broadcaster"]
telegram_user = {WANG}
dingtalk_user = "vendor/wang"
"""


def environment(dt: FakeDingTalk, desk_on_dingtalk: bool) -> dict[str, str]:
    env = {} if desk_on_dingtalk else {"HISBOT_TELEGRAM_TOKEN": TOKEN}
    for t in dt.tenants.values():
        env[f"DT_{t.name.upper()}_ID"] = t.client_id
        env[f"DT_{t.name.upper()}_SECRET"] = t.secret
    return env


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
async def dt() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as fake:
        for name in ("h001", "h002", "vendor"):
            fake.add_tenant(name)
        yield fake


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(DESK, chat_type="supergroup", title="工程师群")
        fake.add_user(WANG, first_name="王工")
        yield fake


def load(tmp_path: Path, index_dir: Path, text: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text + f'\n[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', encoding="utf-8")
    s = load_settings(path)
    return dataclasses.replace(s, kb=dataclasses.replace(s.kb, index_dir=str(index_dir)))


async def run_bot(settings: Settings, env: dict[str, str]) -> App:
    app = build_app(settings, Secrets.from_env(env), db=make_engine(settings.storage_url))
    watch_links(app)
    await app.start()
    return app


def number_in(text: str) -> str:
    m = TICKET_NO.search(text)
    assert m, f"no ticket number in {text!r}"
    return m.group(1)


async def test_question_answer_unsolved_ticket_claim_relay_resolve(
    tmp_path: Path, index_dir: Path, dt: FakeDingTalk, tg: FakeTelegram
) -> None:
    settings = load(tmp_path, index_dir, config(dt, tg, desk_on_dingtalk=False))
    bot = await run_bot(settings, environment(dt, desk_on_dingtalk=False))
    chat = f"h001/{H1}"
    try:
        assert {"dingtalk", "telegram"} <= {a.platform for a in bot.adapters}
        question = dt.user_message(
            "h001", H1, "nurse01", "yb结算报2304，总额和明细对不上", nick="护士小张"
        )
        answer = await dt.wait_for_sent(lambda m: m.chat_id == chat)
        assert answer.via == "card" and answer.at_user_ids == ["nurse01"]  # the asker quoted
        assert "住院医保结算提示总额与明细合计不一致" in answer.text and "/kb/hb-002" in answer.text
        assert [b["text"] for b in answer.buttons] == ["已解决", "没解决，转工程师"]

        # 没解决 → ticket, the hospital told in its group, a card on the Telegram desk
        dt.press(answer, "nurse01", "没解决，转工程师")
        notice = await dt.wait_for_sent(lambda m: m.chat_id == chat and "工单" in m.text)
        number = number_in(notice.text)
        card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
        assert number in (card.text or "") and "第一人民医院" in (card.text or "")

        # 接单 on Telegram → the DingTalk group is told
        tg.callback_query(DESK, WANG, card.message_id, card.buttons[0]["callback_data"])
        await dt.wait_for_sent(lambda m: m.chat_id == chat and "已受理" in m.text)

        # the engineer replies to the card → relayed into the DingTalk group
        await until_linked(bot, number, chat_id=str(DESK))
        tg.user_message(
            DESK, WANG, "请问是哪个病人的结算？发下截图", reply_to_message_id=card.message_id
        )
        relayed = await dt.wait_for_sent(lambda m: m.chat_id == chat and "发下截图" in m.text)

        # the nurse quotes the relayed message → relayed to the desk and recorded
        await until_linked(bot, "发下截图", chat_id=chat)
        dt.user_message("h001", H1, "nurse01", "是住院的，截图马上发", quote=relayed)
        back = await tg.wait_for_sent(
            lambda m: m.chat_id == DESK and "截图马上发" in (m.text or "")
        )
        assert back.reply_to == card.message_id
        texts = [m.text for m in bot.services.tickets.messages(number)]
        assert "是住院的，截图马上发" in texts

        tg.user_message(DESK, WANG, f"/resolve {number} 医保中心重新对总账后恢复")
        done = await dt.wait_for_sent(lambda m: m.chat_id == chat and "处理完成" in m.text)
        assert "医保中心重新对总账后恢复" in done.text
        assert bot.services.tickets.get(number).status == "resolved"
        question_id = question["msgId"]
        assert bot.services.tickets.get(number).source_message_id == question_id
    finally:
        await bot.stop()


async def test_desk_on_a_dingtalk_group_and_redelivery_answered_once(
    tmp_path: Path, index_dir: Path, dt: FakeDingTalk, tg: FakeTelegram
) -> None:
    settings = load(tmp_path, index_dir, config(dt, tg, desk_on_dingtalk=True))
    bot = await run_bot(settings, environment(dt, desk_on_dingtalk=True))
    chat, desk = f"h002/{H2}", f"vendor/{DT_DESK}"
    try:
        data = dt.user_message("h002", H2, "cashier9", "紧急！全院HIS都登不上了，收费处排长队")
        notice = await dt.wait_for_sent(lambda m: m.chat_id == chat and "紧急" in m.text)
        card: Sent = await dt.wait_for_sent(lambda m: m.chat_id == desk and m.via == "card")
        number = number_in(card.text)
        assert "第二人民医院" in card.text and "紧急" in notice.text
        # DingTalk delivers the same message again (an ack it did not see): nothing twice
        again = dt.deliver("h002", "/v1.0/im/bot/messages/get", data)
        await dt.wait_until(lambda: again in dt.acks)
        assert len([m for m in dt.sent_to(chat) if "紧急" in m.text]) == 1
        assert len(bot.services.tickets.open_tickets()) == 1

        # 接单 on the DingTalk desk card by 王工 (vendor/wang)
        dt.press(card, "wang", "接单")
        await dt.wait_for_sent(lambda m: m.chat_id == chat and "已受理" in m.text)
        await dt.wait_until(lambda: card.edits)
        assert bot.services.tickets.get(number).accepted_by == "e01"

        # 王工 quotes the card on the DingTalk desk → relayed to the hospital's group
        await until_linked(bot, number, chat_id=desk)
        dt.user_message("vendor", DT_DESK, "wang", "已远程登录，正在重启服务", quote=card)
        relayed = await dt.wait_for_sent(lambda m: m.chat_id == chat and "重启服务" in m.text)
        # the cashier quotes the relay → back under the card on the desk
        await until_linked(bot, "重启服务", chat_id=chat)
        dt.user_message("h002", H2, "cashier9", "好了，能登录了", quote=relayed)
        await dt.wait_for_sent(lambda m: m.chat_id == desk and "能登录了" in m.text)
    finally:
        await bot.stop()


async def test_broadcast_reaches_groups_across_tenants_once(
    tmp_path: Path, index_dir: Path, dt: FakeDingTalk, tg: FakeTelegram
) -> None:
    settings = load(tmp_path, index_dir, config(dt, tg, desk_on_dingtalk=True))
    settings = dataclasses.replace(
        settings,
        broadcast=dataclasses.replace(settings.broadcast, quiet_hours="", poll_seconds=0.2),
    )
    bot = await run_bot(settings, environment(dt, desk_on_dingtalk=True))
    desk, groups = f"vendor/{DT_DESK}", {f"h001/{H1}", f"h002/{H2}"}
    try:
        dt.user_message(
            "vendor",
            DT_DESK,
            "wang",
            "/notice create announcement\n标题: 医保接口调整\n内容: 本周五起启用新版接口\n目标: all",
        )
        created = await dt.wait_for_sent(lambda m: m.chat_id == desk and "#" in m.text)
        notice_id = int(re.search(r"#(\d+)", created.text).group(1))  # type: ignore[union-attr]
        dt.user_message("vendor", DT_DESK, "wang", f"/notice send {notice_id}")
        ask = await dt.wait_for_sent(
            lambda m: m.chat_id == desk and any("确认" in b["text"] for b in m.buttons)
        )
        dt.press(ask, "wang", next(b["text"] for b in ask.buttons if "确认" in b["text"]))
        await dt.wait_until(
            lambda: {m.chat_id for m in dt.sent if "医保接口调整" in m.text} >= groups,
            timeout=15,
        )
        h1 = next(m for m in dt.sent_to(f"h001/{H1}") if "医保接口调整" in m.text)
        assert h1.via == "card" and [b["text"] for b in h1.buttons] == ["已知悉"]
        pressed = dt.press(h1, "nurse01", "已知悉")
        await dt.wait_until(lambda: pressed in dt.acks)  # acknowledged once the core is done
        assert dt.acks[pressed]["code"] == 200
        for chat in groups:  # each group got it once
            assert len([m for m in dt.sent_to(chat) if "医保接口调整" in m.text]) == 1
    finally:
        await bot.stop()


async def test_hisbot_run_with_one_tenant_refused_answers_the_others_and_closes_on_stop(
    tmp_path: Path,
    index_dir: Path,
    dt: FakeDingTalk,
    tg: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from bot.app import run

    settings = load(tmp_path, index_dir, config(dt, tg, True) + "\n[web]\nenabled = false\n")
    env = environment(dt, desk_on_dingtalk=True)
    env["DT_H002_SECRET"] = "a wrong secret"
    stop = asyncio.Event()
    running = asyncio.create_task(run(settings, Secrets.from_env(env), stop))
    try:
        await dt.wait_until(lambda: dt.live_connections("h001") == 1, timeout=60)
        dt.user_message("h001", H1, "nurse01", "入院时间录错了，床位费多算了一天")
        answer = await dt.wait_for_sent(lambda m: m.chat_id == f"h001/{H1}", timeout=30)
        assert "床位费" in answer.text
        assert "dingtalk tenant h002 is NOT running" in caplog.text
        assert dt.live_connections("h002") == 0
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert all(dt.live_connections(n) == 0 for n in ("h001", "h002", "vendor"))


async def test_a_restarted_bot_answers_a_redelivered_message_not_again(
    tmp_path: Path, index_dir: Path, dt: FakeDingTalk, tg: FakeTelegram
) -> None:
    """The adapter's memory of msgIds ends with the process; the core's inbox (keyed on the
    msgId) does not, so DingTalk re-delivering to a restarted bot changes nothing."""
    settings = load(tmp_path, index_dir, config(dt, tg, desk_on_dingtalk=True))
    env = environment(dt, desk_on_dingtalk=True)
    chat = f"h002/{H2}"
    first = await run_bot(settings, env)
    try:
        data = dt.user_message("h002", H2, "cashier9", "紧急！全院HIS都登不上了，收费处排长队")
        await dt.wait_for_sent(lambda m: m.chat_id == chat and "紧急" in m.text)
    finally:
        await first.stop()
    second = await run_bot(settings, env)
    try:
        again = dt.deliver("h002", "/v1.0/im/bot/messages/get", data)
        await dt.wait_until(lambda: again in dt.acks)
        dt.user_message("h002", H2, "cashier9", "号源被锁了一直显示已满")  # a marker
        await dt.wait_for_sent(lambda m: m.chat_id == chat and "号源" in m.text)
        assert len([m for m in dt.sent_to(chat) if "紧急" in m.text]) == 1
        assert len(second.services.tickets.open_tickets()) == 1
    finally:
        await second.stop()
