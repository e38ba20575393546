"""The service workflows in chat, through the whole bot (``build_app``) with a recording
adapter on the Telegram platform: desk commands, hospital commands, and the 同意 / 拒绝 /
撤销 / 确认 buttons — pressed by an admin and by someone who is not one."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.base import (
    ButtonPress,
    ChatRef,
    CoreHandlers,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from bot.app import App, build_app
from bot.desk.cards import card_reply
from bot.infra.config import Secrets
from bot.infra.db import make_engine
from bot.registry.specs import EngineerSpec, HospitalSpec
from bot.routing import ActionCodec
from bot.tickets.models import Ticket
from bot.workflows.actions import Verb, WorkflowAction
from bot.workflows.expiry import GrantExpiry
from tests.web.conftest import ConsoleClock, web_settings

HOSPITAL, DESK = "-1001001", "-1009000"
ENGINEER, ADMIN, NURSE = "5001", "7001", "7002"


@dataclass
class Recorder:
    """A Telegram-platform adapter that records what the bot sends, edits and answers."""

    platform: str = "telegram"
    sent: list[tuple[MessageRef, Reply]] = field(default_factory=list)
    edits: list[tuple[MessageRef, Reply]] = field(default_factory=list)
    toasts: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500))

    async def start(self, handlers: CoreHandlers) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, reply: Reply) -> MessageRef:
        ref = MessageRef(self.platform, reply.chat.chat_id, str(next(self._ids)))
        self.sent.append((ref, reply))
        return ref

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        self.edits.append((message, reply))

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        self.toasts.append(text)

    def last_to(self, chat_id: str) -> tuple[MessageRef, Reply]:
        return [s for s in self.sent if s[0].chat_id == chat_id][-1]


@dataclass
class ChatEnv:
    app: App
    out: Recorder
    ticket: Ticket
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def say(self, chat_id: str, user: str, text: str) -> str:
        """Send ``text`` from ``user`` and return what the bot answered in that chat."""
        before = len(self.out.sent)
        msg = IncomingMessage(
            chat=ChatRef("telegram", chat_id),
            message_id=str(next(self._ids)),
            sender=Sender(user, f"user {user}"),
            text=text,
            sent_at=dt.datetime.now(dt.UTC),
        )
        await self.app.pipeline.on_message(msg)
        replies = [r.text for ref, r in self.out.sent[before:] if ref.chat_id == chat_id]
        return "\n".join(replies)

    async def press(self, message: MessageRef, action: str, user: str) -> str:
        await self.app.pipeline.on_button(
            ButtonPress(message=message, sender=Sender(user, f"user {user}"), action=action)
        )
        return self.out.toasts[-1]


@pytest.fixture
def extra_config() -> str:
    return f"[telegram]\nengineers_chat = {DESK}\n"


@pytest.fixture
def clock() -> ConsoleClock:
    return ConsoleClock()


@pytest.fixture
async def chat(
    tmp_path: Path, index_dir: Path, extra_config: str, clock: ConsoleClock
) -> AsyncIterator[ChatEnv]:
    settings = web_settings(tmp_path, index_dir, extra_config)
    out = Recorder()
    db = make_engine(settings.storage_url)
    app = build_app(settings, Secrets.from_env({}), db=db, adapters=[out], clock=clock)
    registry = app.services.registry
    registry.add_identity("telegram", ENGINEER, "e01")
    registry.set_admin("h001", "telegram", ADMIN)
    yield ChatEnv(app, out, claimed_group_ticket(app))


def claimed_group_ticket(app: App) -> Ticket:
    """A ticket opened in h001's Telegram group (its thread is there), claimed by e01."""
    app.services.registry.add_chat("telegram", HOSPITAL, "h001")
    ticket = app.services.tickets.open_ticket(
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id=NURSE,
        reporter_name="收费处",
        source_platform="telegram",
        source_chat_id=HOSPITAL,
        source_message_id="77",
        question="发票打印机脱机",
        category="usage",
    )
    return app.services.tickets.claim(ticket.number, "e01")


def buttons(reply: Reply) -> dict[str, str]:
    return {b.label: b.action for row in reply.buttons for b in row}


