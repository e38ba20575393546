"""The whole bot over Slack: the real pipeline, ticket store and slack-bolt adapter in HTTP
(Events API) mode, against the fake Slack on 127.0.0.1. The fake signs and POSTs events,
block_actions and slash commands to the adapter's listener like Slack; the adapter calls the
fake's Web API over HTTP. Cross-platform tests add the real Telegram adapter and the fake Bot
API. Nothing is mocked but the platforms' servers.

Waiting is event-driven: on the fakes' recordings (``wait_for_post``/``wait_for_sent``) and on
a probe around ``Pipeline.on_message`` that records when the core has finished a message (so
"nothing was sent for it" is checked after it was handled, never after a sleep). Events of one
channel are handled in arrival order, so a marker message delivered after others in the same
channel proves those were handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adapters.base import IncomingMessage
from adapters.slack.adapter import SlackAdapter
from adapters.telegram.adapter import TelegramAdapter
from bot.app import App, build_app
from bot.conversation.exchanges import Exchange
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from tests.fakes.slack_api import FakeSlack, PostedMessage
from tests.fakes.telegram_api import FakeTelegram
from tests.linked import until_linked, watch_links
from tests.once import seeded_index_dir

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

T = TypeVar("T")

# Slack workspace
H1 = "C0HOSP001"  # 第一人民医院
H1B = "C0HOSP1B2"  # 第一人民医院's second channel
H2 = "C0HOSP002"  # 第二人民医院
DESK = "C0DESK001"  # the engineers' channel
STRANGER = "C0STRANGE"  # a channel nobody registered
NURSE, CASHIER, OUTSIDER = "U0NURSE01", "U0CASH001", "U0NOBODY1"
WANG, LI = "U0WANG001", "U0LI00001"
# Telegram
TG_TOKEN = "123456:TEST-token"
TG_H3 = -1003003  # 第三人民医院's group
TG_DESK = -1009000
TG_WANG, TG_NURSE = 5001, 7001

REPO = Path(__file__).resolve().parents[2]
TICKET_NO = re.compile(r"#(\d{4}-\d{6})")
WAIT = 10.0  # generous per-step timeout: the machine may be loaded

CONFIG = f"""
[kb]
dir = "{REPO / "kb"}"
[slack]
mode = "http"
engineers_channel = "{DESK}"
http_port = 0
post_interval = 0.0
network_backoff = 0.01
stop_timeout = 3.0
[telegram]
poll_timeout = 1
# the Telegram adapter's client-side flood limiter would hold every 4th message to a group for
# 3 s; the fake does not enforce Telegram's limits here, and pacing is not what this file tests
group_per_minute = 600
group_burst = 20
[[hospitals]]
id = "h001"
name = "第一人民医院"
dedicated_engineer = "e01"
slack_channels = ["{H1}", "{H1B}"]
[[hospitals]]
id = "h002"
name = "第二人民医院"
slack_channels = ["{H2}"]
[[hospitals]]
id = "h003"
name = "第三人民医院"
telegram_chats = [{TG_H3}]
[[engineers]]
id = "e01"
name = "王工"
telegram_user = {TG_WANG}
slack_user = "{WANG}"
[[engineers]]
id = "e02"
name = "李工"
slack_user = "{LI}"
"""


# ------------------------------------------------------------------ fixtures and helpers


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


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        for channel in (H1, H1B, H2, DESK, STRANGER):
            fake.add_channel(channel)
        fake.add_user(NURSE, name="zhang.hs", real_name="张护士", display_name="护士小张")
        fake.add_user(CASHIER, name="liu.sf", real_name="刘收费", display_name="收费员小刘")
        fake.add_user(OUTSIDER, name="guest", real_name="访客", display_name="访客")
        fake.add_user(WANG, name="wang.gong", real_name="王工", display_name="王工")
        fake.add_user(LI, name="li.gong", real_name="李工", display_name="李工")
        yield fake


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TG_TOKEN) as fake:
        fake.add_chat(TG_DESK, chat_type="supergroup", title="工程师群")
        fake.add_chat(TG_H3, chat_type="supergroup", title="第三人民医院 HIS 群")
        fake.add_user(TG_WANG, first_name="王工")
        yield fake


class Probe:
    """Records every message the core has finished handling (wraps the inbox's call of
    ``Pipeline.on_message``; nothing of the pipeline is replaced)."""

    def __init__(self, app: App) -> None:
        self.done: list[IncomingMessage] = []
        self._changed = asyncio.Event()
        inner = app.inbox.core.on_message

        async def on_message(msg: IncomingMessage) -> None:
            try:
                await inner(msg)
            finally:
                self.done.append(msg)
                self._changed.set()
                self._changed = asyncio.Event()

        app.inbox.core.on_message = on_message

    async def wait_until(
        self, predicate: Callable[[], T], timeout: float = WAIT, what: str = "condition"
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = predicate()
            if value:
                return value
            if loop.time() >= deadline:
                handled = [(m.chat.chat_id, m.message_id, m.text[:20]) for m in self.done]
                raise AssertionError(f"timed out waiting for {what}; handled: {handled}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), deadline - loop.time())

    async def handled(self, chat_id: str | int, message_id: str | int) -> IncomingMessage:
        """Until the core has finished the message ``message_id`` of ``chat_id``."""
        return await self.wait_until(
            lambda: next(
                (
                    m
                    for m in self.done
                    if m.chat.chat_id == str(chat_id) and m.message_id == str(message_id)
                ),
                None,
            ),
            what=f"message {message_id} of {chat_id} to be handled",
        )


@dataclasses.dataclass
class Bot:
    app: App
    slack: FakeSlack
    adapter: SlackAdapter
    db: Engine
    probe: Probe
    tg: FakeTelegram | None = None

    @property
    def url(self) -> str:
        assert self.adapter.http_url is not None
        return self.adapter.http_url

    async def say(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A user writes in a channel (or a thread): the event is POSTed, signed; Slack's
        3-second acknowledgement deadline is checked on every delivery."""
        event = self.slack.message_event(channel, user, text, thread_ts=thread_ts)
        status, _, elapsed = await self.slack.deliver_event(self.url, event)
        assert status == 200 and elapsed < 3.0, (status, elapsed)
        return event

    async def press(self, channel: str, user: str, message: PostedMessage, label: str) -> None:
        """``user`` clicks the button labelled ``label`` on one of the bot's messages."""
        action = next(a for a in message.actions if a["text"]["text"] == label)
        payload = self.slack.block_actions_payload(channel, user, message.ts, action["action_id"])
        status, _, elapsed = await self.slack.deliver_interaction(self.url, payload)
        assert status == 200 and elapsed < 3.0, (status, elapsed)

    async def command(self, channel: str, user: str, text: str) -> None:
        status, _, elapsed = await self.slack.deliver_command(
            self.url, "/hisbot", text, user_id=user, channel_id=channel
        )
        assert status == 200 and elapsed < 3.0, (status, elapsed)

    async def post(self, pred: Callable[[PostedMessage], bool], channel: str) -> PostedMessage:
        return await self.slack.wait_for_post(pred, channel=channel, timeout=WAIT)

    async def ephemeral_to(self, user: str, pred: Callable[[str], bool]) -> str:
        found = await self.slack.wait_until(
            lambda: next(
                (e for e in self.slack.ephemeral if e.user == user and pred(e.text)), None
            ),
            timeout=WAIT,
            what=f"an ephemeral message to {user}",
        )
        return found.text

    def exchanges_for(self, channel: str, ts: str) -> list[Exchange]:
        with Session(self.db) as session:
            stmt = select(Exchange).where(
                Exchange.platform == "slack",
                Exchange.chat_id == channel,
                col(Exchange.question_message_id) == ts,
            )
            return list(session.exec(stmt).all())


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings,
    slack: FakeSlack,
    tg: FakeTelegram | None = None,
    *,
    slack_desk: bool = True,
    telegram_desk: bool = False,
) -> AsyncIterator[Bot]:
    slack_settings = dataclasses.replace(
        settings.slack,
        api_base_url=slack.api_url,
        engineers_channel=DESK if slack_desk else None,
    )
    tg_settings = settings.telegram
    if tg is not None:
        tg_settings = dataclasses.replace(
            tg_settings,
            base_url=tg.base_url,
            base_file_url=tg.base_file_url,
            engineers_chat=TG_DESK if telegram_desk else None,
        )
    settings = dataclasses.replace(settings, slack=slack_settings, telegram=tg_settings)
    adapter = SlackAdapter(
        slack.bot_token,
        slack_settings,
        signing_secret=slack.signing_secret,
        logger=logging.getLogger("test.hisbot.slack"),
    )
    adapters: list[Any] = [adapter]
    if tg is not None:
        adapters.insert(0, TelegramAdapter(TG_TOKEN, tg_settings))
    db = make_engine(settings.storage_url)
    app = build_app(settings, Secrets.from_env({}), db=db, adapters=adapters)
    probe = Probe(app)
    watch_links(app)
    await app.start()
    try:
        yield Bot(app, slack, adapter, db, probe, tg)
    finally:
        await asyncio.wait_for(app.stop(), 30)


