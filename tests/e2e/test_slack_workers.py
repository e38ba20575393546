"""Slack behind several workers: each redelivery, twin and replay is handled once in all.

Two workers = two real SlackAdapters (slack-bolt underneath, HTTP mode, each its own port as
behind a load balancer), each feeding its own core inbox (``bot.inbox.Inbox``) on ONE database
(SQLite file and PostgreSQL). Slack sends a retry wherever its load balancer sends it: the
adapters' in-memory ``_seen`` caches do not know each other, so what keeps a retry, the
``app_mention`` twin of a message, a replayed button press or slash command from being handled
twice is the inbox's key for the event (chat + ts, trigger id, the event id of a chat event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine

from adapters.base import (
    Button,
    ButtonPress,
    ChatEvent,
    ChatRef,
    CoreHandlers,
    IncomingMessage,
    Reply,
)
from adapters.slack.adapter import SlackAdapter
from bot.inbox import Inbox, InboxStore
from bot.infra.gateway import Database
from tests.e2e.test_slack_adapter import (
    DESK,
    ENGINEER,
    HOSPITAL,
    NURSE,
    chat,
    fake_slack,
    settings_for,
    url,
)
from tests.fakes.slack_api import FakeSlack

Handled = list[tuple[str, str]]


class Pipeline:
    """Stands in for the pipeline behind both workers' inboxes: what was handled, by whom."""

    def __init__(self) -> None:
        self.handled: Handled = []
        self._changed = asyncio.Event()

    def handlers(self, worker: str) -> CoreHandlers:
        async def on_message(m: IncomingMessage) -> None:
            self._record(worker, f"message {m.message_id}")

        async def on_button(p: ButtonPress) -> None:
            self._record(worker, f"press {p.action}")

        async def on_chat_event(e: ChatEvent) -> None:
            self._record(worker, f"{e.kind.value} {e.chat.chat_id}")

        return CoreHandlers(on_message, on_button, on_chat_event)

    def _record(self, worker: str, what: str) -> None:
        self.handled.append((worker, what))
        self._changed.set()

    def what(self) -> list[str]:
        return [what for _, what in self.handled]


@contextlib.asynccontextmanager
async def workers(
    slack: FakeSlack, engines: list[Engine], pipeline: Pipeline
) -> AsyncIterator[tuple[list[SlackAdapter], list[Inbox]]]:
    adapters, inboxes, gateways = [], [], []
    try:
        for n, engine in enumerate(engines):
            db = Database(engine)
            gateways.append(db)

            async def tell(chat: ChatRef) -> None:
                raise AssertionError(f"the database was there: {chat}")

            inbox = Inbox(
                db,
                InboxStore(engine),
                pipeline.handlers(f"w{n}"),
                is_desk=lambda c: c.chat_id == DESK,
                incoming=lambda m: m,
                tell_delayed=tell,
            )
            await inbox.start()
            inboxes.append(inbox)
            adapter = SlackAdapter(
                slack.bot_token,
                settings_for(slack),
                signing_secret=slack.signing_secret,
                logger=logging.getLogger(f"test.hisbot.slack.w{n}"),
            )
            await adapter.start(inbox.handlers())
            adapters.append(adapter)
        yield adapters, inboxes
    finally:
        for adapter in adapters:
            await adapter.stop()
        for inbox in inboxes:
            await inbox.stop(2.0)
        for db in gateways:
            db.close()


async def settled(inboxes: list[Inbox], slack: FakeSlack, deliveries: int) -> None:
    """Every delivery answered and every stored event handled."""
    await slack.wait_until(lambda: len(slack.deliveries) >= deliveries, what="the deliveries")
    for inbox in inboxes:
        await inbox.drained()


async def test_retries_twins_and_replays_sent_to_another_worker_are_handled_once(
    make_db: Callable[..., Engine],
) -> None:
    pipeline = Pipeline()
    async with (
        fake_slack() as slack,
        workers(slack, [make_db(), make_db(create=False)], pipeline) as (adapters, inboxes),
    ):
        a, b = (url(adapter) for adapter in adapters)
        sent = 0

        async def both(*deliveries: Any) -> list[int | None]:
            nonlocal sent
            sent += len(deliveries)
            return [status for status, _, _ in await asyncio.gather(*deliveries)]

        # a message; Slack's retry of it (same event_id) to the other worker, at the same
        # moment and again later; its app_mention twin (another event id) to the other worker
        event = slack.message_event(HOSPITAL, NURSE, f"<@{slack.bot_user_id}> 打印机卡纸")
        assert await both(slack.deliver_event(a, event)) == [200]
        assert await both(
            slack.deliver_event(b, event, retry_num=1),
            slack.deliver_event(a, event, retry_num=2),
        ) == [200, 200]
        mention = slack.app_mention_event(HOSPITAL, NURSE, "打印机卡纸", ts=event["ts"])
        assert await both(slack.deliver_event(b, mention), slack.deliver_event(a, mention)) == [
            200,
            200,
        ]
        # a button press replayed to the other worker (same trigger_id); a new press is new
        buttons = ((Button("接单", "claim:1"),),)
        card = await adapters[0].send(Reply(chat(DESK), "🎫 工单", buttons=buttons))
        press = slack.block_actions_payload(DESK, ENGINEER, card.message_id, "hisbot:0")
        await both(slack.deliver_interaction(a, press), slack.deliver_interaction(b, press))
        await both(slack.deliver_interaction(b, press))
        # a slash command replayed to the other worker
        command = slack.command_payload("/hisbot", "tickets", user_id=NURSE, channel_id=HOSPITAL)
        await both(
            slack.deliver_command(a, fields=command), slack.deliver_command(b, fields=command)
        )
        # the bot removed, Slack retrying the event to the other worker
        left = slack.member_left_channel(HOSPITAL)
        await both(slack.deliver_event(a, left))
        await both(slack.deliver_event(b, left, retry_num=1))
        await settled(inboxes, slack, sent)

        trigger = command["trigger_id"]
        assert sorted(pipeline.what()) == sorted(
            [
                f"message {event['ts']}",
                "press claim:1",
                f"message cmd:{NURSE}:{trigger}",
                f"bot_removed {HOSPITAL}",
            ]
        )


async def test_each_removal_of_the_bot_is_its_own_event(
    make_db: Callable[..., Engine],
) -> None:
    """Removed, re-added, removed again: the second removal is not taken for a redelivery of
    the first (the inbox keys a chat event by its event id, not by what it says)."""
    pipeline = Pipeline()
    async with (
        fake_slack() as slack,
        workers(slack, [make_db(), make_db(create=False)], pipeline) as (adapters, inboxes),
    ):
        a, b = (url(adapter) for adapter in adapters)
        first = slack.member_left_channel(HOSPITAL)
        await slack.deliver_event(a, first)
        await slack.deliver_event(b, slack.member_joined_channel(HOSPITAL))
        second = slack.member_left_channel(HOSPITAL)
        await slack.deliver_event(b, second)
        await slack.deliver_event(a, second, retry_num=1)
        await settled(inboxes, slack, 4)
        removed, added = f"bot_removed {HOSPITAL}", f"bot_added {HOSPITAL}"
        assert pipeline.what() == [removed, added, removed]
