"""The real SlackAdapter (real slack-bolt / slack_sdk underneath) against FakeSlack.

Nothing of bolt or slack_sdk is mocked: the adapter serves its HTTP endpoint (or opens a Socket
Mode WebSocket) and calls the fake Web API over HTTP on 127.0.0.1; the fake signs and delivers
events, interactions and slash commands like Slack. The shared recording core
(``tests/contract/core.py``, in its store-then-handle mode) stands in for ``bot/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import (
    Attachment,
    Button,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    Citation,
    DeliveryError,
    MessageRef,
    Reply,
    Sender,
)
from adapters.slack.adapter import COMMAND_USAGE, SlackAdapter
from adapters.slack.settings import SlackSettings

USAGE = COMMAND_USAGE.format(command="/hisbot")

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.contract.core import RecordingCore  # noqa: E402
from tests.fakes.slack_api import FakeSlack, RateLimits  # noqa: E402

HOSPITAL = "C0HOSP001"
OTHER = "C0HOSP002"
DESK = "C0DESK001"
NURSE = "U0NURSE1"
ENGINEER = "U0ENG0001"
LOGGER = "test.hisbot.slack"
PATIENT = "患者张三 住院号 ZY20260001"


def chat(channel: str, thread: str | None = None) -> ChatRef:
    return ChatRef("slack", channel, thread)


def settings_for(slack: FakeSlack, mode: str = "http", **overrides: Any) -> SlackSettings:
    base = SlackSettings(
        mode="http" if mode == "http" else "socket",
        api_base_url=slack.api_url,
        http_port=0,
        post_interval=0.0,
        network_backoff=0.01,
        stop_timeout=2.0,
        connect_timeout=5.0,
    )
    return dataclasses.replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(
    slack: FakeSlack, mode: str = "http", **overrides: Any
) -> AsyncIterator[tuple[SlackAdapter, RecordingCore]]:
    adapter = SlackAdapter(
        slack.bot_token,
        settings_for(slack, mode, **overrides),
        signing_secret=slack.signing_secret,
        app_token=slack.app_token,
        logger=logging.getLogger(LOGGER),
    )
    core = RecordingCore(handle_later=True)  # the core's inbox: stored, then handled
    core.adapter = adapter
    core.echo = True
    await adapter.start(core.handlers())
    try:
        yield adapter, core
    finally:
        await core.close()
        await adapter.stop()


def url(adapter: SlackAdapter) -> str:
    assert adapter.http_url is not None
    return adapter.http_url


@contextlib.asynccontextmanager
async def fake_slack(**kwargs: Any) -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(**kwargs)
    async with slack:
        for channel in (HOSPITAL, OTHER, DESK):
            slack.add_channel(channel)
        slack.add_user(NURSE, name="li.na", real_name="李娜", display_name="李护士")
        slack.add_user(ENGINEER, name="wang.gong", real_name="王工", display_name="王工")
        yield slack


# ------------------------------------------------------------------ inbound over HTTP


async def test_signed_message_reaches_the_core_and_the_reply_goes_into_its_thread() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        assert adapter.platform == "slack" and adapter.bot_user_id == slack.bot_user_id
        event = slack.message_event(
            HOSPITAL, NURSE, f"<@{slack.bot_user_id}> HIS 挂号打不开 &lt;急&gt;"
        )
        status, _, elapsed = await slack.deliver_event(url(adapter), event)
        assert status == 200 and elapsed < 3.0

        m = await core.message(event["ts"])
        assert m.chat == chat(HOSPITAL)
        assert m.sender == Sender(NURSE, "李护士", is_bot=False)  # users.info display name
        assert m.text == "HIS 挂号打不开 <急>"
        assert m.mentions_bot and not m.from_self and not m.edited
        assert m.reply_to_message_id is None

        answer = await slack.wait_for_post(lambda p: p.thread_ts == event["ts"])
        assert answer.channel == HOSPITAL
        assert answer.block_text == "收到：HIS 挂号打不开 &lt;急&gt;"
        assert answer.text == "收到：HIS 挂号打不开 &lt;急&gt;"  # escaped fallback

        # a reply in that thread: in the thread, replying to its root
        reply = slack.message_event(HOSPITAL, NURSE, "还是不行", thread_ts=event["ts"])
        await slack.deliver_event(url(adapter), reply)
        m2 = await core.message(reply["ts"])
        assert m2.chat == chat(HOSPITAL, event["ts"])
        assert m2.reply_to_message_id == event["ts"]
        second = await slack.wait_for_post(lambda p: p.params.get("text") == "收到：还是不行")
        assert second.thread_ts == event["ts"]
        # one users.info for the two messages of the same user (cached); auth.test only at
        # start (bolt's authorization reuses its result)
        assert len(slack.calls_to("users.info")) == 1
        assert len(slack.calls_to("auth.test")) == 1


async def test_url_verification_handshake() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, _):
        status, body, _ = await slack.deliver_url_verification(url(adapter), challenge="abc123")
        assert status == 200 and "abc123" in body


async def test_files_edits_and_own_messages() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        core.echo = False
        shot = slack.message_event(
            HOSPITAL, NURSE, "报错截图", files=[{"name": "err.png", "content": b"\x89PNG123"}]
        )
        await slack.deliver_event(url(adapter), shot)
        m = await core.message(shot["ts"])
        f = shot["files"][0]
        assert m.attachments == (Attachment("photo", f["id"], "err.png", "image/png", 7),)

        changed = slack.message_changed_event(HOSPITAL, shot["ts"], "报错截图（已重启）")
        await slack.deliver_event(url(adapter), changed)
        edited = await core.message(shot["ts"], edited=True)
        assert edited.text == "报错截图（已重启）" and edited.edited

        # the bot's own messages never reach the core; another bot's do, flagged
        own = slack.message_event(HOSPITAL, None, "我自己发的", bot_id=slack.bot_id)
        other = slack.message_event(HOSPITAL, None, "备份完成", bot_id="B0BACKUP1")
        await slack.deliver_event(url(adapter), own)
        await slack.deliver_event(url(adapter), other)
        o = await core.message(other["ts"])
        assert o.sender.is_bot and not o.from_self
        assert all(x.message_id != own["ts"] for x in core.messages)


async def test_bad_signature_and_stale_timestamp_are_rejected_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with fake_slack() as slack, running(slack) as (adapter, core):
        forged = slack.message_event(HOSPITAL, NURSE, PATIENT)
        status, _, _ = await slack.deliver_with_bad_signature(url(adapter), forged)
        assert status == 401
        stale = slack.message_event(HOSPITAL, NURSE, PATIENT + " 旧")
        status2, _, _ = await slack.deliver_with_old_timestamp(url(adapter), stale)
        assert status2 == 401
        await asyncio.sleep(0.1)
        assert core.messages == []
    rejected = [r for r in caplog.records if r.name == LOGGER and "rejected" in r.getMessage()]
    assert [r.levelno for r in rejected] == [logging.WARNING, logging.WARNING]
    assert "signature mismatch" in rejected[0].getMessage()
    assert "stale timestamp" in rejected[1].getMessage()
    assert PATIENT not in caplog.text  # never the body


async def test_unhandled_payloads_are_acked_or_refused_without_logging_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with fake_slack() as slack, running(slack) as (adapter, core):
        # an event type nobody listens to: acked (so Slack does not retry it), ignored
        status, _, _ = await slack.deliver_event(
            url(adapter), {"type": "reaction_added", "user": NURSE, "reaction": PATIENT}
        )
        assert status == 200
        # an interaction type the app does not use (a modal submission)
        view = {"type": "view_submission", "user": {"id": NURSE}, "view": {"title": PATIENT}}
        status2, _, _ = await slack.deliver_interaction(url(adapter), view)
        assert status2 == 404
        # another app's slash command
        status3, _, _ = await slack.deliver_command(url(adapter), "/other", PATIENT)
        assert status3 == 404
        await asyncio.sleep(0.1)
        assert core.messages == [] and core.presses == []
    assert PATIENT not in caplog.text
    assert "unhandled view_submission request" in caplog.text


async def test_retried_event_and_app_mention_twin_reach_the_core_once() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        event = slack.message_event(HOSPITAL, NURSE, f"<@{slack.bot_user_id}> 打印机卡纸")
        first = await slack.deliver_event(url(adapter), event)
        again = await slack.deliver_event(url(adapter), event, retry_num=1)
        third = await slack.deliver_event(
            url(adapter), event, retry_num=2, retry_reason="http_error"
        )
        assert [first[0], again[0], third[0]] == [200, 200, 200]
        assert slack.deliveries[1].event_id == slack.deliveries[0].event_id
        # the app_mention Slack sends for the same message (another event id)
        mention = slack.app_mention_event(HOSPITAL, NURSE, "打印机卡纸", ts=event["ts"])
        await slack.deliver_event(url(adapter), mention)
        await slack.wait_for_post(1)
        await asyncio.sleep(0.2)
        assert [m.message_id for m in core.messages] == [event["ts"]]
        assert len(slack.posted(HOSPITAL)) == 1


async def test_core_errors_are_logged_without_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # even at DEBUG nothing logs the message text
    async with fake_slack() as slack, running(slack) as (adapter, _):
        event = slack.message_event(HOSPITAL, NURSE, f"boom {PATIENT}")
        status, _, _ = await slack.deliver_event(url(adapter), event)
        assert status == 200  # acknowledged: a conversion bug is not worth Slack's retries
        # the next message of the channel is still handled
        later = slack.message_event(HOSPITAL, NURSE, "下一条")
        await slack.deliver_event(url(adapter), later)
        await slack.wait_for_post(lambda p: p.params.get("text") == "收到：下一条")
    failures = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
    assert len(failures) == 1
    logged = failures[0].getMessage()
    assert "builtins.RuntimeError (message withheld)" in logged
    assert "in on_message" in logged  # where it happened
    assert PATIENT not in caplog.text  # the core's exception quoted it: withheld


# ------------------------------------------------------------------ buttons


async def test_reply_with_buttons_press_ack_and_edit() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        core.echo = False
        question = slack.message_event(HOSPITAL, NURSE, "怎么重置密码")
        await slack.deliver_event(url(adapter), question)
        m = await core.message(question["ts"])

        ref = await adapter.send(
            Reply(
                m.chat,
                "请按以下步骤重置：\n1. 打开 HIS 登录页 & 点「忘记密码」",
                reply_to=m.message_id,
                citation=Citation("kb-12", "重置 HIS 密码", "http://kb.local/kb/kb-12"),
                buttons=((Button("解决了", "ok:12"), Button("没解决", "no:12")),),
                mention_user_ids=(ENGINEER,),
            )
        )
        posted = slack.posted(HOSPITAL)[-1]
        assert ref == MessageRef("slack", HOSPITAL, posted.ts)
        assert posted.thread_ts == question["ts"]
        assert [b["type"] for b in posted.blocks or []] == [
            "section",
            "section",
            "context",
            "actions",
        ]
        assert "&amp; 点「忘记密码」" in posted.block_text
        assert f"<@{ENGINEER}>" in posted.block_text
        assert "<http://kb.local/kb/kb-12|重置 HIS 密码>" in posted.block_text
        assert posted.action_ids == ["hisbot:0", "hisbot:1"]
        assert [a["value"] for a in posted.actions] == ["ok:12", "no:12"]

        payload = slack.block_actions_payload(HOSPITAL, NURSE, posted.ts, "hisbot:1")
        status, _, elapsed = await slack.deliver_interaction(url(adapter), payload)
        assert status == 200 and elapsed < 3.0
        press = await core.wait_until(lambda: core.presses[0] if core.presses else None)
        assert press.message == ref
        assert press.action == "no:12"
        assert press.sender == Sender(NURSE, "李护士")
        assert press.thread_id == question["ts"]
        assert press.press_id == payload["trigger_id"]

        # acknowledge: the text is shown to the presser only; nothing without text
        await adapter.acknowledge(press)
        await adapter.acknowledge(press, "谢谢反馈")
        (eph,) = await slack.wait_for_ephemeral(1)
        assert eph.user == NURSE and eph.channel == HOSPITAL and eph.text == "谢谢反馈"
        assert eph.thread_ts == question["ts"]

        # edit: new text, the buttons are gone
        await adapter.edit(ref, Reply(chat(HOSPITAL, question["ts"]), "请按以下步骤重置 ✅ 已解决"))
        assert posted.edits and posted.text == "请按以下步骤重置 ✅ 已解决"
        assert posted.action_ids == []
        with pytest.raises(DeliveryError) as info:
            await adapter.edit(
                MessageRef("slack", HOSPITAL, "1600000000.000001"), Reply(m.chat, "x")
            )
        assert info.value.permanent and "message_not_found" in info.value.reason


async def test_interaction_is_acked_fast_while_the_core_is_slow() -> None:
    async with (
        fake_slack() as slack,
        running(slack, stop_timeout=0.2) as (adapter, core),
    ):
        core.delay = 3600.0  # the handling never finishes while the test runs
        card = await adapter.send(
            Reply(chat(DESK), "🎫 工单 #2026-000123", buttons=((Button("接单", "claim:1"),),))
        )
        payload = slack.block_actions_payload(DESK, ENGINEER, card.message_id, "hisbot:0")
        status, _, _ = await slack.deliver_interaction(url(adapter), payload)
        # answered although the handling is still running: acked once stored, not once handled
        assert status == 200 and slack.deliveries[-1].acked_in_time
        await core.wait_until(lambda: core.presses, what="the press")


# ------------------------------------------------------------------ slash command


async def test_slash_command_becomes_a_command_and_is_answered_ephemerally() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        status, body, elapsed = await slack.deliver_command(
            url(adapter), "/hisbot", "ticket 2026-000123", user_id=NURSE, channel_id=HOSPITAL
        )
        assert status == 200 and elapsed < 3.0 and body == ""
        m = await core.wait_until(lambda: core.messages[0] if core.messages else None)
        assert m.text == "/ticket 2026-000123" and m.mentions_bot
        assert m.chat == chat(HOSPITAL) and m.sender == Sender(NURSE, "李护士")
        (eph,) = await slack.wait_for_ephemeral(1)
        assert eph.source == "chat.postEphemeral"
        assert eph.user == NURSE and eph.channel == HOSPITAL and eph.thread_ts is None
        assert eph.text == "收到：/ticket 2026-000123"
        assert slack.posted() == []  # nothing public

        # no sub-command: the usage, in the ack itself; the core is not called
        status, body, _ = await slack.deliver_command(
            url(adapter), "/hisbot", "", user_id=NURSE, channel_id=HOSPITAL
        )
        assert status == 200 and USAGE in body
        await asyncio.sleep(0.1)
        assert len(core.messages) == 1


async def test_slash_command_where_the_bot_is_not_a_member_answers_via_response_url() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        slack.add_channel("C0STRANGE1", bot_member=False)
        await slack.deliver_command(
            url(adapter), "/hisbot", "tickets", user_id=NURSE, channel_id="C0STRANGE1"
        )
        (response,) = await slack.wait_for_response(1)
        assert response.origin == "command" and response.response_type == "ephemeral"
        assert response.text == "收到：/tickets"
        assert core.messages[0].chat == chat("C0STRANGE1")


async def test_replayed_interactions_and_slash_commands_reach_the_core_once() -> None:
    """A captured request sent again within the signature's 5 minutes (same trigger_id,
    freshly signed) is acknowledged but not acted on twice."""
    async with fake_slack() as slack, running(slack) as (adapter, core):
        card = await adapter.send(
            Reply(chat(DESK), "🎫 工单 #2026-000123", buttons=((Button("接单", "claim:1"),),))
        )
        payload = slack.block_actions_payload(DESK, ENGINEER, card.message_id, "hisbot:0")
        command = slack.command_payload("/hisbot", "tickets", user_id=NURSE, channel_id=HOSPITAL)
        for _ in range(3):
            status, _, _ = await slack.deliver_interaction(url(adapter), payload)
            assert status == 200
            status, _, _ = await slack.deliver_command(url(adapter), fields=command)
            assert status == 200
        await core.wait_until(lambda: core.presses and core.messages, what="press and command")
        await asyncio.sleep(0.2)
        assert len(core.presses) == 1 and len(core.messages) == 1
        # a new press of the same button (a new trigger_id) is a new action
        again = slack.block_actions_payload(DESK, ENGINEER, card.message_id, "hisbot:0")
        await slack.deliver_interaction(url(adapter), again)
        await core.wait_until(lambda: len(core.presses) == 2, what="the second press")


async def test_an_event_the_core_cannot_store_is_not_acknowledged() -> None:
    """HTTP: answered 500, so Slack retries; the retry is taken (not dropped as a duplicate)
    and stored once. Socket Mode: no ack for the envelope; Slack's redelivery is acked."""
    async with fake_slack() as slack, running(slack) as (adapter, core):
        core.echo = False
        core.unavailable["存不下"] = 1
        event = slack.message_event(HOSPITAL, NURSE, "存不下")
        status, _, _ = await slack.deliver_event(url(adapter), event)
        assert status == 500
        status, _, _ = await slack.deliver_event(url(adapter), event, retry_num=1)
        assert status == 200
        assert core.refused == ["存不下"] and [m.text for m in core.messages] == ["存不下"]
    async with fake_slack() as slack, running(slack, mode="socket") as (_, core):
        core.echo = False
        core.unavailable["存不下"] = 1
        event = slack.message_event(HOSPITAL, NURSE, "存不下")
        first = await slack.socket_send("events_api", event)
        await core.wait_until(lambda: core.refused, what="the refusal")
        again = await slack.socket_redeliver(first)
        await core.wait_until(lambda: core.messages, what="the redelivery")
        await slack.wait_until(lambda: slack.envelopes[again].acked, what="the ack")
        assert not slack.envelopes[first].acked