@pytest.fixture
async def bot(settings: Settings, slack: FakeSlack) -> AsyncIterator[Bot]:
    async with running_bot(settings, slack) as b:
        yield b


def ticket_number(text: str | None) -> str:
    m = TICKET_NO.search(text or "")
    assert m, f"no ticket number in {text!r}"
    return m.group(1)


def in_thread(ts: str, needle: str = "") -> Callable[[PostedMessage], bool]:
    """A bot post in the thread of ``ts`` whose blocks or fallback text contain ``needle``."""

    def pred(m: PostedMessage) -> bool:
        return m.thread_ts == ts and m.ts != ts and (needle in m.block_text or needle in m.text)

    pred.__name__ = f"in_thread({ts}, {needle!r})"
    return pred


def top_level(needle: str = "") -> Callable[[PostedMessage], bool]:
    def pred(m: PostedMessage) -> bool:
        return m.thread_ts is None and (needle in m.block_text or needle in m.text)

    pred.__name__ = f"top_level({needle!r})"
    return pred


def labels(message: PostedMessage) -> list[str]:
    return [a["text"]["text"] for a in message.actions]


# ------------------------------------------------------------------ the whole flow on Slack


async def test_question_answer_unsolved_ticket_claim_relay_resolve(bot: Bot) -> None:
    slack = bot.slack
    question = await bot.say(H1, NURSE, "yb结算报2304，总额和明细对不上")

    # the answer, in the question's thread, as Block Kit
    answer = await bot.post(in_thread(question["ts"]), H1)
    types = [b["type"] for b in answer.blocks or []]
    assert types[0] == "section" and types[-2:] == ["context", "actions"], types
    assert "【住院医保结算提示总额与明细合计不一致】" in answer.block_text
    assert "住院明细核对" in answer.block_text  # the article's steps
    assert "/kb/hb-002|住院医保结算提示总额与明细合计不一致>" in answer.block_text  # the link
    assert labels(answer) == ["已解决", "没解决，转工程师"]
    assert answer.params.get("unfurl_links") is False

    # "没解决" → ticket; hospital told in its thread; the card on the Slack desk
    await bot.press(H1, NURSE, answer, "没解决，转工程师")
    notice = await bot.post(in_thread(question["ts"], "工单"), H1)
    number = ticket_number(notice.text)
    # the answer keeps its steps and loses its buttons: it says where the question went
    await slack.wait_until(lambda: bool(answer.edits), timeout=WAIT)
    assert answer.action_ids == [] and f"已转工程师：工单 #{number}" in answer.block_text
    card = await bot.post(top_level(number), DESK)
    assert "第一人民医院" in card.block_text and "护士小张" in card.block_text
    assert "hb-002" in card.block_text  # the article already tried
    assert labels(card)[0] == "接单" and all(c.startswith("改为") for c in labels(card)[1:])

    # 接单 by 王工: ephemeral ack, the card updated in place (chat.update), hospital told
    await bot.press(DESK, WANG, card, "接单")
    assert number in await bot.ephemeral_to(WANG, lambda t: "已接单" in t)
    accepted = await bot.post(in_thread(question["ts"], "已受理"), H1)
    assert "王工" in accepted.text
    await slack.wait_until(lambda: card.edits and "已受理" in card.block_text, timeout=WAIT)
    assert [c.params["ts"] for c in slack.calls_to("chat.update")] == [answer.ts, card.ts]
    assert "受理：王工" in card.block_text and card.action_ids == []  # no button left
    assert bot.app.services.tickets.get(number).accepted_by == "e01"

    # the engineer writes in the card's thread → relayed into the hospital's thread
    await until_linked(bot.app, number, chat_id=DESK)
    eng_msg = await bot.say(DESK, WANG, "请问是哪个病人的结算？发下截图", thread_ts=card.ts)
    relayed = await bot.post(in_thread(question["ts"], "发下截图"), H1)
    assert "王工" in relayed.text and number in relayed.text

    # the nurse answers in her thread → relayed back into the card's thread
    nurse_msg = await bot.say(H1, NURSE, "是住院的，截图马上发", thread_ts=question["ts"])
    back = await bot.post(in_thread(card.ts, "截图马上发"), DESK)
    assert "第一人民医院" in back.text and "护士小张" in back.text
    texts = [m.text for m in bot.app.services.tickets.messages(number)]
    assert "请问是哪个病人的结算？发下截图" in texts and "是住院的，截图马上发" in texts
    for channel, ts in ((DESK, eng_msg["ts"]), (H1, nurse_msg["ts"])):
        await bot.probe.handled(channel, ts)

    # an unregistered Slack user cannot resolve; 王工 can, with /hisbot resolve
    await bot.command(DESK, OUTSIDER, f"resolve {number} 随便")
    assert "只有登记的工程师" in await bot.ephemeral_to(OUTSIDER, lambda t: True)
    await bot.command(DESK, WANG, f"resolve {number} 医保中心重新对总账后恢复")
    done = await bot.post(in_thread(question["ts"], "处理完成"), H1)
    assert "医保中心重新对总账后恢复" in done.text
    assert "已通知医院" in await bot.ephemeral_to(WANG, lambda t: "已解决" in t)
    await slack.wait_until(lambda: "状态：已解决" in card.block_text, timeout=WAIT)
    ticket = bot.app.services.tickets.get(number)
    assert ticket.status == "resolved" and ticket.resolution == "医保中心重新对总账后恢复"
    assert ticket.accepted_at is not None and ticket.completed_at is not None
    kinds = [e.kind for e in bot.app.services.tickets.events(number)]
    for kind in (
        "opened",
        "card_posted",
        "accepted",
        "relayed_to_hospital",
        "relayed_to_engineers",
        "resolved",
    ):
        assert kind in kinds
    # nothing went to the wrong place: every bot post in H1 is in the question's thread
    assert all(m.thread_ts == question["ts"] for m in slack.posted(H1))
    assert len(slack.posted(DESK)) == 2  # the card and the relayed hospital reply


