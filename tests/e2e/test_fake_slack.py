"""The fake Slack platform speaks the real slack_sdk / slack_bolt wire protocol.

Every test drives the unmodified libraries (AsyncWebClient and its retry handlers, a bolt
AsyncApp behind bolt's own aiohttp server, AsyncSocketModeHandler on slack_sdk's aiohttp
SocketModeClient) against ``tests.fakes.slack_api.FakeSlack`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

# tests/e2e has no __init__.py: make `tests.fakes` importable whatever pytest's rootdir mode.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fakes.slack_api import FakeSlack, RateLimits  # noqa: E402

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SECRET = "s3cr3t"
OPS = "C0HISOPS"
WARD = "G0WARD7"
NURSE = "U0NURSE1"
TS_RE = re.compile(r"^\d{10}\.\d{6}$")
TICKET_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*工单 2026-000123* 打印机无法打印"}},
    {
        "type": "actions",
        "block_id": "ticket_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "close_ticket",
                "text": {"type": "plain_text", "text": "关闭工单"},
                "value": "2026-000123",
            }
        ],
    },
]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN, signing_secret=SECRET) as fake:
        fake.add_channel(OPS, name="his-ops")
        fake.add_channel(WARD, name="ward-7")
        fake.add_user(NURSE, name="zhang.hushi", real_name="张护士", display_name="小张")
        yield fake


def web_client(slack: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, **kwargs)


def bolt_app(slack: FakeSlack) -> AsyncApp:
    # token= next to client= is ignored by bolt (with a warning): the client carries the token
    return AsyncApp(client=web_client(slack), signing_secret=slack.signing_secret)


@contextlib.asynccontextmanager
async def serve_bolt(app: AsyncApp) -> AsyncIterator[str]:
    """bolt's own aiohttp server (AsyncSlackAppServer.web_app) on a free loopback port."""
    server = AsyncSlackAppServer(port=0, path="/slack/events", app=app, host="127.0.0.1")
    runner = web.AppRunner(server.web_app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def socket_mode(app: AsyncApp, slack: FakeSlack) -> AsyncIterator[AsyncSocketModeHandler]:
    handler = AsyncSocketModeHandler(
        app, slack.app_token, web_client=AsyncWebClient(base_url=slack.api_url)
    )
    await handler.connect_async()
    try:
        yield handler
    finally:
        await handler.close_async()
        await asyncio.sleep(0)  # let the client's cancelled tasks finish


# ---------------------------------------------------------------------- Web API


async def test_post_and_update_round_trip(slack: FakeSlack) -> None:
    client = web_client(slack)
    first = await client.chat_postMessage(channel=OPS, text="工单已登记", blocks=TICKET_BLOCKS)
    assert first["ok"] and first["channel"] == OPS and TS_RE.match(first["ts"])
    assert first["message"]["bot_id"] == "BBOT" and first["message"]["user"] == "UBOT"
    reply = await client.chat_postMessage(channel=OPS, text="处理中", thread_ts=first["ts"])
    assert float(reply["ts"]) > float(first["ts"])

    updated = await client.chat_update(channel=OPS, ts=first["ts"], text="工单已关闭", blocks=[])
    assert updated["ts"] == first["ts"] and updated["text"] == "工单已关闭"

    parent, answer = slack.posted(OPS)
    assert parent.text == "工单已关闭" and parent.blocks is None and len(parent.edits) == 1
    assert parent.message["reply_count"] == 1
    assert answer.thread_ts == first["ts"] and answer.is_reply
    call = slack.calls_to("chat.postMessage")[0]
    # slack_sdk sends chat.* as JSON with the token in the Authorization header
    assert call.content_type == "application/json" and call.token == BOT_TOKEN
    assert call.params["blocks"] == TICKET_BLOCKS
    assert (await slack.wait_for_post(2)) == [parent, answer]


async def test_read_methods_reactions_files_and_ephemeral(slack: FakeSlack) -> None:
    client = web_client(slack)
    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T1")
    assert "chat:write" in auth.headers["x-oauth-scopes"]

    user = await client.users_info(user=NURSE)
    assert user["user"]["real_name"] == "张护士"
    assert user["user"]["profile"]["display_name"] == "小张"
    info = await client.conversations_info(channel=WARD)
    assert info["channel"]["is_private"] and info["channel"]["name"] == "ward-7"

    ev = slack.message_event(OPS, NURSE, "截图见附件", files=["error.png"])
    assert ev["subtype"] == "file_share" and ev["channel_type"] == "channel"
    f = (await client.files_info(file=ev["files"][0]["id"]))["file"]
    assert f["name"] == "error.png" and f["mimetype"] == "image/png"
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
        async with http.get(f["url_private_download"], headers=headers) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"\x89PNG")
        async with http.get(f["url_private"]) as resp:  # no token: Slack's login page
            assert resp.status == 200 and resp.content_type == "text/html"

    await client.reactions_add(channel=OPS, timestamp=ev["ts"], name="eyes")
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel=OPS, timestamp=ev["ts"], name="eyes")
    assert err.value.response["error"] == "already_reacted"
    link = await client.chat_getPermalink(channel=OPS, message_ts=ev["ts"])
    assert link["permalink"].endswith(f"/archives/{OPS}/p{ev['ts'].replace('.', '')}")

    eph = await client.chat_postEphemeral(channel=OPS, user=NURSE, text="仅你可见")
    assert TS_RE.match(eph["message_ts"])
    assert [(e.user, e.text) for e in await slack.wait_for_ephemeral()] == [(NURSE, "仅你可见")]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_api_errors(slack: FakeSlack) -> None:
    client = web_client(slack)

    async def error_of(coro: Any) -> tuple[int, str]:
        with pytest.raises(SlackApiError) as err:
            await coro
        return err.value.response.status_code, err.value.response["error"]

    assert await error_of(client.api_call("chat.frobnicate")) == (404, "unknown_method")
    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert await error_of(bad.auth_test()) == (200, "invalid_auth")
    assert await error_of(AsyncWebClient(base_url=slack.api_url).auth_test()) == (
        200,
        "not_authed",
    )
    assert await error_of(client.apps_connections_open(app_token=BOT_TOKEN)) == (
        200,
        "not_allowed_token_type",
    )
    assert await error_of(client.chat_postMessage(channel="C0NOWHERE", text="x")) == (
        200,
        "channel_not_found",
    )
    assert await error_of(client.chat_postMessage(channel=OPS, text=" ")) == (200, "no_text")
    assert await error_of(
        client.chat_postMessage(channel=OPS, text="x", blocks=[{"text": "no type"}])
    ) == (200, "invalid_blocks")
    assert await error_of(client.chat_update(channel=OPS, ts="1.000000", text="x")) == (
        200,
        "message_not_found",
    )

    slack.remove_bot(OPS)
    slack.remove_bot(WARD)
    assert await error_of(client.chat_postMessage(channel=OPS, text="x")) == (
        200,
        "not_in_channel",
    )
    assert await error_of(client.chat_postMessage(channel=WARD, text="x")) == (
        200,
        "channel_not_found",
    )
    assert (await client.conversations_info(channel=OPS))["channel"]["is_member"] is False
    slack.add_bot(OPS)
    slack.archive(OPS)
    assert await error_of(client.chat_postMessage(channel=OPS, text="x")) == (200, "is_archived")
    assert slack.posted() == []
    assert [c.error for c in slack.calls_to("chat.postMessage")][-3:] == [
        "not_in_channel",
        "channel_not_found",
        "is_archived",
    ]


