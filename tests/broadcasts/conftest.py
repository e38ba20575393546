"""Fixtures for broadcasts: a registry of four hospitals, a clock that moves only when told,
and a transport that records what would have been sent (and can fail or "crash" on cue)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine

from adapters.base import (
    ButtonPress,
    ChatRef,
    DeliveryError,
    MessageRef,
    OnRelease,
    Reply,
    Sender,
)
from bot.broadcasts import (
    Actor,
    Broadcasts,
    BroadcastSettings,
    BroadcastStore,
    NoticeDraft,
    NoticeKind,
    Targets,
)
from bot.infra.db import make_engine
from bot.registry import RegistryStore
from bot.routing import Router

#: 10:00 in Shanghai: outside quiet hours.
START = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
DESK = ChatRef("telegram", "-1009000")
BROADCASTER = Actor.cli("e05")
#: Telegram accounts: e05 (broadcaster), e01 (engineer only), a hospital nurse.
E05_USER, E01_USER, NURSE = "5005", "5001", "7001"


class FakeClock:
    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now

    def set_local(self, text: str) -> dt.datetime:
        """Move to a Shanghai wall-clock time, like "2026-03-02 23:00"."""
        self.now = dt.datetime.fromisoformat(text).replace(
            tzinfo=dt.timezone(dt.timedelta(hours=8))
        )
        self.now = self.now.astimezone(dt.UTC)
        return self.now


class SimulatedCrash(BaseException):
    """The process dies here: nothing after this point runs (not even ``except Exception``)."""


async def settle() -> None:
    """After a ``SimulatedCrash``: let the "dead" process's other deliveries, already under way
    on their own tasks, finish (they completed before the kill), so the restart that follows
    sees one deterministic state rather than racing their database writes."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await asyncio.gather(*others, return_exceptions=True)


@dataclass
class Sent:
    reply: Reply
    ref: MessageRef


@dataclass
class FakeTransport:
    """Records deliveries; ``fail[chat_id]`` is a list of errors to raise, in order;
    ``crash_after``: chat ids where the process "dies" once the platform accepted the
    message; ``crash_before``: where it dies while the message waits in the adapter's rate
    limiter (it says when a send leaves, as the real adapters do: ``ReleasesSends``)."""

    sent: list[Sent] = field(default_factory=list)
    edits: list[tuple[MessageRef, Reply]] = field(default_factory=list)
    toasts: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, list[DeliveryError]] = field(default_factory=dict)
    crash_after: set[str] = field(default_factory=set)
    crash_before: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def sender(self, chat: ChatRef) -> FakeTransport:
        return self

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        if reply.chat.chat_id in self.crash_before:
            raise SimulatedCrash(reply.chat.chat_id)  # still in the limiter
        await on_release()
        return await self.deliver(reply)

    async def send(self, reply: Reply) -> MessageRef:
        return await self.send_released(reply, _nothing)

    async def deliver(self, reply: Reply) -> MessageRef:
        chat = reply.chat.chat_id
        errors = self.fail.get(chat)
        if errors:
            raise errors.pop(0)
        ref = MessageRef(reply.chat.platform, chat, str(next(self._ids)))
        self.sent.append(Sent(reply, ref))
        if chat in self.crash_after:
            raise SimulatedCrash(chat)
        return ref

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        self.edits.append((message, reply))

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        self.toasts.append((press.action, text))

    def to(self, chat_id: str) -> list[Sent]:
        return [s for s in self.sent if s.ref.chat_id == chat_id]

    def chats(self) -> list[str]:
        return [s.ref.chat_id for s in self.sent if s.ref.chat_id != DESK.chat_id]


async def _nothing() -> None:
    return None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'hisbot.db'}")