async def test_remote_consent_in_chat(chat: ChatEnv) -> None:
    no = chat.ticket.number
    assert "只有" in await chat.say(DESK, NURSE, f"/remote {no} 向日葵 30 查看驱动")
    answer = await chat.say(DESK, ENGINEER, f"/remote {no} 向日葵 30 查看打印机驱动")
    assert "等待医院管理员同意" in answer
    ref, ask = chat.out.last_to(HOSPITAL)
    assert ask.reply_to == "77" and "查看打印机驱动" in ask.text and "30 分钟" in ask.text
    choices = buttons(ask)
    assert set(choices) == {"同意", "拒绝"}
    grant_id = _decode(choices["同意"]).target  # type: ignore[union-attr]

    assert "管理员" in await chat.press(ref, choices["同意"], NURSE)
    assert chat.app.services.workflows.remote.get(grant_id).status == "requested"  # type: ignore[union-attr]
    assert "不能" not in await chat.say(DESK, ENGINEER, f"/level {no} phone")
    assert "远程授权" in await chat.say(DESK, ENGINEER, f"/level {no} remote")

    assert await chat.press(ref, choices["同意"], ADMIN) == "已同意。"
    edited = chat.out.edits[-1][1]
    assert "有效至" in edited.text and _decode(buttons(edited)["撤销授权"]).verb is Verb.REVOKE  # type: ignore[union-attr]
    assert "医院已同意" in chat.out.last_to(DESK)[1].text
    assert "远程" in await chat.say(DESK, ENGINEER, f"/level {no} remote")

    assert "管理员" in await chat.say(HOSPITAL, NURSE, "/revoke")
    assert "已撤销 1 项" in await chat.say(HOSPITAL, ADMIN, "/revoke")
    assert "没有有效" in await chat.say(HOSPITAL, ADMIN, "/revoke")
    assert "远程授权" in await chat.say(DESK, ENGINEER, f"/level {no} remote")
    kinds = [e.kind for e in chat.app.services.tickets.events(no)]
    assert kinds.count("remote_granted") == 1 and "remote_revoked" in kinds


async def test_a_grant_that_ran_out_is_announced_once_to_the_hospital_and_the_desks(
    chat: ChatEnv, clock: ConsoleClock
) -> None:
    no, expiry = chat.ticket.number, chat.app.grant_expiry
    assert expiry is not None

    async def granted(purpose: str) -> tuple[MessageRef, Reply]:
        await chat.say(DESK, ENGINEER, f"/remote {no} 向日葵 30 {purpose}")
        ref, ask = chat.out.last_to(HOSPITAL)
        assert await chat.press(ref, buttons(ask)["同意"], ADMIN) == "已同意。"
        return ref, chat.out.edits[-1][1]

    clock.fixed = dt.datetime(2026, 12, 5, 2, 0, tzinfo=dt.UTC)
    await granted("查看驱动")  # ends 02:30 UTC on the 5th
    clock.fixed = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    assert await expiry.announce() == 0  # it ran out two days ago: too late to be news
    await granted("重装打印服务")  # grant 2, ends 02:30 UTC (10:30 in Beijing)
    ref, consent = await granted("再看一眼")  # grant 3, taken back before its end
    assert await chat.press(ref, buttons(consent)["撤销授权"], ADMIN) == "已撤销远程授权。"
    clock.fixed += dt.timedelta(minutes=29)
    assert await expiry.announce() == 0  # still live
    clock.fixed += dt.timedelta(minutes=2)
    before = len(chat.out.sent)
    assert await expiry.announce() == 2
    told = {ref.chat_id: reply for ref, reply in chat.out.sent[before:]}
    hospital, desk = told[HOSPITAL], told[DESK]
    assert hospital.reply_to == "77"  # in the ticket's thread
    assert "远程协助授权（向日葵）已于 2026-12-07 10:30 到期" in hospital.text
    assert "远程授权 2（向日葵）" in desk.text and "请结束远程会话" in desk.text
    sent = len(chat.out.sent)
    assert await expiry.announce() == 2  # the same two, already out:
    assert len(chat.out.sent) == sent  # told once, however often it looks
    again = GrantExpiry(  # after a restart the job remembers nothing: the outbox's keys hold
        db=chat.app.services.db, messenger=chat.app.services.messenger,
        desk_chats=chat.app.services.settings.desk_chats, clock=clock, zone=ZoneInfo("Asia/Shanghai"),
    )  # fmt: skip
    assert await again.announce() == 2
    assert len(chat.out.sent) == sent


