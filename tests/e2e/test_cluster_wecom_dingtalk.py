"""Two workers on one PostgreSQL database against the fake WeCom and the fake DingTalk: one
holds the platform's connections (``receive:wecom`` / ``receive:dingtalk``), the other has none;
when the holder dies without releasing its leases, the other takes them once they ran out (the
clock is moved, nothing waits) and answers. WeCom sends only over its connection, so a send on
the worker without it is relayed to the holder; DingTalk sends through its OpenAPI anywhere."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select

from adapters.base import ChatRef, DeliveryError, Reply
from adapters.dingtalk.adapter import DingTalkAdapter
from adapters.wecom.adapter import WeComAdapter
from adapters.wecom.convert import SEND
from bot.app import App, build_app
from bot.cluster.leases import LEADER, LEASE_SECONDS, receiving_lease
from bot.cluster.relay import RelayStore, SendRelay, encode_reply
from bot.inbox.models import InboxEvent
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from bot.infra.gateway import Database
from tests.e2e import test_bot_dingtalk as dingtalk
from tests.e2e import test_bot_wecom as wecom
from tests.e2e.test_bot_dingtalk import dt, tg  # noqa: F401
from tests.e2e.test_bot_wecom import wc  # noqa: F401
from tests.e2e.test_cluster_telegram import pg_url  # noqa: F401
from tests.fakes.dingtalk_api import FakeDingTalk
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wecom_api import FakeWeCom
from tests.tickets.conftest import FakeClock

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

WECOM, DINGTALK = receiving_lease("wecom"), receiving_lease("dingtalk")
Workers = Callable[[Settings, dict[str, str]], Awaitable[tuple[App, App, FakeClock]]]


def on_postgres(text: str, tmp_path: Path, url: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text + f'\n[storage]\nurl = "{url}"\n', encoding="utf-8")
    s = load_settings(path)
    return dataclasses.replace(s, kb=dataclasses.replace(s.kb, index_dir=str(tmp_path / "ix")))


@pytest.fixture
async def workers() -> AsyncIterator[Workers]:
    """Two ``build_app`` workers (the configured adapters, as ``hisbot run`` wires them) on
    one clock; the first started takes every lease."""
    apps: list[App] = []

    async def start(settings: Settings, env: dict[str, str]) -> tuple[App, App, FakeClock]:
        clock = FakeClock(datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC))
        for _ in range(2):
            app = build_app(
                settings, Secrets.from_env(env), db=make_engine(settings.storage_url), clock=clock
            )
            await app.start()
            apps.append(app)
        return apps[0], apps[1], clock

    yield start
    for app in apps:
        await app.stop()


async def die(app: App) -> None:
    """``kill -9`` as far as the others can tell: the leases stay in the table until they run
    out, the connections and timed work end with the process."""
    assert app.cluster is not None
    for task in app.cluster.leases._tasks:
        task.cancel()
    for role in app.cluster.leases._roles:
        await role.stop()
    for adapter in app.adapters:
        await adapter.stop()


async def inbox_keys(app: App) -> set[str]:
    def keys() -> set[str]:
        with Session(app.db) as s:
            return set(s.exec(select(InboxEvent.key)).all())

    return await app.services.db.read(keys)


def receiving(app: App) -> list[str]:
    """The receive and leader leases the app's worker holds (not its own ``worker:<id>``,
    nor the desk chats' card queues)."""
    assert app.cluster is not None
    return [n for n in app.cluster.leases.held() if not n.startswith(("worker:", "desk:"))]


async def take_over(survivor: App, clock: FakeClock) -> list[str]:
    assert survivor.cluster is not None
    clock.advance(seconds=LEASE_SECONDS)
    await survivor.cluster.leases.tick()
    return receiving(survivor)


async def test_wecom_connections_live_on_one_worker_sends_are_relayed_and_taken_over(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
    wc: FakeWeCom,  # noqa: F811
    workers: Workers,
) -> None:
    settings = on_postgres(wecom.CONFIG, tmp_path, pg_url)
    settings = dataclasses.replace(
        settings,
        wecom=dataclasses.replace(
            settings.wecom, ws_url=wc.ws_url, reconnect_initial=0.05, reconnect_max=0.2
        ),
    )
    a, b, clock = await workers(settings, wecom.environment())
    assert a.cluster is not None and b.cluster is not None
    assert receiving(a) == [WECOM, LEADER] and receiving(b) == []
    await wc.wait_until(lambda: all(bot.ws is not None for bot in wc.bots.values()))
    assert [bot.connections for bot in wc.bots.values()] == [1, 1, 1]  # a's only
    h1, h2 = wecom.BOTS["h001"][0], wecom.BOTS["h002"][0]
    group1, group2 = wecom.H1_GROUP, wecom.H2_GROUP

    await wc.user_message(h1, wecom.NURSE, "打印机打印摆药单出现乱码", chatid=group1)
    await wc.wait_for_sent(1, chatid=group1)

    # b has no connection: its send goes to a, which sends it over h002's connection
    wecom_b = next(x for x in b.adapters if isinstance(x, WeComAdapter))
    assert wecom_b.connections == {}
    notice = Reply(ChatRef("wecom", f"h002/{group2}"), "今晚22:00系统维护")
    ref = await b.services.messenger.send(notice)
    (shown,) = wc.sent_to(group2)
    assert ref is not None and "系统维护" in shown.content and shown.bot == h2
    assert [bot.connections for bot in wc.bots.values()] == [1, 1, 1]
    # a refusal on a's connection comes back to b as it is: permanent, nothing re-sent
    wc.fail_next(SEND, 86008)
    with pytest.raises(DeliveryError) as refused:
        await wecom_b.send(dataclasses.replace(notice, text="不会送达"))
    assert refused.value.permanent and "86008" in refused.value.reason
    assert len(wc.sent_to(group2)) == 1

    await die(a)
    # sent while nobody holds the connection: it waits in the relay for the next holder
    waiting = asyncio.create_task(
        b.services.messenger.send(dataclasses.replace(notice, text="维护推迟到23:00"))
    )
    await wc.wait_until(lambda: all(bot.ws is None for bot in wc.bots.values()))
    assert await take_over(b, clock) == [WECOM, LEADER]
    assert await waiting is not None  # sent by b's relay server once b's connections were up
    assert [bot.connections for bot in wc.bots.values()] == [2, 2, 2]  # b's now
    assert [m.content for m in wc.sent_to(group2)][-1].endswith("维护推迟到23:00")
    await wc.user_message(h1, wecom.NURSE, "医保结算报错2304怎么办", chatid=group1)
    await wc.wait_for_sent(2, chatid=group1)
    # b sends over its own connection now; a (dead) is not needed
    assert await b.services.messenger.send(dataclasses.replace(notice, text="维护结束"))
    assert [m.content for m in wc.sent_to(group2)][-1].endswith("维护结束")