async def test_429_is_retried_by_the_rate_limit_retry_handler(slack: FakeSlack) -> None:
    # Without a handler the 429 surfaces as SlackApiError carrying Retry-After.
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=1)
    with pytest.raises(SlackApiError) as err:
        await web_client(slack).chat_postMessage(channel=OPS, text="x")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "1"
    assert slack.posted() == []

    # AsyncRateLimitErrorRetryHandler sleeps int(Retry-After) + random() and retries.
    retrying = web_client(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(1)])
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=1)
    resp = await retrying.chat_postMessage(channel=OPS, text="请稍候")
    assert resp["ok"]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 429, 200]
    assert [m.text for m in slack.posted()] == ["请稍候"]  # exactly one message


async def test_enforced_channel_limit_burst_then_429() -> None:
    async with FakeSlack(enforce_limits=True, limits=RateLimits(post_burst=3)) as slack:
        slack.add_channel(OPS)
        slack.add_channel(WARD)
        client = web_client(slack)
        for i in range(3):
            await client.chat_postMessage(channel=OPS, text=f"消息 {i}")
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel=OPS, text="太快了")
        assert err.value.response.status_code == 429
        assert int(err.value.response.headers["Retry-After"]) >= 1
        await client.chat_postMessage(channel=WARD, text="另一个频道不受影响")
        assert len(slack.posted(OPS)) == 3 and len(slack.posted(WARD)) == 1