# ------------------------------------------------------------------ outbound delivery


async def test_429_storm_loses_nothing_and_duplicates_nothing() -> None:
    async with fake_slack() as slack, running(slack, post_interval=0.01) as (adapter, _):
        slack.fail_next("chat.postMessage", times=3, status=429, retry_after=1)
        slack.fail_ratio("chat.postMessage", 0.5, seed=7, status=429, retry_after=0)
        texts = {ch: [f"{ch} 第{i}条" for i in range(6)] for ch in (HOSPITAL, DESK)}

        async def burst(channel: str) -> list[MessageRef]:
            return [await adapter.send(Reply(chat(channel), t)) for t in texts[channel]]

        started = time.monotonic()
        refs = await asyncio.gather(burst(HOSPITAL), burst(DESK))
        assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
        throttled = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
        assert len(throttled) >= 3
        for channel, sent in zip((HOSPITAL, DESK), refs, strict=True):
            posted = slack.posted(channel)
            assert [p.text for p in posted] == texts[channel]  # all, once, in order
            assert [r.message_id for r in sent] == [p.ts for p in posted]


async def test_posts_are_paced_per_channel_within_slacks_limit() -> None:
    limits = RateLimits(post_per_second=1.0, post_burst=1)
    async with (
        fake_slack(enforce_limits=True, limits=limits, time_scale=0.1) as slack,
        running(slack, post_interval=0.1) as (adapter, _),
    ):
        await asyncio.gather(*(adapter.send(Reply(chat(HOSPITAL), f"第{i}条")) for i in range(5)))
        calls = slack.calls_to("chat.postMessage")
        assert [c.status for c in calls] == [200] * 5  # never throttled
        assert [p.text for p in slack.posted(HOSPITAL)] == [f"第{i}条" for i in range(5)]
        gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
        assert min(gaps) >= 0.09


