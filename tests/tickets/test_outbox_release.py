"""A keyed send is marked ``sending`` only when the adapter's rate limiter lets it go
(``adapters.base.ReleasesSends``): the real Telegram adapter (PTB) against the fake Bot API,
the real outbox on SQLite (and PostgreSQL when configured). A crash is the sending task
cancelled where it stands and a new claimant (the restarted process) on the same database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from adapters.base import ChatRef, MessageRef, Reply
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSettings
from bot.inbox import OutboxState, OutboxStore
from bot.inbox.models import OutboxMessage
from bot.inbox.sending import KeyedSender, Outcome
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from tests.contract.core import RecordingCore
from tests.fakes.telegram_api import FakeTelegram, Held

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

TOKEN = "123456:TEST-token_abc"
GROUP = -1001234567890
CHAT = ChatRef("telegram", str(GROUP))
KEY = "telegram:m:-1001234567890:7#1"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_chat(GROUP, title="门诊信息科")
        yield fake


@contextlib.asynccontextmanager
async def running(tg: FakeTelegram, burst: int = 1) -> AsyncIterator[TelegramAdapter]:
    """One process's adapter: a group may post ``burst`` messages a minute, at once, so the
    next waits most of a minute in the rate limiter — longer than any test looks."""
    settings = TelegramSettings(
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        poll_timeout=1,
        network_backoff=0.01,
        group_per_minute=burst,
        group_burst=burst,
    )
    adapter = TelegramAdapter(tg.token, settings, logging.getLogger("test.outbox_release"))
    await adapter.start(RecordingCore().handlers())
    try:
        yield adapter
    finally:
        await adapter.stop()


def messenger(db: Database, outbox: OutboxStore, adapter: TelegramAdapter) -> Messenger:
    sender = Messenger(db, outbox)
    sender.register(adapter)
    return sender


async def row(db: Database, key: str) -> OutboxMessage | None:
    def read() -> OutboxMessage | None:
        with Session(db.engine) as session:
            return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()

    return await db.read(read)


async def state(db: Database, key: str) -> tuple[str, str | None] | None:
    """The outbox row's (state, message id); None: no row."""
    found = await row(db, key)
    return None if found is None else (found.state, found.message_id)


def texts(tg: FakeTelegram) -> list[str | None]:
    return [m.text for m in tg.sent_messages(GROUP)]


async def handed_to_adapter(sender: Messenger, send: Reply, key: str) -> asyncio.Task[object]:
    """Start a keyed send; return once it is claimed and handed to the adapter."""
    handed = asyncio.Event()
    sender.observe(lambda _chat: handed.set())  # called after the claim, before the adapter
    task: asyncio.Task[object] = asyncio.create_task(sender.send(send, key=key))
    await handed.wait()
    return task


async def on_the_wire(
    tg: FakeTelegram, sender: Messenger, text: str
) -> tuple[Held, asyncio.Task[MessageRef | None]]:
    """Start a keyed send; return once its request reached the fake, which holds it
    unanswered (and not yet carried out) until ``Held.go`` is set."""
    held = tg.hold_next("sendMessage")
    task = asyncio.create_task(sender.send(Reply(CHAT, text), key=KEY))
    await held.arrived.wait()
    return held, task


