"""The core's durable inbox alone (``bot.inbox``): storing, lanes, replay and retries, with a
recording core in place of the pipeline and a real SQLite database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from adapters.base import (
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    CoreHandlers,
    IncomingMessage,
    MessageRef,
    Sender,
)
from bot.inbox import Inbox, InboxState, InboxStore
from bot.inbox.codec import decode, encode, kind_of
from bot.inbox.scope import SendDeferred, replaying
from bot.infra.db import make_engine
from bot.infra.gateway import Database

DESK = ChatRef("telegram", "-900")
NURSE = Sender("7001", "护士小张")


def message(chat: str, n: int, text: str = "") -> IncomingMessage:
    return IncomingMessage(
        chat=ChatRef("telegram", chat),
        message_id=str(n),
        sender=NURSE,
        text=text or f"{chat}-{n}",
        sent_at=dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC),
    )


class Core:
    """Records what it handles; a text in ``gates`` waits; ``fail`` maps text → exception
    raised that many times (a list, consumed)."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.replays: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.fail: dict[str, list[BaseException]] = {}

    async def on_message(self, msg: IncomingMessage) -> None:
        if replaying():
            self.replays.append(msg.text)
        if msg.text in self.gates:
            await self.gates[msg.text].wait()
        errors = self.fail.get(msg.text)
        if errors:
            raise errors.pop(0)
        self.handled.append(msg.text)

    async def on_button(self, press: ButtonPress) -> None:
        self.handled.append(press.action)

    async def on_chat_event(self, event: ChatEvent) -> None:
        self.handled.append(event.kind.value)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'bot.db'}")


def make_inbox(engine: Engine, core: Core, told: list[ChatRef] | None = None) -> Inbox:
    async def tell(chat: ChatRef) -> None:
        (told if told is not None else []).append(chat)

    return Inbox(
        Database(engine),
        InboxStore(engine),
        CoreHandlers(core.on_message, core.on_button, core.on_chat_event),
        is_desk=lambda chat: chat.chat_id == DESK.chat_id,
        incoming=lambda m: m,
        tell_delayed=tell,
        concurrency=1,  # one hospital chat at a time: the desk must still get through
        desk_concurrency=1,
        retry_delays=(0.0,),
    )


@pytest.fixture
async def core_and_inbox(engine: Engine) -> AsyncIterator[tuple[Core, Inbox]]:
    core = Core()
    inbox = make_inbox(engine, core)
    await inbox.start()
    yield core, inbox
    await inbox.stop(0)


def states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT state FROM inbox_event ORDER BY id"))]


def test_events_survive_encoding() -> None:
    press = ButtonPress(MessageRef("slack", "C1", "1.2"), NURSE, "no:3", "trig", "1.1")
    event = ChatEvent(ChatEventKind.MIGRATED, ChatRef("telegram", "-1"), new_chat_id="-100")
    for original in (message("-1", 1), press, event):
        assert decode(kind_of(original), encode(original)) == original


async def test_one_chat_in_order_others_and_the_desk_not_held_up(
    engine: Engine, core_and_inbox: tuple[Core, Inbox]
) -> None:
    core, inbox = core_and_inbox
    core.gates["a1"] = gate = asyncio.Event()
    for n, text_ in enumerate(("a1", "a2", "a3")):
        await inbox.put(message("-1", n, text_))
    await inbox.put(message(DESK.chat_id, 1, "接单"))
    async with asyncio.timeout(5):  # the desk has its own lanes: not behind a1
        while "接单" not in core.handled:
            await asyncio.sleep(0)
    assert core.handled == ["接单"]
    gate.set()
    await inbox.drained()
    assert core.handled == ["接单", "a1", "a2", "a3"]
    assert states(engine) == [InboxState.DONE] * 4


async def test_a_redelivered_event_is_stored_and_handled_once(
    engine: Engine, core_and_inbox: tuple[Core, Inbox]
) -> None:
    core, inbox = core_and_inbox
    for _ in range(3):
        await inbox.put(message("-1", 7))
    await inbox.drained()
    await inbox.put(message("-1", 7))  # even after it was handled
    await inbox.drained()
    assert core.handled == ["-1-7"] and len(states(engine)) == 1


async def test_database_errors_are_retried_in_place_other_errors_mark_the_event_failed(
    engine: Engine, core_and_inbox: tuple[Core, Inbox]
) -> None:
    from sqlalchemy.exc import OperationalError

    core, inbox = core_and_inbox
    core.fail["x"] = [OperationalError("UPDATE", {}, Exception("gone")), SendDeferred("429")]
    core.fail["bad"] = [RuntimeError("a bug")]
    await inbox.put(message("-1", 1, "x"))
    await inbox.put(message("-1", 2, "bad"))
    await inbox.put(message("-1", 3, "after"))
    await inbox.drained()
    assert core.handled == ["x", "after"]
    assert core.replays == ["x", "x"]  # the retries know they are replays
    assert states(engine) == [InboxState.DONE, InboxState.FAILED, InboxState.DONE]


async def test_what_a_crash_left_is_replayed_at_start_before_new_events(engine: Engine) -> None:
    core = Core()
    inbox = make_inbox(engine, core)
    await inbox.start()
    core.gates["stuck"] = asyncio.Event()
    await inbox.put(message("-1", 1, "stuck"))
    await inbox.put(message("-1", 2, "queued"))
    await inbox.stop(0)  # the crash: both stored, neither handled
    assert core.handled == [] and states(engine) == [InboxState.PENDING] * 2

    core = Core()
    again = make_inbox(engine, core)
    assert await again.start() == 2
    await again.put(message("-1", 3, "new"))
    await again.drained()
    assert core.handled == ["stuck", "queued", "new"]
    assert core.replays == ["stuck", "queued"]
    await again.stop(0)


async def test_unstorable_events_raise_and_the_chat_is_told_once(engine: Engine) -> None:
    from adapters.base import InboxUnavailable

    core, told = Core(), []
    inbox = make_inbox(engine, core, told)
    engine.dispose()
    with engine.begin() as conn:  # the database refuses writes (e.g. the disk is full)
        conn.execute(text("DROP TABLE inbox_event"))
    for n in range(3):
        with pytest.raises(InboxUnavailable):
            await inbox.put(message("-1", n))
    assert told == [ChatRef("telegram", "-1")]
