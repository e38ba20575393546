"""Broadcasts through the real ``SlackAdapter`` (slack-bolt, HTTP mode) against the fake Slack
on 127.0.0.1: every channel once, a channel the bot was removed from fails with Slack's reason,
and a 已知悉 press (block_actions) is recorded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine

from adapters.base import CoreHandlers
from adapters.slack.adapter import SlackAdapter
from adapters.slack.settings import SlackSettings
from bot.broadcasts import (
    AdapterTransport,
    Broadcasts,
    BroadcastSettings,
    BroadcastStore,
    Targets,
    WaveKind,
)
from bot.registry import RegistryStore
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    FakeClock,
    FakeTransport,
    patch_draft,
    pressed,
)
from tests.fakes.slack_api import FakeSlack

CHANNELS = ["C0SW00001", "C0SW00002", "C0SW00003", "C0SW00004"]
NURSE = "U0NURSE01"


@pytest.fixture
async def slack(registry: RegistryStore) -> AsyncIterator[Any]:
    for i, channel in enumerate(CHANNELS, 1):
        registry.add_hospital(f"s{i:02d}", f"西南医院{i}", "西南", "5.2.1", ["门诊"])
        registry.add_chat("slack", channel, f"s{i:02d}")
    async with FakeSlack() as fake:
        for channel in CHANNELS:
            fake.add_channel(channel)
        fake.add_user(NURSE, name="zhang.hs", real_name="张护士", display_name="护士小张")
        yield fake


async def test_a_notice_to_slack_channels(
    engine: Engine, registry: RegistryStore, clock: FakeClock, slack: Any
) -> None:
    settings = SlackSettings(
        mode="http",
        api_base_url=slack.api_url,
        http_port=0,
        post_interval=0.0,
        network_backoff=0.01,
        stop_timeout=3.0,
    )
    adapter = SlackAdapter(
        slack.bot_token,
        settings,
        signing_secret=slack.signing_secret,
        logger=logging.getLogger("test.broadcasts.slack"),
    )
    holder: list[Broadcasts] = []

    async def on_button(press: Any) -> None:
        await pressed(holder[0], press)

    async def nothing(_: Any) -> None:
        return None

    await adapter.start(CoreHandlers(nothing, on_button, nothing))
    try:
        slack.remove_bot(CHANNELS[1])
        store = BroadcastStore(engine, registry, clock, BroadcastSettings(slack_chat_interval=0.0))
        # the test copy goes to a recording desk; the notice to Slack through the adapter
        desk = FakeTransport()
        bc = Broadcasts(store, AdapterTransport([adapter]), (DESK,))
        holder.append(bc)
        notice = store.create(patch_draft(Targets.parse("region=西南")), BROADCASTER)
        assert notice.id is not None
        bc.broadcaster.transport = desk
        assert await bc.broadcaster.send_test(notice.id, BROADCASTER) == "sent"
        bc.broadcaster.transport = AdapterTransport([adapter])
        store.confirm(notice.id, BROADCASTER)
        await bc.broadcaster.process_once()

        rows = {d.chat_id: d for d in store.deliveries.of_notice(notice.id, WaveKind.MAIN)}
        assert rows[CHANNELS[1]].status == "failed"
        assert "not_in_channel" in (rows[CHANNELS[1]].last_error or "")
        for channel in (CHANNELS[0], CHANNELS[2], CHANNELS[3]):
            [posted] = slack.posted(channel)
            assert "HIS 住院 5.2.4 补丁" in posted.text + posted.block_text
            assert rows[channel].status == "sent" and rows[channel].message_id == posted.ts

        posted = slack.posted(CHANNELS[0])[0]
        ack = next(a for a in posted.actions if a.get("value", "").startswith("ack:"))
        payload = slack.block_actions_payload(CHANNELS[0], NURSE, posted.ts, ack["action_id"])
        status, _, _ = await slack.deliver_interaction(adapter.http_url, payload)
        assert status == 200
        for _ in range(300):  # the adapter answers Slack first, then hands the press to us
            if store.receipts.receipts(notice.id):
                break
            await asyncio.sleep(0.01)
        [receipt] = store.receipts.receipts(notice.id)
        assert (receipt.hospital_id, receipt.kind, receipt.platform) == ("s01", "ack", "slack")
    finally:
        await adapter.stop()