async def test_server_errors_drops_and_seeded_ratio(slack: FakeSlack) -> None:
    slack.fail_next("auth.test", 1, status=503)
    with pytest.raises(SlackApiError) as err:
        await web_client(slack).auth_test()
    assert err.value.response.status_code == 503
    # a dropped connection is retried once by slack_sdk's default connection-error handler
    slack.fail_next("auth.test", 1, status=0)
    assert (await web_client(slack).auth_test())["ok"]
    assert [c.status for c in slack.calls_to("auth.test")] == [503, 0, 200]

    async def pattern(fake: FakeSlack) -> list[bool]:
        fake.fail_ratio("users.info", 0.5, seed=7, status=200, error="fatal_error")
        client = web_client(fake, retry_handlers=[])
        out = []
        for _ in range(12):
            try:
                await client.users_info(user="UBOT")
                out.append(True)
            except SlackApiError as exc:
                assert exc.response["error"] == "fatal_error"
                out.append(False)
        return out

    async with FakeSlack() as other:
        first, second = await pattern(slack), await pattern(other)
    assert first == second and 0 < first.count(False) < 12


# ---------------------------------------------------------------------- bolt, HTTP mode


async def test_bolt_http_signed_event_runs_handler_and_says_in_thread(slack: FakeSlack) -> None:
    app = bolt_app(slack)
    seen: list[tuple[str, Any]] = []

    @app.message("打印机")
    async def on_printer(message: dict, say: Any, body: dict, request: Any) -> None:
        seen.append((body["event_id"], request.headers.get("x-slack-retry-num")))
        await say(text=f"收到：{message['text']}", thread_ts=message["ts"])

    async with serve_bolt(app) as url:
        assert (await slack.deliver_url_verification(url, challenge="abc123"))[:2] == (
            200,
            '{"challenge": "abc123"}',
        )
        event = slack.message_event(OPS, NURSE, "三楼护士站打印机坏了")
        status, body, elapsed = await slack.deliver_event(url, event)
        assert (status, body) == (200, "") and elapsed < 3.0
        reply = await slack.wait_for_post(lambda m: m.thread_ts == event["ts"])
        assert reply.text == "收到：三楼护士站打印机坏了" and reply.channel == OPS

        # Slack's retry: same event_id plus X-Slack-Retry-Num; bolt does NOT de-duplicate
        status, _, _ = await slack.deliver_event(url, event, retry_num=1)
        assert status == 200
        await slack.wait_for_post(2)
        event_id = slack.deliveries[-1].event_id
        assert seen == [(event_id, None), (event_id, ["1"])]

        # our own bot's messages are dropped by bolt's ignoring_self_events middleware
        own = slack.message_event(OPS, None, "打印机已修复", bot_id="BBOT")
        assert (await slack.deliver_event(url, own))[0] == 200
    assert len(seen) == 2 and len(slack.posted()) == 2
    assert len(slack.calls_to("auth.test")) == 1  # bolt caches the auth.test result