async def test_solved_button_then_still_not_working_in_the_thread_escalates(bot: Bot) -> None:
    slack = bot.slack
    question = await bot.say(H1, NURSE, "入院时间录错了，床位费多算了一天")
    answer = await bot.post(in_thread(question["ts"]), H1)
    assert "/kb/hb-006" in answer.block_text
    await bot.press(H1, NURSE, answer, "已解决")
    assert "感谢反馈" in await bot.ephemeral_to(NURSE, lambda t: True)
    await slack.wait_until(lambda: "✅ 已解决" in answer.block_text, timeout=WAIT)
    assert answer.action_ids == [] and "/kb/hb-006" in answer.block_text

    # a Slack thread reply points at the thread's root (the question), not at the answer
    await bot.say(H1, NURSE, "按步骤改了还是不行", thread_ts=question["ts"])
    notice = await bot.post(in_thread(question["ts"], "工单"), H1)
    ticket = bot.app.services.tickets.get(ticket_number(notice.text))
    assert "床位费" in ticket.question and "还是不行" in ticket.question  # the whole thread
    assert [a.article_id for a in bot.app.services.tickets.articles(ticket.number)] == ["hb-006"]
    assert ticket.source_thread_id == question["ts"]
    await bot.post(top_level(ticket.number), DESK)