async def crash(task: asyncio.Task[object]) -> None:
    """What kill -9 does to a send under way: nothing after this point of it runs."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_send_waiting_in_the_limiter_is_queued_and_the_replay_sends_it_once(
    tg: FakeTelegram, db: Database, engine: Engine
) -> None:
    before = OutboxStore(engine)
    async with running(tg) as adapter:
        sender = messenger(db, before, adapter)
        assert await sender.send(Reply(CHAT, "第一条"), key="earlier#1") is not None
        waiting = await handed_to_adapter(sender, Reply(CHAT, "第二条"), KEY)
        assert await state(db, KEY) == (OutboxState.QUEUED, None)  # not "sending"
        assert texts(tg) == ["第一条"]
        await crash(waiting)
    assert await state(db, KEY) == (OutboxState.QUEUED, None)  # left as it was, by the dead one

    restarted = OutboxStore(engine)  # the next process
    assert await db.write(restarted.interrupted) == 0  # a queued send is not "unknown"
    assert await state(db, KEY) is None  # known not sent: forgotten, the replay's to send
    async with running(tg) as adapter:
        sender = messenger(db, restarted, adapter)
        ref = await sender.send(Reply(CHAT, "第二条"), key=KEY)  # the replay of its event
        assert ref is not None
        again = await sender.send(Reply(CHAT, "第二条"), key=KEY)  # a second replay
    assert again == ref
    assert texts(tg) == ["第一条", "第二条"]  # sent once
    assert await state(db, KEY) == (OutboxState.SENT, ref.message_id)


async def test_a_released_send_is_sending_until_recorded(
    tg: FakeTelegram, db: Database, engine: Engine
) -> None:
    async with running(tg) as adapter:
        held, task = await on_the_wire(tg, messenger(db, OutboxStore(engine), adapter), "已受理")
        assert await state(db, KEY) == (OutboxState.SENDING, None)
        held.go.set()
        ref = await task
    assert ref is not None
    assert await state(db, KEY) == (OutboxState.SENT, ref.message_id)


async def test_a_crash_while_the_request_is_on_the_wire_leaves_it_unknown_never_resent(
    tg: FakeTelegram, db: Database, engine: Engine
) -> None:
    """At most once is kept: the window is now only the HTTP round trip."""
    async with running(tg) as adapter:
        held, task = await on_the_wire(tg, messenger(db, OutboxStore(engine), adapter), "处理完成")
        await crash(task)
        held.go.set()
    restarted = OutboxStore(engine)
    assert await db.write(restarted.interrupted) == 1
    assert await state(db, KEY) == (OutboxState.UNKNOWN, None)
    shown = texts(tg)
    async with running(tg) as adapter:
        replayed = await messenger(db, restarted, adapter).send(Reply(CHAT, "处理完成"), key=KEY)
    assert replayed is None and texts(tg) == shown  # not sent again


async def test_a_send_released_while_the_database_is_down_is_not_sent(
    tg: FakeTelegram, db: Database, engine: Engine
) -> None:
    """The claim cannot be marked ``sending``: nothing goes out, the storage error reaches the
    caller (the inbox retries the event), and the retry sends the message once."""
    refuse_all = False

    def refuse(*_: object) -> None:
        if refuse_all:
            raise OperationalError("UPDATE", {}, Exception("database unavailable"))

    outbox = OutboxStore(engine)
    async with running(tg, burst=2) as adapter:  # the refused release spent one
        sender = messenger(db, outbox, adapter)

        def database_goes_down(_chat: ChatRef) -> None:
            nonlocal refuse_all
            refuse_all = True  # after the claim, before the limiter lets the send go

        sender.observe(database_goes_down)
        event.listen(engine, "before_cursor_execute", refuse)
        try:
            with pytest.raises(OperationalError):
                await sender.send(Reply(CHAT, "答复"), key=KEY)
            assert texts(tg) == []
            refuse_all = False
            sender = messenger(db, outbox, adapter)  # the inbox's retry of the event
            ref = await sender.send(Reply(CHAT, "答复"), key=KEY)
        finally:
            event.remove(engine, "before_cursor_execute", refuse)
    assert ref is not None and texts(tg) == ["答复"]
    assert await state(db, KEY) == (OutboxState.SENT, ref.message_id)


def test_a_message_and_the_keys_it_carries_become_sending_together_or_not_at_all(
    engine: Engine,
) -> None:
    """A batch of pages: the message's key and each page's go ``sending`` in one step; if
    one of them is no longer this worker's queued send, none does (nothing is sent)."""
    from bot.cluster.claims import Claimant

    mine = OutboxStore(engine, claimant=Claimant("worker-a", exclusive=False))
    other = OutboxStore(engine, claimant=Claimant("worker-b", exclusive=False))
    assert mine.claim_each(["msg", "page-1"], "telegram", "5001", queued=True) == {
        "msg": None,
        "page-1": None,
    }
    assert other.claim("page-2", "telegram", "5001", queued=True) is None
    assert not mine.mark_sending(["msg", "page-1", "page-2"])  # page-2 is worker-b's
    assert [mine.get(k).state for k in ("msg", "page-1")] == ["queued", "queued"]  # type: ignore[union-attr]
    assert mine.mark_sending(["msg", "page-1"])
    assert [mine.get(k).state for k in ("msg", "page-1")] == ["sending", "sending"]  # type: ignore[union-attr]


class _Recording:
    """An adapter that sends at once (no limiter): its sends are ``sending`` from the claim."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, reply: Reply) -> MessageRef:
        self.sent.append(reply.text)
        return MessageRef(reply.chat.platform, reply.chat.chat_id, str(len(self.sent)))


async def test_a_send_whose_preparation_fails_is_released_not_left_sending(
    engine: Engine, db: Database
) -> None:
    """Nothing reached the platform: the key is forgotten, so the event's retry sends it (a
    ``sending`` row of a live worker would read as another worker's send until a restart,
    then as ``unknown``, and the message would never go)."""
    outbox, adapter = OutboxStore(engine), _Recording()
    sender = KeyedSender(db, outbox)

    def broken(reply: Reply) -> Reply:
        raise ValueError("the gate failed")

    with pytest.raises(ValueError):
        await sender.send(adapter, Reply(chat=CHAT, text="您好"), KEY, prepare=broken)
    assert await db.read(lambda: outbox.get(KEY)) is None and adapter.sent == []
    again = await sender.send(adapter, Reply(chat=CHAT, text="您好"), KEY)
    assert again.outcome is Outcome.SENT and adapter.sent == ["您好"]
