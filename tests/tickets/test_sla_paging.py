"""The paging webhook against a local HTTP server on 127.0.0.1: what it is sent, and a failing
service reported (not raised) so the page's audit line says so."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import Engine

from adapters.base import MessageRef, Reply
from bot.inbox.store import OutboxStore
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry import RegistryStore
from bot.sla.paging import Page, Pager
from bot.sla.settings import SlaSettings
from tests.testbot import MemoryAdapter
from tests.tickets.conftest import FakeClock


@pytest.fixture
async def service() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A paging service stand-in: records bodies, answers with the status at the list's head."""
    received: list[dict[str, Any]] = []
    statuses = [200]

    async def page(request: web.Request) -> web.Response:
        received.append(json.loads(await request.text()))
        return web.json_response({}, status=statuses[0])

    app = web.Application()
    app.router.add_post("/page", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/page", received, statuses
    finally:
        await runner.cleanup()


def make_pager(
    engine: Engine,
    registry: RegistryStore,
    messenger: Messenger,
    settings: SlaSettings,
    clock: FakeClock,
) -> Pager:
    """A pager keying its sends in the outbox of ``engine`` (the messenger's, when it has one)."""
    return Pager(registry, messenger, settings, clock, Database(engine), OutboxStore(engine, clock))


def keyed(engine: Engine, clock: FakeClock) -> Messenger:
    """A messenger recording its keyed sends in the outbox, as the bot's does."""
    return Messenger(Database(engine), OutboxStore(engine, clock))


async def test_the_webhook_gets_the_page_and_a_failure_is_reported(
    engine: Engine,
    registry: RegistryStore,
    clock: FakeClock,
    service: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    url, received, statuses = service
    pager = make_pager(engine, registry, Messenger(), SlaSettings(webhook_url=url), clock)
    page = Page("2026-000001", "P1", "市第一人民医院", "🚨 紧急故障", ("e01", "e09"), "sla:1")
    result = await pager.page(page)
    # nobody has a chat account here: no direct message, and the result says so
    assert result.reached == () and result.unreached == ("e01", "e09")
    assert result.webhook == "ok"
    assert received == [
        {
            "ticket": "2026-000001",
            "urgency": "P1",
            "hospital": "市第一人民医院",
            "engineers": ["e01", "e09"],
            "text": "🚨 紧急故障",
            "at": clock.now.replace(tzinfo=dt.UTC).isoformat(),
        }
    ]
    # the same step again (a replay): the webhook was called, it is not called twice
    assert (await pager.page(page)).webhook == "ok" and len(received) == 1
    statuses[0] = 503
    failed = await pager.page(dataclasses.replace(page, key="sla:2"))
    assert failed.webhook == "失败（HTTP 503）"
    assert (
        "私信未送达任何人" in failed.summary() and "呼叫服务：失败（HTTP 503）" in failed.summary()
    )
    # refused, so proven not delivered: a replay of that step tries again
    statuses[0] = 200
    assert (await pager.page(dataclasses.replace(page, key="sla:2"))).webhook == "ok"
    assert len(received) == 3
    down = make_pager(
        engine, registry, Messenger(), SlaSettings(webhook_url="http://127.0.0.1:9/x"), clock
    )
    assert (await down.page(dataclasses.replace(page, key="sla:3"))).webhook.startswith("失败（")


async def test_an_engineer_on_dingtalk_is_paged_by_direct_message(
    engine: Engine, registry: RegistryStore, clock: FakeClock
) -> None:
    from adapters.base import CoreHandlers
    from adapters.dingtalk.adapter import DingTalkAdapter
    from adapters.dingtalk.settings import DingTalkSettings, DingTalkTenant, TenantCredentials
    from tests.fakes.dingtalk_api import FakeDingTalk

    async def nothing(_: object) -> None:
        return None

    registry.add_identity("dingtalk", "vendor/zhang01", "e01")
    async with FakeDingTalk() as fake:
        t = fake.add_tenant("vendor")
        adapter = DingTalkAdapter(
            DingTalkSettings(
                api_base=fake.base_url, tenants=(DingTalkTenant("vendor", "V_ID", "V_SECRET"),)
            ),
            {"vendor": TenantCredentials(t.client_id, t.secret, t.client_id)},
        )
        await adapter.start(CoreHandlers(nothing, nothing, nothing))
        try:
            messenger = keyed(engine, clock)
            messenger.register(adapter)
            pager = make_pager(engine, registry, messenger, SlaSettings(), clock)
            page = Page("2026-000001", "P1", "市第一人民医院", "🚨 紧急故障", ("e01",), "sla:1")
            result = await pager.page(page)
            assert result.reached == (("e01", "张工", "dingtalk"),)
            (dm,) = fake.sent
            # a one-to-one card (IM_ROBOT) with the page's 收到 button
            assert (dm.via, dm.chat_id) == ("card", "vendor/zhang01") and "紧急故障" in dm.text
            assert [b["text"] for b in dm.buttons] == ["收到，我来处理"]
        finally:
            await adapter.stop()


class HeldAdapter(MemoryAdapter):
    """Holds every send until ``release`` is set (a private chat's budget spent)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.sending = asyncio.Event()

    async def send(self, reply: Reply) -> MessageRef:
        self.sending.set()
        await self.release.wait()
        return await super().send(reply)


async def test_pages_waiting_for_an_engineers_chat_go_together_in_its_next_message(
    engine: Engine, registry: RegistryStore, clock: FakeClock
) -> None:
    """A storm of P1s: one page in flight, the three after it wait for the chat — and then go
    in ONE message (each with its 收到 button), not one a second behind each other."""
    registry.add_identity("telegram", 5001, "e01")
    adapter = HeldAdapter()
    messenger = keyed(engine, clock)
    messenger.register(adapter)
    pager = make_pager(engine, registry, messenger, SlaSettings(), clock)
    numbers = [f"2026-00000{i}" for i in range(1, 5)]
    pages = [
        Page(n, "P1", "市第一人民医院", f"🚨 紧急故障 #{n}", ("e01",), f"sla:{n}") for n in numbers
    ]
    first = asyncio.create_task(pager.page(pages[0]))
    await adapter.sending.wait()  # its message is on the way (held)
    rest = [asyncio.create_task(pager.page(p)) for p in pages[1:]]
    async with asyncio.timeout(10):  # the engineer's identities are read off the loop
        while sum(len(w.pages) for w in pager._waiting.values()) < 3:
            await asyncio.sleep(0.001)
    adapter.release.set()
    results = await asyncio.gather(first, *rest)
    assert all(r.reached_names == ("张工",) for r in results)
    single, together = adapter.said
    assert single.text == "🚨 紧急故障 #2026-000001" and single.labels == ["收到，我来处理"]
    assert together.text.startswith("🚨 3 条呼叫")
    assert all(f"#{n}" in together.text for n in numbers[1:])
    assert sorted(together.labels) == [f"收到 #{n}" for n in numbers[1:]]  # in arrival order
    assert together.reply.priority  # before hospital replies where the budget is short


async def test_a_batch_leaves_out_a_page_already_sent_and_records_each_page(
    engine: Engine, registry: RegistryStore, clock: FakeClock
) -> None:
    """A step carried out again (a crash, a leader change) meets a batch: the page of it that
    had gone out before is not in the next message, the others are, and every page's own key
    records the message that carried it."""
    registry.add_identity("telegram", 5001, "e01")
    adapter = HeldAdapter()
    messenger = keyed(engine, clock)
    messenger.register(adapter)
    pager = make_pager(engine, registry, messenger, SlaSettings(), clock)
    a, b, c = (
        Page(n, "P1", "市第一人民医院", f"🚨 紧急故障 #{n}", ("e01",), f"sla:{n}:accept:p1:0")
        for n in ("2026-000001", "2026-000002", "2026-000003")
    )
    adapter.release.set()
    assert (await pager.page(a)).reached_names == ("张工",)  # a's page went out
    adapter.release.clear()
    adapter.sending.clear()
    first = asyncio.create_task(pager.page(c))  # in flight, held: a (replayed) and b wait
    await adapter.sending.wait()
    rest = [asyncio.create_task(pager.page(p)) for p in (a, b)]
    async with asyncio.timeout(10):
        while sum(len(w.pages) for w in pager._waiting.values()) < 2:
            await asyncio.sleep(0.001)
    adapter.release.set()
    results = await asyncio.gather(first, *rest)
    assert all(r.reached_names == ("张工",) for r in results)  # a: reached before
    texts = [s.text for s in adapter.said]
    assert texts == [
        "🚨 紧急故障 #2026-000001",
        "🚨 紧急故障 #2026-000003",
        "🚨 紧急故障 #2026-000002",
    ]
    outbox = OutboxStore(engine, clock)
    rows = {p.number: outbox.get(f"{p.key}:dm:telegram:5001") for p in (a, b, c)}
    assert all(r is not None and r.state == "sent" for r in rows.values())
    ids = {n: r.message_id for n, r in rows.items() if r is not None}
    assert ids["2026-000002"] == adapter.said[2].ref.message_id