async def test_dingtalk_streams_open_on_one_worker_and_move_with_the_lease(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
    dt: FakeDingTalk,  # noqa: F811
    tg: FakeTelegram,  # noqa: F811  (unused: the desk is on DingTalk)
    workers: Workers,
) -> None:
    settings = on_postgres(dingtalk.config(dt, tg, desk_on_dingtalk=True), tmp_path, pg_url)
    a, b, clock = await workers(settings, dingtalk.environment(dt, desk_on_dingtalk=True))
    assert a.cluster is not None and b.cluster is not None
    assert receiving(a) == [DINGTALK, LEADER] and receiving(b) == []
    tenants = ("h001", "h002", "vendor")
    await dt.wait_until(lambda: [dt.live_connections(t) for t in tenants] == [1, 1, 1])  # a's
    chat = f"h001/{dingtalk.H1}"

    dt.user_message("h001", dingtalk.H1, "nurse01", "打印机打印摆药单出现乱码")
    await dt.wait_for_sent(lambda m: m.chat_id == chat)

    # b sends through the OpenAPI without any stream of its own
    dingtalk_b = next(x for x in b.adapters if isinstance(x, DingTalkAdapter))
    assert not any(dingtalk_b.stream(t).running for t in tenants)
    assert await b.services.messenger.send(Reply(ChatRef("dingtalk", chat), "今晚系统维护"))
    await dt.wait_for_sent(lambda m: m.chat_id == chat and "系统维护" in m.text)

    await die(a)
    await dt.wait_until(lambda: [dt.live_connections(t) for t in tenants] == [0, 0, 0])
    # asked while nobody holds the stream: DingTalk keeps it until a stream takes it
    data = dt.user_message("h001", dingtalk.H1, "nurse01", "医保结算报错2304怎么办")
    assert await take_over(b, clock) == [DINGTALK, LEADER]
    await dt.wait_until(lambda: [dt.live_connections(t) for t in tenants] == [1, 1, 1])
    await dt.wait_until(lambda: len([m for m in dt.sent_to(chat) if m.via == "card"]) == 2)
    first, second = (m.text for m in dt.sent_to(chat) if m.via == "card")
    assert "乱码" in first and "医保结算" in second  # each question answered, once
    assert f"m:{chat}:{data['msgId']}" in await inbox_keys(b)  # stored by b


async def test_a_relayed_send_nobody_takes_is_cancelled_and_known_not_sent(
    pg_url: str,  # noqa: F811
) -> None:
    """No worker holds the connection (all of them restarting): after ``timeout`` the row is
    cancelled, so the asker knows nothing went out (retried later by its outbox or inbox),
    and a holder arriving later does not send it."""
    engine = make_engine(pg_url)
    db = Database(engine)
    try:
        clock = FakeClock(datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC))
        store = RelayStore(engine, clock)
        relay = SendRelay(db, store, timeout=0.3, poll=0.05)
        with pytest.raises(DeliveryError) as failed:
            await relay.send(Reply(ChatRef("wecom", "h001/g1"), "x"))
        assert not failed.value.permanent and not failed.value.outcome_unknown
        minute = datetime.timedelta(minutes=1)
        assert await db.write(lambda: store.take("wecom", "late", 10, minute)) == []
        # a row whose asker could not withdraw it (database away) is not taken past its window
        payload = encode_reply(Reply(ChatRef("wecom", "h001/g1"), "y"))
        stale = await db.write(lambda: store.queue("wecom", "h001/g1", payload))
        clock.advance(seconds=61)
        fresh = await db.write(lambda: store.queue("wecom", "h001/g1", payload))
        assert await db.write(lambda: store.take("wecom", "late", 10, minute)) == [(fresh, payload)]
        assert stale != fresh
    finally:
        await asyncio.to_thread(db.close)
        engine.dispose()