async def test_bolt_rejects_bad_signature_and_stale_timestamp(slack: FakeSlack) -> None:
    app = bolt_app(slack)
    ran: list[dict] = []

    @app.event("message")
    async def on_message(event: dict) -> None:
        ran.append(event)

    async with serve_bolt(app) as url:
        status, body, _ = await slack.deliver_with_bad_signature(url)
        assert (status, body) == (401, '{"error": "invalid request"}')
        status, _, _ = await slack.deliver_with_old_timestamp(url, age_s=301)
        assert status == 401
        assert (await slack.deliver_event(url, slack.message_event(OPS, NURSE, "ok")))[0] == 200
        await slack.wait_until(lambda: ran, what="the handler")
    assert [e["text"] for e in ran] == ["ok"]


async def test_bolt_block_actions_acked_within_3s(slack: FakeSlack) -> None:
    app = bolt_app(slack)
    release = asyncio.Event()

    @app.action("close_ticket")
    async def close_ticket(ack: Any, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        await release.wait()  # slow work after the ack must not delay the HTTP answer
        await client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=f"工单 {action['value']} 已关闭",
            blocks=[],
        )

    posted = await web_client(slack).chat_postMessage(
        channel=OPS, text="工单 2026-000123", blocks=TICKET_BLOCKS
    )
    payload = slack.block_actions_payload(OPS, NURSE, posted["ts"], "close_ticket")
    assert payload["actions"][0]["value"] == "2026-000123"
    assert payload["actions"][0]["block_id"] == "ticket_actions"
    with pytest.raises(ValueError, match="no element"):
        slack.block_actions_payload(OPS, NURSE, posted["ts"], "reopen_ticket")

    async with serve_bolt(app) as url:
        status, body, elapsed = await slack.deliver_interaction(url, payload)
        assert (status, body) == (200, "") and elapsed < 3.0
        message = slack.posted(OPS)[0]
        assert message.edits == []  # answered while the handler is still working
        release.set()
        await slack.wait_until(lambda: message.edits, what="chat.update")
    assert message.text == "工单 2026-000123 已关闭" and message.blocks is None


async def test_bolt_slash_command_respond_posts_to_response_url(slack: FakeSlack) -> None:
    app = bolt_app(slack)

    @app.command("/hisbot")
    async def hisbot(ack: Any, respond: Any, command: dict) -> None:
        await ack()
        ticket = command["text"].split()[-1]
        await respond(f"工单 {ticket} 状态：处理中")
        await respond(
            text=f"{command['user_name']} 查询了工单 {ticket}", response_type="in_channel"
        )

    async with serve_bolt(app) as url:
        status, _, elapsed = await slack.deliver_command(
            url, "/hisbot", "ticket 2026-000123", user_id=NURSE, channel_id=OPS
        )
        assert status == 200 and elapsed < 3.0
        first, second = await slack.wait_for_response(2)
    assert (first.origin, first.response_type, first.use) == ("command", "ephemeral", 1)
    assert first.text == "工单 2026-000123 状态：处理中" and first.user == NURSE
    assert [e.source for e in slack.ephemeral] == ["response_url"]
    assert second.use == 2 and [m.text for m in slack.posted(OPS)] == [
        "zhang.hushi 查询了工单 2026-000123"
    ]


async def test_bolt_routes_lifecycle_event_helpers(slack: FakeSlack) -> None:
    app = bolt_app(slack)
    got: list[tuple[str, str | None]] = []

    async def record(event: dict) -> None:
        got.append((event["type"], event.get("subtype")))

    app.event({"type": "message", "subtype": "message_changed"})(record)
    app.event({"type": "message", "subtype": "message_deleted"})(record)
    for kind in ("channel_rename", "channel_archive", "member_left_channel", "group_left"):
        app.event(kind)(record)

    client = web_client(slack)
    async with serve_bolt(app) as url:
        msg = slack.message_event(OPS, NURSE, "HIS 报错 E1024")
        changed = slack.message_changed_event(OPS, msg["ts"], "HIS 报错 E1025")
        assert changed["previous_message"]["text"] == "HIS 报错 E1024"
        assert changed["message"]["edited"]["user"] == NURSE
        deleted = slack.message_deleted_event(OPS, msg["ts"])
        events = [
            changed,
            deleted,
            slack.channel_rename_event(OPS, "his-ops-2026"),
            slack.member_left_channel(OPS),  # the bot was removed
            slack.group_left(WARD, actor_id=NURSE),
        ]
        for event in events:
            assert (await slack.deliver_event(url, event))[0] == 200
        await slack.wait_until(lambda: len(got) == len(events), what="all events handled")
        assert got == [
            ("message", "message_changed"),
            ("message", "message_deleted"),
            ("channel_rename", None),
            ("member_left_channel", None),
            ("group_left", None),
        ]
        assert (await client.conversations_info(channel=OPS))["channel"]["name"] == "his-ops-2026"
        with pytest.raises(SlackApiError, match="not_in_channel"):
            await client.chat_postMessage(channel=OPS, text="x")
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await client.chat_postMessage(channel=WARD, text="x")

        slack.add_channel("C0ARCHIVE")
        assert (await slack.deliver_event(url, slack.channel_archive_event("C0ARCHIVE")))[0] == 200
        await slack.wait_until(lambda: ("channel_archive", None) in got, what="archive event")
        with pytest.raises(SlackApiError, match="is_archived"):
            await client.chat_postMessage(channel="C0ARCHIVE", text="x")