async def test_two_engineers_claim_at_once_one_wins(bot: Bot) -> None:
    slack = bot.slack
    await bot.say(H1, NURSE, "手术麻醉系统的排班表怎么导出到Excel？")
    card = await bot.post(top_level("手术麻醉"), DESK)
    number = ticket_number(card.text)
    await asyncio.gather(bot.press(DESK, WANG, card, "接单"), bot.press(DESK, LI, card, "接单"))
    acks = await slack.wait_until(
        lambda: slack.ephemeral if len(slack.ephemeral) >= 2 else None, timeout=WAIT
    )
    owner = bot.app.services.tickets.get(number).accepted_by
    assert owner in ("e01", "e02")
    winner, loser = (WANG, LI) if owner == "e01" else (LI, WANG)
    by_user = {e.user: e.text for e in acks}
    assert "已接单" in by_user[winner] and "已被" in by_user[loser]
    await bot.post(lambda m: "已受理" in m.text, H1)
    await slack.wait_until(lambda: "已受理" in card.block_text, timeout=WAIT)
    assert len([m for m in slack.posted(H1) if "已受理" in m.text]) == 1


# ------------------------------------------------------------------ Slack's delivery semantics


async def test_a_retried_event_gets_one_answer_and_one_exchange(bot: Bot) -> None:
    slack = bot.slack
    event = slack.message_event(H1, NURSE, "入院时间录错了，床位费多算了一天")
    first = await slack.deliver_event(bot.url, event)
    # Slack did not see our 200 in time and sends the same event again (same event_id)
    again = await slack.deliver_event(bot.url, event, retry_num=1)
    third = await slack.deliver_event(bot.url, event, retry_num=2, retry_reason="http_error")
    assert [first[0], again[0], third[0]] == [200, 200, 200]
    assert len({d.event_id for d in slack.deliveries}) == 1
    # a marker after the retries in the same channel: handled after them
    marker = await bot.say(H1, NURSE, "号源被锁了，一直显示已满")
    await bot.post(in_thread(marker["ts"]), H1)
    await bot.probe.handled(H1, marker["ts"])
    answers = [m for m in slack.posted(H1) if m.thread_ts == event["ts"]]
    assert len(answers) == 1 and "/kb/hb-006" in answers[0].block_text
    assert len(bot.exchanges_for(H1, event["ts"])) == 1
    assert sum(1 for m in bot.probe.done if m.message_id == event["ts"]) == 1