async def test_a_visit_in_chat(chat: ChatEnv) -> None:
    no = chat.ticket.number
    assert "现场服务 1 已安排" in await chat.say(
        DESK, ENGINEER, f"/visit {no} e02 2026-03-03 09:00"
    )
    plan = chat.out.last_to(HOSPITAL)[1].text
    assert "李工" in plan and "2026-03-03 09:00" in plan
    assert "到场记录" in await chat.say(DESK, ENGINEER, "/depart 1")
    assert "用法" in await chat.say(DESK, ENGINEER, "/arrive 99999999999999999999")
    assert "没有现场服务 7" in await chat.say(DESK, ENGINEER, "/arrive 7")
    assert "无法识别" in await chat.say(DESK, ENGINEER, f"/visit {no} e02 tomorrow")
    await chat.say(DESK, ENGINEER, "/arrive 1")
    await chat.say(DESK, ENGINEER, "/depart 1")
    ref, ask = chat.out.last_to(HOSPITAL)
    confirm = buttons(ask)["确认现场服务"]
    assert "管理员" in await chat.press(ref, confirm, NURSE)
    assert chat.app.services.workflows.visits.get(1).is_open  # type: ignore[union-attr]
    assert await chat.press(ref, confirm, ADMIN) == "已确认，感谢。"
    assert not chat.app.services.workflows.visits.get(1).is_open  # type: ignore[union-attr]
    assert "已经确认" in await chat.press(ref, confirm, ADMIN)


async def test_upgrades_calls_and_the_team_in_chat(chat: ChatEnv) -> None:
    assert "升级 #1 已登记" in await chat.say(DESK, ENGINEER, "/upgrade start h001 HIS 5.3")
    assert "下一步是「搭建测试环境」" in await chat.say(DESK, ENGINEER, "/upgrade 1 production")
    line = await chat.say(DESK, ENGINEER, "/upgrade 1 test_env 2026-03-02 测试库已恢复")
    assert "搭建测试环境" in line and "下一步：模拟升级与测试" in line
    assert "升级 #1" in await chat.say(DESK, ENGINEER, "/upgrades")
    answer = await chat.say(DESK, ENGINEER, "/call h001 门诊挂号系统无法登录")
    number = answer.split("#")[1].split()[0]
    call = chat.app.services.tickets.get(number)
    assert call.source_platform == "phone" and call.accepted_by == "e01"
    assert chat.app.services.workflows.remote.level(number) == "phone"  # type: ignore[union-attr]
    team = await chat.say(HOSPITAL, NURSE, "/engineer")
    assert "专属工程师 王工" in team and "副工程师 未指定" in team
    # a stale or forged button is refused, nothing changes
    assert "失效" in await chat.press(MessageRef("telegram", "-555", "1"), "wf:grant:1", ADMIN)


async def test_the_dedicated_engineer_and_deputy(chat: ChatEnv) -> None:
    registry, tickets = chat.app.services.registry, chat.app.services.tickets
    engineers = [EngineerSpec("e01", "王工", ("engineer", "lead")), EngineerSpec("e02", "李工")]
    spec = HospitalSpec("h001", "第一人民医院", dedicated_engineer="e01", deputy_engineer="e02")
    registry.sync_from_config([spec], engineers)
    registry.add_identity("telegram", "5002", "e02")
    team = await chat.say(HOSPITAL, NURSE, "/engineer")
    assert "专属工程师 王工" in team and "副工程师 李工" in team
    urgent = tickets.open_ticket(
        hospital_id="h001", reporter_platform="telegram", reporter_user_id=NURSE,
        reporter_name="急诊", source_platform="telegram", source_chat_id=HOSPITAL,
        source_message_id="78", question="急诊挂号全部无法登录", category="usage", urgency="P1",
    )  # fmt: skip
    card = card_reply(chat.app.services, urgent, ChatRef("telegram", DESK))
    assert card.mention_user_ids == (ENGINEER, "5002")
    # /assign without an engineer: the dedicated engineer assigning hands it to the deputy
    assert "李工" in await chat.say(DESK, ENGINEER, f"/assign {urgent.number}")
    assert tickets.get(urgent.number).accepted_by == "e02"


def _decode(data: str) -> WorkflowAction | None:
    action = ActionCodec([WorkflowAction]).decode(data)
    return action if isinstance(action, WorkflowAction) else None