async def test_server_errors_and_dropped_connections_are_retried_without_duplicates() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, _):
        slack.fail_next("chat.postMessage", times=1, status=500)
        slack.fail_next("chat.postMessage", times=1, status=0)  # connection dropped
        slack.fail_next("chat.postMessage", times=1, status=503)
        ref = await adapter.send(Reply(chat(HOSPITAL), "稍后重试"))
        assert [p.text for p in slack.posted(HOSPITAL)] == ["稍后重试"]
        assert ref.message_id == slack.posted(HOSPITAL)[0].ts

        slack.fail_next("chat.postMessage", times=10, status=500)
        with pytest.raises(DeliveryError) as info:
            await adapter.send(Reply(chat(HOSPITAL), "一直失败"))
        assert not info.value.permanent and "4 attempts" in info.value.reason
        assert len(slack.posted(HOSPITAL)) == 1


async def test_a_post_whose_answer_was_lost_is_found_not_sent_again() -> None:
    """Slack took the post but the answer never arrived (timeout): before retrying, the
    adapter looks for the post's metadata marker in the channel/thread and keeps that one.

    FakeSlack has no conversations.history/replies and drops connections only before
    handling, so both halves are simulated around the real client here."""
    async with fake_slack() as slack, running(slack) as (adapter, _):
        client = adapter.client
        real_post = client.chat_postMessage
        lookups: list[str] = []

        async def post_then_time_out(**kwargs: Any) -> Any:
            await real_post(**kwargs)
            if len(slack.posted()) == 1:
                raise TimeoutError  # the answer is lost on the way back
            raise AssertionError("posted twice")

        def history(thread: bool) -> Callable[..., Any]:
            async def lookup(**kwargs: Any) -> Any:
                lookups.append("replies" if thread else "history")
                assert float(kwargs["oldest"]) < time.time()
                # (FakeSlack's ts are not wall-clock times: no ``oldest`` filter here)
                messages = [p.message for p in slack.posted(kwargs["channel"])]
                return {"ok": True, "messages": messages}  # what the adapter reads of it

            return lookup

        client.chat_postMessage = post_then_time_out  # type: ignore[method-assign]
        client.conversations_history = history(False)  # type: ignore[method-assign]
        client.conversations_replies = history(True)  # type: ignore[method-assign]
        ref = await adapter.send(Reply(chat(HOSPITAL), "只发一次", reply_to="1699999999.000100"))
        (posted,) = slack.posted(HOSPITAL)
        assert ref == MessageRef("slack", HOSPITAL, posted.ts)
        assert posted.message["metadata"]["event_type"] == "hisbot_reply"
        assert lookups == ["replies"]