async def test_a_forged_request_is_rejected_and_never_reaches_the_core(bot: Bot) -> None:
    slack = bot.slack
    forged = slack.message_event(H1, NURSE, "全院所有电脑都报ORA-12541，登不上")
    status, _, _ = await slack.deliver_with_bad_signature(bot.url, forged)
    assert status == 401
    stale = slack.message_event(H1, NURSE, "全院都登不上了，收费处排长队")
    status2, _, _ = await slack.deliver_with_old_timestamp(bot.url, stale)
    assert status2 == 401
    marker = await bot.say(H1, NURSE, "入院时间录错了，床位费多算了一天")
    await bot.probe.handled(H1, marker["ts"])
    assert [m.message_id for m in bot.probe.done] == [marker["ts"]]
    assert bot.exchanges_for(H1, forged["ts"]) == [] and bot.exchanges_for(H1, stale["ts"]) == []
    assert bot.app.services.tickets.open_tickets() == []
    assert [m.thread_ts for m in slack.posted(H1)] == [marker["ts"]]


async def test_a_storm_of_429s_loses_nothing_and_duplicates_nothing(bot: Bot) -> None:
    slack = bot.slack
    slack.fail_ratio("chat.postMessage", 0.4, seed=7, retry_after=1)
    questions = [
        (H1, "yb结算报2304总额不一致"),
        (H1, "入院时间录错床位费多算"),
        (H1B, "号源被锁了显示已满"),
        (H1B, "电子票据开具失败提示401"),
        (H2, "打印机打摆药单全是乱码"),
        (H2, "LIS危急值医生站没有提示"),
        (H2, "手术麻醉系统的排班表怎么导出到Excel？"),  # out of the KB: notice + desk card
    ]
    events = [await bot.say(channel, CASHIER, text) for channel, text in questions]
    for event in events:
        await slack.wait_for_post(in_thread(event["ts"]), channel=event["channel"], timeout=30)
    card = await slack.wait_for_post(top_level("手术麻醉"), channel=DESK, timeout=30)
    throttled = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
    assert throttled, "the storm did not hit: nothing was retried"
    slack.clear_faults()
    # markers after the questions, one per channel: every question was handled before them
    for channel in (H1, H1B, H2):
        marker = await bot.say(channel, CASHIER, "大家早上好")  # chit-chat: no answer
        await bot.probe.handled(channel, marker["ts"])
    for event in events:
        replies = [m for m in slack.posted(event["channel"]) if m.thread_ts == event["ts"]]
        assert len(replies) == 1, (event["text"], replies)
    assert slack.posted(DESK) == [card]  # one card, once
    assert len(slack.posted()) == len(events) + 1  # nothing else, nothing twice
    ok = [c for c in slack.calls_to("chat.postMessage") if c.ok]
    assert len(ok) == len(events) + 1
    number = ticket_number(card.text)
    assert [t.number for t in bot.app.services.tickets.open_tickets()] == [number]
    assert bot.app.services.tickets.tickets_without_card_in("slack", DESK) == []


