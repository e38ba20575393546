"""The whole bot over WeCom: the real pipeline, ticket store and WeCom adapter (wired by
``configured_adapters`` from config and environment), talking the long-connection frames to the
fake WeCom server on 127.0.0.1. Nothing is mocked but the platform's server."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram.adapter import TelegramAdapter
from adapters.wecom.adapter import WeComAdapter
from bot.app import App, build_app, run
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from bot.wiring.platforms import wecom_credentials
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wecom_api import FakeWeCom, Sent
from tests.linked import until_linked, watch_links
from tests.once import seeded_index_dir

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

REPO = Path(__file__).resolve().parents[2]
H1_GROUP, H2_GROUP, DESK = "wrkH1grp", "wrkH2grp", "wrkDESK"
NURSE, CASHIER, WANG = "zhangnurse", "liucashier", "wanggong"
BOTS = {"h001": ("BOT_H001", "s-h001"), "h002": ("BOT_H002", "s-h002"), "vendor": ("BOT_V", "s-v")}
TICKET_NO = re.compile(r"#(\d{4}-\d{6})")
TG_TOKEN = "123456:TEST-token"

CONFIG = f"""
[kb]
dir = "{REPO / "kb"}"
[web]
enabled = false
[wecom]
desk_tenant = "vendor"
engineers_group = "{DESK}"
# roomy pacing: the flow is tested here, not WeCom's 20 a minute (the storm test sets its own)
chat_per_minute = 600
chat_burst = 20
[[wecom.tenants]]
name = "h001"
bot_id_env = "HISBOT_WC_H001_BOT"
secret_env = "HISBOT_WC_H001_SECRET"
[[wecom.tenants]]
name = "h002"
bot_id_env = "HISBOT_WC_H002_BOT"
secret_env = "HISBOT_WC_H002_SECRET"
[[wecom.tenants]]
name = "vendor"
bot_id_env = "HISBOT_WC_VENDOR_BOT"
secret_env = "HISBOT_WC_VENDOR_SECRET"
[[hospitals]]
id = "h001"
name = "第一人民医院"
dedicated_engineer = "e01"
wecom_groups = ["h001/{H1_GROUP}"]
[[hospitals]]
id = "h002"
name = "第二人民医院"
wecom_groups = ["h002/{H2_GROUP}"]
[[engineers]]
id = "e01"
name = "王工"
wecom_user = "vendor/{WANG}"
"""


def environment(secrets: dict[str, tuple[str, str]] = BOTS) -> dict[str, str]:
    env: dict[str, str] = {}
    for tenant, (bot_id, secret) in secrets.items():
        env[f"HISBOT_WC_{tenant.upper()}_BOT"] = bot_id
        env[f"HISBOT_WC_{tenant.upper()}_SECRET"] = secret
    return env


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_index_dir(tmp_path_factory)


@pytest.fixture
async def wc() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as fake:
        for bot_id, secret in BOTS.values():
            fake.add_bot(bot_id, secret)
        yield fake


@pytest.fixture
def settings(tmp_path: Path, index_dir: Path, wc: FakeWeCom) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG + f'\n[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', encoding="utf-8"
    )
    s = load_settings(path)
    wecom = dataclasses.replace(
        s.wecom,
        ws_url=wc.ws_url,
        heartbeat_seconds=5.0,
        liveness_timeout=30.0,
        reconnect_initial=0.05,
        reconnect_max=0.2,
    )
    return dataclasses.replace(
        s, wecom=wecom, kb=dataclasses.replace(s.kb, index_dir=str(index_dir))
    )


async def start_bot(settings: Settings, env: dict[str, str] | None = None) -> App:
    app = build_app(
        settings,
        Secrets.from_env(environment() if env is None else env),
        db=make_engine(settings.storage_url),
    )
    watch_links(app)
    await app.start()
    return app


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[App]:
    app = await start_bot(settings)
    try:
        yield app
    finally:
        await app.stop()


def wecom_adapter(app: App) -> WeComAdapter:
    return next(a for a in app.adapters if isinstance(a, WeComAdapter))


def ticket_number(text: str) -> str:
    m = TICKET_NO.search(text)
    assert m, f"no ticket number in {text!r}"
    return m.group(1)


def key_of(message: Sent, label: str) -> str:
    return next(str(b["key"]) for b in message.buttons if b["text"].startswith(label))


async def test_question_answer_unsolved_ticket_claim_relay_resolve(bot: App, wc: FakeWeCom) -> None:
    h1, vendor = BOTS["h001"][0], BOTS["vendor"][0]
    await wc.user_message(h1, NURSE, "yb结算报2304，总额和明细对不上", chatid=H1_GROUP)
    answer = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP)
    assert answer.via == "respond"  # bound to the question's req_id
    assert f"<@{NURSE}>" in answer.content and "yb结算报2304" in answer.content  # asker quoted
    assert "住院医保结算提示总额与明细合计不一致" in answer.content
    assert "/kb/hb-002" in answer.content
    assert [b["text"] for b in answer.buttons] == ["已解决", "没解决，转工程师"]

    # 没解决 → ticket, hospital told (proactively: the question's req_id is used), desk card
    await wc.press(h1, NURSE, answer, key_of(answer, "没解决"))
    notice = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "工单" in m.content)
    number = ticket_number(notice.content)
    card_text = await wc.wait_for_sent(lambda m: m.chatid == DESK and number in m.content)
    assert card_text.bot == vendor and "第一人民医院" in card_text.content
    card = await wc.wait_for_sent(lambda m: m.chatid == DESK and m.card is not None)
    labels = [b["text"] for b in card.buttons]
    assert labels[0] == "接单" and all(t.startswith("改为") for t in labels[1:])  # + categories

    # 接单 by 王工 on the vendor's desk group: card updated within 5 s, hospital told
    await wc.press(vendor, WANG, card, card.buttons[0]["key"])
    accepted = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "已受理" in m.content)
    assert "王工" in accepted.content
    await wc.wait_until(lambda: card.updates, what="card updated")
    assert bot.services.tickets.get(number).accepted_by == "e01"

    # the engineer quotes the card → relayed to the hospital group
    await until_linked(bot, number, chat_id=f"vendor/{DESK}")
    await wc.user_message(
        vendor, WANG, "请问是哪个病人的结算？发下截图", chatid=DESK, quote=card_text.content
    )
    relayed = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "发下截图" in m.content)
    # the hospital quotes the relayed message → back on the desk, recorded on the ticket
    await until_linked(bot, "发下截图", chat_id=f"h001/{H1_GROUP}")
    await wc.user_message(h1, NURSE, "是住院的，截图马上发", chatid=H1_GROUP, quote=relayed.content)
    await wc.wait_for_sent(lambda m: m.chatid == DESK and "截图马上发" in m.content)
    texts = [m.text for m in bot.services.tickets.messages(number)]
    assert "请问是哪个病人的结算？发下截图" in texts and "是住院的，截图马上发" in texts

    await wc.user_message(vendor, WANG, f"/resolve {number} 医保中心重新对总账后恢复", chatid=DESK)
    done = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "处理完成" in m.content)
    assert "医保中心重新对总账后恢复" in done.content
    ticket = bot.services.tickets.get(number)
    assert ticket.status == "resolved" and ticket.completed_at is not None
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


async def test_a_redelivered_callback_is_answered_once(bot: App, wc: FakeWeCom) -> None:
    h1 = BOTS["h001"][0]
    frame = await wc.user_message(h1, NURSE, "入院时间录错了，床位费多算了一天", chatid=H1_GROUP)
    await wc.deliver(h1, frame)  # WeCom delivers the same msgid again
    await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP)
    await wc.deliver(h1, frame)  # … and once more after it was answered
    await wc.user_message(h1, NURSE, "号源被锁了一直显示已满", chatid=H1_GROUP)  # a marker
    await wc.wait_for_sent(2, chatid=H1_GROUP)
    answers = [m for m in wc.sent_to(H1_GROUP) if "床位费" in m.content]
    assert len(answers) == 1


async def test_an_expired_req_id_falls_back_to_a_proactive_send(bot: App, wc: FakeWeCom) -> None:
    h1 = BOTS["h001"][0]
    frame = await wc.user_message(h1, NURSE, "入院时间录错了，床位费多算了一天", chatid=H1_GROUP)
    wc.expire(frame)  # before the bot answers: WeCom will refuse the req_id
    answer = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "/kb/hb-006" in m.content)
    assert answer.via == "send"
    refused = [c for c in wc.calls_to("aibot_respond_msg") if c.status != 0]
    assert refused and refused[0].req_id == frame["headers"]["req_id"]


async def test_one_tenant_with_wrong_credentials_is_reported_and_the_others_run(
    settings: Settings, wc: FakeWeCom, caplog: pytest.LogCaptureFixture
) -> None:
    env = environment({**BOTS, "h002": ("BOT_H002", "wrong-secret")})
    app = await start_bot(settings, env)
    try:
        adapter = wecom_adapter(app)
        assert sorted(adapter.connections) == ["h001", "vendor"]
        assert "h002" in adapter.failed and "40001" in adapter.failed["h002"]
        assert any(
            "h002" in r.getMessage() and "not started" in r.getMessage() for r in caplog.records
        )
        await wc.user_message(
            BOTS["h001"][0], NURSE, "入院时间录错了，床位费多算了", chatid=H1_GROUP
        )
        await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP)
    finally:
        await app.stop()


async def test_hisbot_run_serves_every_tenant_and_stops_cleanly(
    settings: Settings, wc: FakeWeCom
) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(run(settings, Secrets.from_env(environment()), stop))
    try:
        await wc.wait_until(
            lambda: all(b.ws is not None for b in wc.bots.values()),
            timeout=60,
            what="every tenant connected",
        )
        await wc.user_message(BOTS["h002"][0], CASHIER, "电子票据开具失败提示401", chatid=H2_GROUP)
        answer = await wc.wait_for_sent(lambda m: m.chatid == H2_GROUP)
        assert answer.bot == BOTS["h002"][0] and "/kb/hb-008" in answer.content
    finally:
        stop.set()
        await running
    await wc.wait_until(  # every connection closed on stop
        lambda: all(b.ws is None for b in wc.bots.values()), what="connections closed"
    )
    assert all(b.kicked == 0 and b.connections == 1 for b in wc.bots.values())


async def test_a_broadcast_from_the_wecom_desk_reaches_every_tenant_once_with_receipts(
    settings: Settings, wc: FakeWeCom
) -> None:
    bc = dataclasses.replace(
        settings,
        engineers=tuple(
            dataclasses.replace(e, roles=("engineer", "broadcaster")) for e in settings.engineers
        ),
        broadcast=dataclasses.replace(settings.broadcast, quiet_hours="", poll_seconds=0.2),
    )
    vendor = BOTS["vendor"][0]
    app = await start_bot(bc)
    try:
        await wc.user_message(
            vendor,
            WANG,
            "/notice create announcement\n标题: 医保接口调整\n内容: 本周五起启用新版接口\n目标: all",
            chatid=DESK,
        )
        created = await wc.wait_for_sent(lambda m: m.chatid == DESK and "#" in m.content)
        notice_id = int(re.search(r"#(\d+)", created.content).group(1))  # type: ignore[union-attr]
        await wc.user_message(vendor, WANG, f"/notice send {notice_id}", chatid=DESK)
        ask = await wc.wait_for_sent(
            lambda m: m.chatid == DESK and any("确认" in b["text"] for b in m.buttons)
        )
        await wc.press(vendor, WANG, ask, key_of(ask, "确认"))
        for bot_id, group in ((BOTS["h001"][0], H1_GROUP), (BOTS["h002"][0], H2_GROUP)):
            await wc.wait_for_sent(
                lambda m, g=group: m.chatid == g and m.card is not None, timeout=15
            )
            texts = [m for m in wc.sent_to(group) if "医保接口调整" in m.content]
            assert len(texts) == 1 and texts[0].bot == bot_id and texts[0].via == "send"
        card = next(m for m in wc.sent_to(H1_GROUP) if m.card is not None)
        assert [b["text"] for b in card.buttons] == ["已知悉"]
        await wc.press(BOTS["h001"][0], NURSE, card, card.buttons[0]["key"])
        await wc.wait_until(lambda: card.updates, what="the press acknowledged on the card")
        assert card.updates[0]["userids"] == [NURSE]  # shown to the presser alone
        assert "已记录" in card.updates[0].get("sub_title_text", "")
    finally:
        await app.stop()


async def test_hospitals_on_wecom_with_the_desk_on_telegram(
    settings: Settings, wc: FakeWeCom
) -> None:
    """The desk may live on any platform: a WeCom hospital's ticket is carded on a Telegram
    desk, claimed and answered there, and the conversation crosses both ways."""
    tg_desk, tg_wang = -1009000, 5001
    mixed = dataclasses.replace(
        settings,
        wecom=dataclasses.replace(settings.wecom, desk_tenant=None, engineers_group=None),
        telegram=dataclasses.replace(settings.telegram, engineers_chat=tg_desk, poll_timeout=1),
        engineers=tuple(dataclasses.replace(e, telegram_user=tg_wang) for e in settings.engineers),
    )
    secrets = Secrets.from_env(environment())
    async with FakeTelegram(token=TG_TOKEN) as tg:
        tg.add_chat(tg_desk, chat_type="supergroup", title="工程师群")
        tg.add_user(tg_wang, first_name="王工")
        telegram = TelegramAdapter(
            TG_TOKEN,
            dataclasses.replace(
                mixed.telegram, base_url=tg.base_url, base_file_url=tg.base_file_url
            ),
        )
        wecom = WeComAdapter(mixed.wecom, wecom_credentials(mixed, secrets))
        app = build_app(
            mixed, secrets, db=make_engine(mixed.storage_url), adapters=[wecom, telegram]
        )
        watch_links(app)
        await app.start()
        try:
            h1 = BOTS["h001"][0]
            await wc.user_message(
                h1, NURSE, "手术麻醉系统的排班表怎么导出到Excel？", chatid=H1_GROUP
            )
            notice = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "工单" in m.content)
            number = ticket_number(notice.content)
            card = await tg.wait_for_sent(
                lambda m: m.chat_id == tg_desk and number in (m.text or "")
            )
            tg.callback_query(tg_desk, tg_wang, card.message_id, card.buttons[0]["callback_data"])
            await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "已受理" in m.content)
            await until_linked(app, number, chat_id=str(tg_desk))
            tg.user_message(
                tg_desk, tg_wang, "请发一下导出的截图", reply_to_message_id=card.message_id
            )
            relayed = await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "截图" in m.content)
            await until_linked(app, "请发一下导出的截图", chat_id=f"h001/{H1_GROUP}")
            await wc.user_message(h1, NURSE, "好的，马上发", chatid=H1_GROUP, quote=relayed.content)
            back = await tg.wait_for_sent(
                lambda m: m.chat_id == tg_desk and "马上发" in (m.text or "")
            )
            assert back.reply_to == card.message_id
            assert bot_texts(app, number) >= {"请发一下导出的截图", "好的，马上发"}
        finally:
            await app.stop()


def bot_texts(app: App, number: str) -> set[str]:
    return {m.text for m in app.services.tickets.messages(number)}


async def test_a_restarted_bot_answers_a_redelivered_callback_not_again(
    settings: Settings, wc: FakeWeCom
) -> None:
    """The adapter's own dedupe is gone with the process; the core's inbox (keyed on the
    msgid) remembers what was handled, so a re-delivery after a restart is answered once."""
    h1 = BOTS["h001"][0]
    first = await start_bot(settings)
    try:
        frame = await wc.user_message(
            h1, NURSE, "入院时间录错了，床位费多算了一天", chatid=H1_GROUP
        )
        await wc.wait_for_sent(lambda m: m.chatid == H1_GROUP and "床位费" in m.content)
    finally:
        await first.stop()
    second = await start_bot(settings)
    try:
        await wc.deliver(h1, frame)  # WeCom delivers the same msgid to the new process
        await wc.user_message(h1, NURSE, "号源被锁了一直显示已满", chatid=H1_GROUP)  # a marker
        await wc.wait_for_sent(2, chatid=H1_GROUP)
        assert len([m for m in wc.sent_to(H1_GROUP) if "床位费" in m.content]) == 1
    finally:
        await second.stop()


async def test_a_p1_storm_on_a_wecom_desk_is_shown_at_once_in_one_urgent_digest(
    settings: Settings, wc: FakeWeCom
) -> None:
    """WeCom declares its per-chat budget (``[wecom] chat_per_minute``, ``chat_burst``), so
    the desk queue paces a WeCom desk by it: six P1s at once — more than the burst — are
    listed in ONE urgent digest instead of six cards queueing in the adapter's pacer."""
    shipped = dataclasses.replace(settings.wecom, chat_per_minute=20, chat_burst=3)
    bot = await start_bot(dataclasses.replace(settings, wecom=shipped))
    try:
        await _p1_storm_is_one_digest(bot, wc)
    finally:
        await bot.stop()


async def _p1_storm_is_one_digest(bot: App, wc: FakeWeCom) -> None:
    # the card outbox's start-up pass reads on a database thread: paused, it cannot see the
    # storm half-written and post part of it before the rest exists (a flaky split)
    await bot.cards.stop()
    numbers = [
        bot.services.tickets.open_ticket(
            hospital_id="h001", reporter_platform="wecom", reporter_user_id=NURSE,
            reporter_name="护士小张", source_platform="wecom", source_chat_id=f"h001/{H1_GROUP}",
            source_message_id=f"storm{i}", question=f"第{i}个院区HIS全部登录不了",
            category="usage", urgency="P1",
        ).number
        for i in range(6)
    ]  # fmt: skip
    bot.cards.start()  # its start-up pass sends what waits: the whole storm at once
    digest = await wc.wait_for_sent(lambda m: m.chatid == DESK and "紧急工单汇总" in m.content)
    assert all(digest.content.count(f"/claim {n}") == 1 for n in numbers)
    assert not [m for m in wc.sent_to(DESK) if m.content.startswith("🎫")]  # no card each