async def test_bot_removed_gives_a_chat_event_and_sends_fail_permanently() -> None:
    async with fake_slack() as slack, running(slack) as (adapter, core):
        left = slack.member_left_channel(HOSPITAL)  # the bot is removed
        await slack.deliver_event(url(adapter), left)
        event = await core.wait_until(lambda: core.events[0] if core.events else None)
        # the envelope's event id comes along: the inbox stores each occurrence once
        event_id = slack.deliveries[-1].event_id or ""
        assert event_id and event == ChatEvent(
            ChatEventKind.BOT_REMOVED, chat(HOSPITAL), event_id=event_id
        )
        with pytest.raises(DeliveryError) as info:
            await adapter.send(Reply(chat(HOSPITAL), "还在吗"))
        assert info.value.permanent and "not_in_channel" in info.value.reason
        # someone else leaving is no event
        await slack.deliver_event(url(adapter), slack.member_left_channel(OTHER, NURSE))

        archived = slack.channel_archive_event(DESK)
        await slack.deliver_event(url(adapter), archived)
        await core.wait_until(lambda: len(core.events) >= 2, what="the archive event")
        assert core.events[1] == ChatEvent(
            ChatEventKind.ARCHIVED, chat(DESK), event_id=slack.deliveries[-1].event_id or ""
        )
        with pytest.raises(DeliveryError) as info2:
            await adapter.send(Reply(chat(DESK), "归档了"))
        assert info2.value.permanent and "is_archived" in info2.value.reason

        renamed = slack.channel_rename_event(OTHER, "his-新名字")
        await slack.deliver_event(url(adapter), renamed)
        await core.wait_until(lambda: len(core.events) >= 3, what="the rename event")
        assert core.events[2] == ChatEvent(
            ChatEventKind.RENAMED,
            chat(OTHER),
            title="his-新名字",
            event_id=slack.deliveries[-1].event_id or "",
        )

        with pytest.raises(DeliveryError) as info3:
            await adapter.send(Reply(chat("C0NOWHERE1"), "无此频道"))
        assert info3.value.permanent and "channel_not_found" in info3.value.reason