# ------------------------------------------------------------------ who sees what


async def test_hospital_member_lists_only_their_own_hospitals_tickets(bot: Bot) -> None:
    slack = bot.slack
    q1 = await bot.say(H1, NURSE, "全院所有电脑都报ORA-12541，登不上")
    q2 = await bot.say(H2, CASHIER, "数据库好像宕机了 啥都打不开 急急急")
    n1 = ticket_number((await bot.post(in_thread(q1["ts"], "工单"), H1)).text)
    n2 = ticket_number((await bot.post(in_thread(q2["ts"], "工单"), H2)).text)
    assert n1 != n2
    # h001's dedicated engineer is @-mentioned (by his Slack id) on its urgent card
    card1 = await bot.post(top_level(n1), DESK)
    assert f"<@{WANG}>" in card1.block_text and "P1" in card1.block_text

    await bot.command(H1, NURSE, "tickets")
    listing = await bot.ephemeral_to(NURSE, lambda t: "#" in t)
    assert n1 in listing and n2 not in listing and "数据库" not in listing
    await bot.command(H2, CASHIER, "tickets")
    other = await bot.ephemeral_to(CASHIER, lambda t: "#" in t)
    assert n2 in other and n1 not in other
    # another hospital's number reads as "not found", exactly like a wrong number
    await bot.command(H2, CASHIER, f"ticket {n1}")
    refusal = await bot.ephemeral_to(CASHIER, lambda t: "没有找到" in t)
    assert "ORA" not in refusal
    # the answers are ephemeral: nothing was posted in the channels for the commands; each
    # P1's thread has its notice and then the paging outcome (nobody is rostered here)
    await bot.post(in_thread(q1["ts"], "暂未联系上值班工程师"), H1)
    await bot.post(in_thread(q2["ts"], "暂未联系上值班工程师"), H2)
    assert [m.thread_ts for m in slack.posted(H1)] == [q1["ts"]] * 2
    assert [m.thread_ts for m in slack.posted(H2)] == [q2["ts"]] * 2


