"""Two workers on one PostgreSQL database against the fake Bot API: one polls Telegram and
runs the timed work (the leases' holder), the other sends only; when the holder dies, the
other takes both over once the lease has run out (the clock is moved, nothing waits), and a
question is answered once, never with a 409 conflict between two pollers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.telegram.adapter import TelegramAdapter
from bot.app import App, build_app
from bot.cluster.leases import LEADER, LEASE_SECONDS, receiving_lease
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from tests.databases import SchemaPool, schema_url
from tests.e2e.test_bot_telegram import CONFIG, DESK, H1_CHAT, NURSE, TOKEN, tg  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram
from tests.once import seeded_index_dir
from tests.tickets.conftest import FakeClock

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

POLLING = receiving_lease("telegram")
DESK_LEASE = "desk:telegram:-1009000"


@pytest.fixture
def pg_url(pg_schemas: SchemaPool) -> Iterator[str]:
    """A fresh schema in the test PostgreSQL (skipped without one), dropped afterwards."""
    schema = pg_schemas.fresh()
    try:
        yield schema_url(schema)
    finally:
        pg_schemas.give_back(schema)


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + f'\n[storage]\nurl = "{pg_url}"\n', encoding="utf-8")
    s = load_settings(path)
    index = seeded_index_dir(tmp_path_factory)
    return dataclasses.replace(s, kb=dataclasses.replace(s.kb, index_dir=str(index)))


@pytest.fixture
async def workers(
    settings: Settings,
    tg: FakeTelegram,  # noqa: F811
) -> AsyncIterator[tuple[App, App, FakeClock]]:
    clock = FakeClock(dt.datetime(2026, 12, 7, 2, 0))
    tg_settings = dataclasses.replace(
        settings.telegram, base_url=tg.base_url, base_file_url=tg.base_file_url
    )
    apps = []
    for _ in range(2):
        adapter = TelegramAdapter(TOKEN, tg_settings, receive_on_start=False)
        app = build_app(
            settings,
            Secrets.from_env({}),
            db=make_engine(settings.storage_url),
            adapters=[adapter],
            clock=clock,
        )
        await app.start()
        apps.append(app)
    try:
        yield apps[0], apps[1], clock
    finally:
        for app in apps:
            await app.stop()


def conflicts(tg: FakeTelegram) -> int:  # noqa: F811
    return sum(1 for c in tg.calls_to("getUpdates") if c.status == 409)


def shared(app: App) -> list[str]:
    """The leases of shared work held by the app's worker (not its own ``worker:<id>``)."""
    assert app.cluster is not None
    return [name for name in app.cluster.leases.held() if not name.startswith("worker:")]


async def die(app: App) -> None:
    """What ``kill -9`` leaves: its poller and timed work end, its leases stay in the table."""
    assert app.cluster is not None
    for task in app.cluster.leases._tasks:
        task.cancel()
    for adapter in app.adapters:
        await adapter.stop()
    await app.stop_leader_work()
    # and everything else it ran: nothing of it handles, posts or takes over any more
    await app.inbox.stop(0)
    await app.cards.stop(0)
    assert app.services.broadcasts is not None and app.takeover is not None
    await app.services.broadcasts.broadcaster.stop()
    await app.takeover.stop()


async def test_one_worker_polls_and_leads_and_the_other_takes_over_when_it_dies(
    workers: tuple[App, App, FakeClock],
    tg: FakeTelegram,  # noqa: F811
) -> None:
    a, b, clock = workers
    assert a.cluster is not None and b.cluster is not None
    assert shared(a) == [POLLING, DESK_LEASE, LEADER] and shared(b) == []

    tg.user_message(H1_CHAT, NURSE, "yb结算报2304，总额和明细对不上", first_name="护士小张")
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    assert conflicts(tg) == 0  # b never polled beside a

    await die(a)
    stopped = conflicts(tg)  # PTB's last getUpdates on stop ends its own pending long poll
    clock.advance(seconds=LEASE_SECONDS - 0.5)
    await b.cluster.leases.tick()
    assert shared(b) == []  # a's leases have not run out yet
    clock.advance(seconds=0.5)
    await b.cluster.leases.tick()
    assert shared(b) == [POLLING, DESK_LEASE, LEADER]

    tg.user_message(H1_CHAT, NURSE, "打印机打印摆药单出现乱码", first_name="护士小张")
    await tg.wait_until(lambda: len(tg.sent_messages(H1_CHAT)) == 2)
    answers = [m.reply_to for m in tg.sent_messages(H1_CHAT)]
    assert len(answers) == len(set(answers))  # each question answered once
    assert conflicts(tg) == stopped

    # b holds the desk chat's lease now: 没解决 opens a ticket whose card b posts
    answer = tg.sent_messages(H1_CHAT)[-1]
    [escalate] = [b for b in answer.buttons if b["text"].startswith("没解决")]
    tg.callback_query(H1_CHAT, NURSE, answer.message_id, escalate["callback_data"])
    card = await tg.wait_for_sent(lambda m: m.chat_id == DESK)
    assert card.buttons[0]["text"] == "接单"