# ---------------------------------------------------------------------- Socket Mode


async def test_socket_mode_event_acked_and_handled(slack: FakeSlack) -> None:
    app = bolt_app(slack)
    retry_headers: list[Any] = []

    @app.event("app_mention")
    async def on_mention(event: dict, say: Any, request: Any) -> None:
        retry_headers.append(request.headers.get("x-slack-retry-num"))
        await say(text="已为您登记工单", thread_ts=event["ts"])

    @app.command("/hisbot")
    async def hisbot(ack: Any, command: dict) -> None:
        await ack(f"已收到：{command['text']}")

    async with socket_mode(app, slack):
        (conn,) = await slack.wait_for_connections(1)
        assert conn.received == [] and slack.calls_to("apps.connections.open")[0].token == APP_TOKEN
        event = slack.app_mention_event(OPS, NURSE, "HIS 挂号系统登不上")
        assert event["text"].startswith("<@UBOT> ")
        envelope_id = await slack.socket_send("events_api", event)
        ack = await slack.wait_for_ack(envelope_id)
        assert ack.raw == {"envelope_id": envelope_id} and ack.latency < 3.0
        reply = await slack.wait_for_post(lambda m: m.thread_ts == event["ts"])
        assert reply.text == "已为您登记工单"
        # Slack's redelivery: new envelope, same event_id, retry_attempt 1
        retry_id = await slack.socket_redeliver(envelope_id)
        await slack.wait_for_ack(retry_id)
        await slack.wait_for_post(2)
        first, again = (slack.envelopes[e].payload for e in (envelope_id, retry_id))
        assert first["event_id"] == again["event_id"]

        # slash commands accept a response payload: bolt puts ack()'s text into the ack
        cmd_id = await slack.socket_send("slash_commands", slack.command_payload(text="帮助"))
        assert (await slack.wait_for_ack(cmd_id)).payload == {"text": "已收到：帮助"}
    # bolt maps the envelope's retry_attempt (0 on a first delivery) to x-slack-retry-num
    assert retry_headers == [["0"], ["1"]]
    assert not conn.open


async def test_socket_mode_reconnects_after_disconnect(slack: FakeSlack) -> None:
    app = bolt_app(slack)

    @app.event("message")
    async def on_message(event: dict, say: Any) -> None:
        await say(text=f"回复：{event['text']}", thread_ts=event["ts"])

    async with socket_mode(app, slack):
        (old,) = await slack.wait_for_connections(1)
        await slack.socket_disconnect("refresh_requested")
        conns = await slack.wait_for_connections(2)
        await slack.wait_until(lambda: not old.open, what="the old socket closed by the client")
        assert len(slack.calls_to("apps.connections.open")) == 2
        envelope_id = await slack.socket_send("events_api", slack.message_event(OPS, NURSE, "在吗"))
        ack = await slack.wait_for_ack(envelope_id)
        assert ack.connection_id == conns[1].id
        await slack.wait_for_post(lambda m: m.text == "回复：在吗")