async def test_unregistered_channel_is_told_once_and_nothing_is_stored(bot: Bot) -> None:
    slack = bot.slack
    first = await bot.say(STRANGER, NURSE, "医保结算报错怎么办")
    second = await bot.say(STRANGER, NURSE, "有人吗？全院都登不上了")
    await bot.probe.handled(STRANGER, second["ts"])
    await bot.probe.handled(STRANGER, first["ts"])
    sent = slack.posted(STRANGER)
    assert len(sent) == 1 and "尚未登记" in sent[0].text
    assert bot.app.services.tickets.open_tickets() == []
    assert bot.exchanges_for(STRANGER, first["ts"]) == []
    assert bot.exchanges_for(STRANGER, second["ts"]) == []


# ------------------------------------------------------------------ across platforms


async def test_telegram_hospital_with_the_desk_on_slack(
    settings: Settings, slack: FakeSlack, tg: FakeTelegram
) -> None:
    async with running_bot(settings, slack, tg, slack_desk=True) as bot:
        question = tg.user_message(
            TG_H3, TG_NURSE, "yb结算报2304，总额和明细对不上", first_name="护士小陈"
        )
        answer = await tg.wait_for_sent(lambda m: m.chat_id == TG_H3, timeout=WAIT)
        assert answer.reply_to == question["message_id"]
        assert [b["text"] for b in answer.buttons] == ["已解决", "没解决，转工程师"]
        tg.callback_query(TG_H3, TG_NURSE, answer.message_id, answer.buttons[1]["callback_data"])
        notice = await tg.wait_for_sent(
            lambda m: m.chat_id == TG_H3 and "工单" in (m.text or ""), timeout=WAIT
        )
        number = ticket_number(notice.text)

        # the card is on the Slack desk; 王工 claims it with his Slack account
        card = await bot.post(top_level(number), DESK)
        assert "第三人民医院" in card.block_text and labels(card)[0] == "接单"
        await bot.press(DESK, WANG, card, "接单")
        accepted = await tg.wait_for_sent(
            lambda m: m.chat_id == TG_H3 and "已受理" in (m.text or ""), timeout=WAIT
        )
        assert "王工" in (accepted.text or "")
        await slack.wait_until(lambda: "已受理" in card.block_text, timeout=WAIT)
        # one engineer record for both accounts: the Slack claim is e01, e01 is TG 5001 too
        registry = bot.app.services.registry
        assert bot.app.services.tickets.get(number).accepted_by == "e01"
        assert registry.engineer_for_user("slack", WANG).id == "e01"  # type: ignore[union-attr]
        assert registry.engineer_for_user("telegram", TG_WANG).id == "e01"  # type: ignore[union-attr]
        assert [e.id for e in registry.list_engineers()] == ["e01", "e02"]

        # relay both ways: Slack thread → Telegram reply, Telegram reply → Slack thread
        await until_linked(bot.app, number, chat_id=DESK)
        await bot.say(DESK, WANG, "请把报错截图发一下", thread_ts=card.ts)
        relayed = await tg.wait_for_sent(
            lambda m: m.chat_id == TG_H3 and "报错截图" in (m.text or ""), timeout=WAIT
        )
        assert relayed.reply_to == question["message_id"]
        await until_linked(bot.app, "报错截图", chat_id=str(TG_H3))
        tg.user_message(
            TG_H3, TG_NURSE, "截图如下，是住院处", reply_to_message_id=relayed.message_id
        )
        back = await bot.post(in_thread(card.ts, "截图如下"), DESK)
        assert "第三人民医院" in back.text

        # resolved with the Slack slash command → the hospital is told on Telegram
        await bot.command(DESK, WANG, f"resolve {number} 重新上传明细后结算成功")
        done = await tg.wait_for_sent(
            lambda m: m.chat_id == TG_H3 and "处理完成" in (m.text or ""), timeout=WAIT
        )
        assert "重新上传明细后结算成功" in (done.text or "")
        assert done.reply_to == question["message_id"]
        assert bot.app.services.tickets.get(number).status == "resolved"
        assert tg.sent_messages(TG_DESK) == []  # no Telegram desk configured