async def test_an_event_a_dead_worker_stored_is_handled_by_another_once(
    workers: tuple[App, App, FakeClock],
    tg: FakeTelegram,  # noqa: F811
) -> None:
    """a stores a question (confirmed to Telegram) and dies before handling it: b takes it
    over once a's own lease has run out — not at a's restart, and not while a lives."""
    a, b, clock = workers
    assert b.cluster is not None and b.takeover is not None
    await a.inbox.stop(0)  # a stores what it polls from now on, and handles nothing
    polls = len(tg.calls_to("getUpdates"))
    tg.user_message(H1_CHAT, NURSE, "yb结算报2304，总额和明细对不上", first_name="护士小张")
    await tg.wait_until(lambda: len(tg.calls_to("getUpdates")) >= polls + 2)  # confirmed
    assert a.db is not None
    with a.db.connect() as conn:
        rows = conn.execute(text("SELECT state, claimed_by FROM inbox_event")).all()
    assert a.cluster is not None and rows == [("pending", a.cluster.owner)]
    await die(a)
    assert await b.takeover.round()
    assert b.inbox._lanes == {}  # a's lease has not run out: its event is its own
    clock.advance(seconds=LEASE_SECONDS)
    await b.cluster.leases.tick()
    assert await b.takeover.round()
    await tg.wait_for_sent(lambda m: m.chat_id == H1_CHAT)
    await b.inbox.drained()
    assert len(tg.sent_messages(H1_CHAT)) == 1  # answered once, by b
    with a.db.connect() as conn:
        rows = conn.execute(text("SELECT state, claimed_by FROM inbox_event")).all()
    assert rows == [("done", b.cluster.owner)]


async def test_a_leased_receiver_sends_at_once_and_polls_only_when_told(
    tg: FakeTelegram,  # noqa: F811
) -> None:
    """``receive_on_start=False`` (one of several workers): sending works from ``start``, and
    getUpdates is called only between ``start_receiving`` and ``stop_receiving``."""
    from adapters.base import ChatRef, CoreHandlers, IncomingMessage, LeasedReceiver, Reply
    from adapters.telegram.settings import TelegramSettings

    received: list[IncomingMessage] = []

    async def on_message(message: IncomingMessage) -> None:
        received.append(message)

    async def ignore(_: object) -> None:
        return None

    tg.add_chat(H1_CHAT, chat_type="supergroup", title="第一人民医院")
    settings = TelegramSettings(
        base_url=tg.base_url, base_file_url=tg.base_file_url, poll_timeout=1
    )
    adapter = TelegramAdapter(TOKEN, settings, receive_on_start=False)
    assert isinstance(adapter, LeasedReceiver) and adapter.waits_for_lease
    assert not TelegramAdapter(TOKEN, settings).waits_for_lease  # one process: polls by itself
    await adapter.start(CoreHandlers(on_message, ignore, ignore))
    try:
        await adapter.send(Reply(ChatRef("telegram", str(H1_CHAT)), "维护通知"))
        assert tg.calls_to("getUpdates") == []
        await adapter.start_receiving()
        tg.user_message(H1_CHAT, NURSE, "在吗")
        await tg.wait_until(lambda: len(received) == 1)
        await adapter.stop_receiving()
        polls = len(tg.calls_to("getUpdates"))
        assert all(c.status is not None for c in tg.calls_to("getUpdates"))  # none pending
        await adapter.send(Reply(ChatRef("telegram", str(H1_CHAT)), "仍可发送"))
        assert len(tg.calls_to("getUpdates")) == polls
        await adapter.start_receiving()  # the lease came back
        tg.user_message(H1_CHAT, NURSE, "还在吗")
        await tg.wait_until(lambda: len(received) == 2)
    finally:
        await adapter.stop()