@pytest.fixture
def registry(engine: Engine) -> RegistryStore:
    reg = RegistryStore(engine)
    reg.add_engineer("e05", "通知员", ["broadcaster"])
    reg.add_engineer("e01", "张工", ["engineer"])
    reg.add_engineer("e02", "李组长", ["engineer", "lead", "broadcaster"])
    reg.add_identity("telegram", E05_USER, "e05")
    reg.add_identity("telegram", E01_USER, "e01")
    reg.add_hospital("h001", "市第一人民医院", "华东", "5.2.1", ["门诊", "住院"])
    reg.add_hospital("h002", "县中医院", "华南", "4.8", ["门诊"])
    reg.add_hospital("h003", "妇幼保健院", "华东", "5.2.3", ["住院", "LIS"])
    reg.add_hospital("h004", "骨科医院", "华北", "5.3.0", ["PACS"])
    reg.add_chat("telegram", "-1001001", "h001", "一院信息科")
    reg.add_chat("slack", "C001", "h001", "一院")
    reg.add_chat("telegram", "-1001002", "h002", "县中医院")
    reg.add_chat("telegram", "-1001003", "h003", "妇幼")
    reg.add_chat("telegram", "-1001013", "h003", "妇幼旧群")
    reg.deactivate_chat("telegram", "-1001013", "bot_removed")
    return reg


@pytest.fixture
def settings() -> BroadcastSettings:
    return BroadcastSettings(
        telegram_per_second=1000.0,
        slack_per_second=1000.0,
        telegram_chat_interval=0.0,
        slack_chat_interval=0.0,
        retry_delays=("30s", "2m"),
    )


@pytest.fixture
def store(
    engine: Engine, registry: RegistryStore, clock: FakeClock, settings: BroadcastSettings
) -> BroadcastStore:
    return BroadcastStore(engine, registry, clock, settings)


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def make_broadcasts(
    engine: Engine, registry: RegistryStore, clock: FakeClock, transport: FakeTransport
) -> Callable[..., Broadcasts]:
    """A fresh ``Broadcasts`` (a "process") on the same database: restarts are new ones."""

    def make(settings: BroadcastSettings | None = None, **kw: object) -> Broadcasts:
        s = settings or BroadcastSettings(
            telegram_per_second=1000.0,
            slack_per_second=1000.0,
            telegram_chat_interval=0.0,
            slack_chat_interval=0.0,
            retry_delays=("30s", "2m"),
        )
        store = BroadcastStore(engine, registry, clock, s)
        return Broadcasts(store, transport, (DESK,), **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def bc(make_broadcasts: Callable[..., Broadcasts], settings: BroadcastSettings) -> Broadcasts:
    return make_broadcasts(settings)


def patch_draft(targets: Targets | None = None, **kw: object) -> NoticeDraft:
    values: dict[str, object] = {
        "product": "HIS",
        "module": "住院",
        "version": "5.2.4",
        "body": "住院结算偶发 2304 错误",
        "download_url": "https://dl.example.com/his-5.2.4.zip",
        "checksum": "sha256:0f3c",
        "action": "下班后停止住院服务并运行升级程序",
        "deadline": START + dt.timedelta(days=7),
    }
    values.update(kw)
    return NoticeDraft(NoticeKind.PATCH, targets or Targets(everyone=True), **values)  # type: ignore[arg-type]


def upgrade_draft(start: dt.datetime, **kw: object) -> NoticeDraft:
    values: dict[str, object] = {
        "window_start": start,
        "window_end": start + dt.timedelta(hours=4),
        "modules": ("门诊", "住院"),
        "services": ("医保接口",),
        "action": "提前结算在院病人",
    }
    values.update(kw)
    return NoticeDraft(NoticeKind.UPGRADE, Targets(everyone=True), **values)  # type: ignore[arg-type]


async def send_now(bc: Broadcasts, notice_id: int, at: dt.datetime | None = None) -> None:
    """Test copy, confirm (now or at ``at``), and one round of the worker."""
    assert await bc.broadcaster.send_test(notice_id, BROADCASTER) == "sent"
    bc.store.confirm(notice_id, BROADCASTER, at)
    await bc.broadcaster.process_once()


def press(
    chat_id: str, message_id: str, action: str, user: str = NURSE, name: str = "护士小王"
) -> ButtonPress:
    platform = "slack" if chat_id.startswith("C") else "telegram"
    return ButtonPress(MessageRef(platform, chat_id, message_id), Sender(user, name), action, "q1")


HOSPITAL_CHATS = ["-1001001", "C001", "-1001002", "-1001003"]


async def pressed(bc: Broadcasts, press: ButtonPress) -> bool:
    """Route a press as the bot does, through a router holding broadcasts' actions; False
    when the button is none of theirs."""
    router = Router()
    bc.register(router)
    return await router.press(press)