async def test_slack_hospital_with_the_desk_on_telegram(
    settings: Settings, slack: FakeSlack, tg: FakeTelegram
) -> None:
    async with running_bot(settings, slack, tg, slack_desk=False, telegram_desk=True) as bot:
        question = await bot.say(H1, NURSE, "yb结算报2304，总额和明细对不上")
        answer = await bot.post(in_thread(question["ts"]), H1)
        await bot.press(H1, NURSE, answer, "没解决，转工程师")
        notice = await bot.post(in_thread(question["ts"], "工单"), H1)
        number = ticket_number(notice.text)

        # the card is on the Telegram desk; 王工 claims it there
        card = await tg.wait_for_sent(lambda m: m.chat_id == TG_DESK, timeout=WAIT)
        assert number in (card.text or "") and "第一人民医院" in (card.text or "")
        assert card.buttons[0]["text"] == "接单"
        tg.callback_query(TG_DESK, TG_WANG, card.message_id, card.buttons[0]["callback_data"])
        accepted = await bot.post(in_thread(question["ts"], "已受理"), H1)
        assert "王工" in accepted.text
        await tg.wait_until(lambda: any("已受理" in (e.get("text") or "") for e in card.edits))
        assert bot.app.services.tickets.get(number).accepted_by == "e01"

        # relay both ways: Telegram reply → Slack thread, Slack thread → Telegram reply
        await until_linked(bot.app, number, chat_id=str(TG_DESK))
        tg.user_message(
            TG_DESK, TG_WANG, "请问是哪个病人？发下截图", reply_to_message_id=card.message_id
        )
        relayed = await bot.post(in_thread(question["ts"], "发下截图"), H1)
        assert "王工" in relayed.text
        await bot.say(H1, NURSE, "住院的，截图马上发", thread_ts=question["ts"])
        back = await tg.wait_for_sent(
            lambda m: m.chat_id == TG_DESK and "截图马上发" in (m.text or ""), timeout=WAIT
        )
        assert back.reply_to == card.message_id

        tg.user_message(TG_DESK, TG_WANG, f"/resolve {number} 医保中心重新对总账后恢复")
        done = await bot.post(in_thread(question["ts"], "处理完成"), H1)
        assert "医保中心重新对总账后恢复" in done.text
        assert bot.app.services.tickets.get(number).status == "resolved"
        assert slack.posted(DESK) == []  # no Slack desk configured


async def test_desks_on_both_platforms_show_the_same_ticket(
    settings: Settings, slack: FakeSlack, tg: FakeTelegram
) -> None:
    async with running_bot(settings, slack, tg, slack_desk=True, telegram_desk=True) as bot:
        question = await bot.say(H1, NURSE, "手术麻醉系统的排班表怎么导出到Excel？")
        notice = await bot.post(in_thread(question["ts"], "工单"), H1)
        number = ticket_number(notice.text)
        slack_card = await bot.post(top_level(number), DESK)
        tg_card = await tg.wait_for_sent(lambda m: m.chat_id == TG_DESK, timeout=WAIT)
        assert number in (tg_card.text or "")

        await bot.press(DESK, WANG, slack_card, "接单")
        # the hospital is told after the cards were re-rendered (Desk.on_button): by then
        # every card edit has been answered by its platform
        await bot.post(in_thread(question["ts"], "已受理"), H1)
        assert "已受理" in slack_card.block_text
        # the Telegram card shows the claim too, and nobody can press its 接单 any more
        assert any("已受理" in (e.get("text") or "") for e in tg_card.edits), tg_card
        assert tg_card.buttons == []
        # the hospital's reply reaches each desk under that desk's card
        await bot.say(H1, NURSE, "截图马上发", thread_ts=question["ts"])
        await bot.post(in_thread(slack_card.ts, "截图马上发"), DESK)
        relayed = await tg.wait_for_sent(
            lambda m: m.chat_id == TG_DESK and "截图马上发" in (m.text or ""), timeout=WAIT
        )
        assert relayed.reply_to == tg_card.message_id