async def test_bad_bot_token_fails_start_without_leaking_it() -> None:
    async with fake_slack() as slack:
        adapter = SlackAdapter(
            "xoxb-wrong-token",
            settings_for(slack),
            signing_secret=slack.signing_secret,
            logger=logging.getLogger(LOGGER),
        )
        with pytest.raises(RuntimeError, match="invalid_auth") as info:
            await adapter.start(RecordingCore().handlers())
        assert "xoxb-wrong-token" not in str(info.value)
        await adapter.stop()


# ------------------------------------------------------------------ Socket Mode


async def test_socket_mode_delivers_events_acks_and_dedupes_retries() -> None:
    async with fake_slack() as slack, running(slack, "socket") as (adapter, core):
        assert adapter.http_url is None
        (conn,) = await slack.wait_for_connections(1)
        assert conn.open
        assert [c.token for c in slack.calls_to("apps.connections.open")] == [slack.app_token]

        event = slack.message_event(HOSPITAL, NURSE, "socket 模式的问题")
        envelope = await slack.socket_send("events_api", event)
        ack = await slack.wait_for_ack(envelope)
        assert ack.latency < 1.0
        m = await core.message(event["ts"])
        assert m.text == "socket 模式的问题" and m.sender.display_name == "李护士"
        await slack.wait_for_post(lambda p: p.thread_ts == event["ts"])

        retry = await slack.socket_redeliver(envelope)
        await slack.wait_for_ack(retry)

        # a button press and a slash command over the socket
        posted = slack.posted(HOSPITAL)[0]
        await adapter.edit(
            MessageRef("slack", HOSPITAL, posted.ts),
            Reply(chat(HOSPITAL), "有按钮", buttons=((Button("转工程师", "esc:1"),),)),
        )
        payload = slack.block_actions_payload(HOSPITAL, NURSE, posted.ts, "hisbot:0")
        press_env = await slack.socket_send("interactive", payload)
        assert (await slack.wait_for_ack(press_env)).latency < 1.0
        press = await core.wait_until(lambda: core.presses[0] if core.presses else None)
        assert press.action == "esc:1"

        command = slack.command_payload("/hisbot", "", user_id=NURSE, channel_id=HOSPITAL)
        cmd_env = await slack.socket_send("slash_commands", command)
        cmd_ack = await slack.wait_for_ack(cmd_env)
        assert cmd_ack.payload is not None and cmd_ack.payload.get("text") == USAGE

        await asyncio.sleep(0.2)
        assert [x.message_id for x in core.messages] == [event["ts"]]  # retry dropped
        assert len(slack.posted(HOSPITAL)) == 1

        # Slack recycles the connection: slack_sdk reconnects and events keep coming
        await slack.socket_disconnect("refresh_requested", close_after=0.5)
        await slack.wait_for_connections(2)
        await slack.wait_until(lambda: len(slack.open_connections) == 1, what="one connection")
        later = slack.message_event(OTHER, NURSE, "重连之后")
        await slack.wait_for_ack(await slack.socket_send("events_api", later))
        await core.message(later["ts"])


async def test_socket_mode_with_a_bad_app_token_fails_start() -> None:
    async with fake_slack() as slack:
        adapter = SlackAdapter(
            slack.bot_token,
            settings_for(slack, "socket"),
            app_token="xapp-wrong",
            logger=logging.getLogger(LOGGER),
        )
        with pytest.raises(RuntimeError, match="invalid_auth") as info:
            await adapter.start(RecordingCore().handlers())
        assert "xapp-wrong" not in str(info.value)
        assert slack.open_connections == []


def test_constructor_refuses_unauthenticated_setups() -> None:
    http = SlackSettings(mode="http")
    with pytest.raises(ValueError, match="signing secret"):
        SlackAdapter("xoxb-1", http)
    with pytest.raises(ValueError, match="app-level token"):
        SlackAdapter("xoxb-1", SlackSettings(mode="socket"), signing_secret="s")
