"""adapters.slack's translation (events, blocks, mrkdwn, ids) on payloads shaped like Slack's
(Events API, interactivity, slash commands), as documented and as recorded from a workspace:
pure functions, no I/O."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.base import (
    Attachment,
    Button,
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    Citation,
    MessageRef,
    Reply,
    Sender,
)
from adapters.slack.blocks import (
    MAX_SECTION_TEXT,
    TRUNCATED_MARKER,
    render,
    render_ephemeral,
    render_update,
)
from adapters.slack.events import (
    message_user,
    to_button_press,
    to_chat_event,
    to_command,
    to_incoming,
    user_display_name,
)
from adapters.slack.ids import ACTION_PREFIX, command_message_id, command_user, ts_to_datetime
from adapters.slack.mrkdwn import decode_text, escape
from adapters.slack.settings import SlackSettings
from bot.infra.config import ConfigError, load_settings

BOT = "U0BOT1234"
BOT_ID = "B0BOT1234"
USER = "U0WANG001"
NURSE = "U0LI00002"
CHANNEL = "C0HOSP001"
DESK = "C0DESK001"
TS = "1716530400.123456"
THREAD = "1716530000.000100"


def envelope(event: dict[str, Any], event_id: str = "Ev0MSG0001") -> dict[str, Any]:
    """An Events API ``event_callback`` envelope (what a Slack POST body carries)."""
    return {
        "token": "XXYYZZ",
        "team_id": "T0HISVEND",
        "api_app_id": "A0HISBOT1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("event_ts", TS))),
        "authorizations": [
            {"team_id": "T0HISVEND", "user_id": BOT, "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMEhJUyJ9",
    }


# Recorded-shaped payloads (ids anonymised). JSON text, as Slack sends it.
MESSAGE = json.loads(
    """{
      "client_msg_id": "5b9a1f3e-2c4d-4e7a-9b1c-0d2e3f4a5b6c",
      "type": "message",
      "text": "<@U0BOT1234> HIS 挂号界面打不开 &lt;急&gt; &amp; 报错 E1024",
      "user": "U0WANG001",
      "ts": "1716530400.123456",
      "blocks": [{"type": "rich_text", "block_id": "x1", "elements": []}],
      "team": "T0HISVEND",
      "channel": "C0HOSP001",
      "event_ts": "1716530400.123456",
      "channel_type": "channel"
    }"""
)
THREAD_REPLY = json.loads(
    """{
      "client_msg_id": "0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5",
      "type": "message",
      "text": "还是不行",
      "user": "U0WANG001",
      "ts": "1716530500.000200",
      "team": "T0HISVEND",
      "thread_ts": "1716530000.000100",
      "parent_user_id": "U0WANG001",
      "channel": "C0HOSP001",
      "event_ts": "1716530500.000200",
      "channel_type": "channel"
    }"""
)
APP_MENTION = json.loads(
    """{
      "client_msg_id": "5b9a1f3e-2c4d-4e7a-9b1c-0d2e3f4a5b6c",
      "type": "app_mention",
      "text": "<@U0BOT1234> HIS 挂号界面打不开 &lt;急&gt; &amp; 报错 E1024",
      "user": "U0WANG001",
      "ts": "1716530400.123456",
      "team": "T0HISVEND",
      "channel": "C0HOSP001",
      "event_ts": "1716530400.123456"
    }"""
)
MESSAGE_CHANGED = json.loads(
    """{
      "type": "message",
      "subtype": "message_changed",
      "message": {
        "client_msg_id": "5b9a1f3e-2c4d-4e7a-9b1c-0d2e3f4a5b6c",
        "type": "message",
        "text": "打印机卡纸了",
        "user": "U0WANG001",
        "team": "T0HISVEND",
        "edited": {"user": "U0WANG001", "ts": "1716530460.000000"},
        "ts": "1716530400.123456",
        "source_team": "T0HISVEND",
        "user_team": "T0HISVEND"
      },
      "previous_message": {
        "client_msg_id": "5b9a1f3e-2c4d-4e7a-9b1c-0d2e3f4a5b6c",
        "type": "message",
        "text": "打印机坏了",
        "user": "U0WANG001",
        "ts": "1716530400.123456",
        "team": "T0HISVEND"
      },
      "channel": "C0HOSP001",
      "hidden": true,
      "ts": "1716530460.000300",
      "event_ts": "1716530460.000300",
      "channel_type": "channel"
    }"""
)
FILE_SHARE = json.loads(
    """{
      "type": "message",
      "subtype": "file_share",
      "text": "日志和截图在这里",
      "files": [
        {
          "id": "F0SCREEN01",
          "created": 1716530400,
          "timestamp": 1716530400,
          "name": "报错截图.png",
          "title": "报错截图.png",
          "mimetype": "image/png",
          "filetype": "png",
          "pretty_type": "PNG",
          "user": "U0WANG001",
          "mode": "hosted",
          "size": 48213,
          "url_private": "https://files.slack.com/files-pri/T0HISVEND-F0SCREEN01/x.png",
          "original_w": 1280,
          "original_h": 720
        },
        {
          "id": "F0LOGPDF02",
          "name": "his-error.pdf",
          "title": "his-error.pdf",
          "mimetype": "application/pdf",
          "filetype": "pdf",
          "mode": "hosted",
          "size": 22
        },
        {"id": "F0GONE0003", "mode": "tombstone"},
        {
          "id": "F0CLIP0004",
          "name": "audio_message.webm",
          "mimetype": "audio/webm",
          "subtype": "slack_audio",
          "size": 9001
        }
      ],
      "upload": false,
      "user": "U0WANG001",
      "display_as_bot": false,
      "ts": "1716530400.123456",
      "channel": "C0HOSP001",
      "event_ts": "1716530400.123456",
      "channel_type": "channel"
    }"""
)
BOT_MESSAGE = json.loads(
    """{
      "type": "message",
      "subtype": "bot_message",
      "text": "Nightly backup finished",
      "ts": "1716530400.123456",
      "username": "backup-bot",
      "bot_id": "B0OTHER001",
      "channel": "C0HOSP001",
      "event_ts": "1716530400.123456",
      "channel_type": "channel"
    }"""
)
OWN_MESSAGE = json.loads(
    """{
      "bot_id": "B0BOT1234",
      "type": "message",
      "text": "收到",
      "user": "U0BOT1234",
      "ts": "1716530401.000100",
      "app_id": "A0HISBOT1",
      "team": "T0HISVEND",
      "bot_profile": {"id": "B0BOT1234", "name": "hisbot", "app_id": "A0HISBOT1"},
      "thread_ts": "1716530400.123456",
      "parent_user_id": "U0WANG001",
      "channel": "C0HOSP001",
      "event_ts": "1716530401.000100",
      "channel_type": "channel"
    }"""
)
BLOCK_ACTIONS = json.loads(
    """{
      "type": "block_actions",
      "user": {"id": "U0WANG001", "username": "wang.yi", "name": "wang.yi", "team_id": "T0HISVEND"},
      "api_app_id": "A0HISBOT1",
      "token": "XXYYZZ",
      "container": {
        "type": "message",
        "message_ts": "1716530401.000100",
        "channel_id": "C0HOSP001",
        "is_ephemeral": false,
        "thread_ts": "1716530400.123456"
      },
      "trigger_id": "7345.98765.abcdef0123456789",
      "team": {"id": "T0HISVEND", "domain": "his-vendor"},
      "enterprise": null,
      "is_enterprise_install": false,
      "channel": {"id": "C0HOSP001", "name": "hosp-001-信息科"},
      "message": {
        "bot_id": "B0BOT1234",
        "type": "message",
        "text": "请按以下步骤重置",
        "user": "U0BOT1234",
        "ts": "1716530401.000100",
        "thread_ts": "1716530400.123456",
        "parent_user_id": "U0WANG001",
        "blocks": []
      },
      "state": {"values": {}},
      "response_url": "https://hooks.slack.com/actions/T0HISVEND/1/abc",
      "actions": [
        {
          "action_id": "hisbot:1",
          "block_id": "aB3",
          "text": {"type": "plain_text", "text": "没解决", "emoji": true},
          "value": "no:42",
          "type": "button",
          "action_ts": "1716530470.111111"
        }
      ]
    }"""
)
SLASH_COMMAND = {
    # application/x-www-form-urlencoded fields, as bolt parses them
    "token": "XXYYZZ",
    "team_id": "T0HISVEND",
    "team_domain": "his-vendor",
    "channel_id": CHANNEL,
    "channel_name": "hosp-001-信息科",
    "user_id": USER,
    "user_name": "wang.yi",
    "command": "/hisbot",
    "text": "ticket 2026-000123",
    "api_app_id": "A0HISBOT1",
    "is_enterprise_install": "false",
    "response_url": "https://hooks.slack.com/commands/T0HISVEND/2/xyz",
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
}


# ------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("raw", "expected", "mentioned"),
    [
        ("<@U0BOT1234> 打印机坏了", "打印机坏了", True),
        ("请问 <@U0BOT1234> 打印机", "请问 打印机", True),
        ("打印机 <@U0BOT1234>", "打印机", True),
        ("<@U0BOT1234|hisbot>你好", "你好", True),
        ("a\n<@U0BOT1234> b", "a\nb", True),
        ("找 <@U0LI00002> 看看", "找 @U0LI00002 看看", False),
        ("找 <@U0LI00002|li.nurse>", "找 @li.nurse", False),
        ("见 <#C0HOSP001|信息科>", "见 #信息科", False),
        ("<!here> 系统宕机", "@here 系统宕机", False),
        ("<!subteam^S0ONCALL|@oncall> 帮忙", "@oncall 帮忙", False),
        ("看 <https://his.example/kb?a=1&amp;b=2|知识库>", "看 知识库", False),
        ("<https://his.example/x>", "https://his.example/x", False),
        ("<mailto:it@hosp.cn|it@hosp.cn>", "it@hosp.cn", False),
        ("if a &lt; b &amp;&amp; c &gt; d", "if a < b && c > d", False),
        ("&amp;lt; stays literal", "&lt; stays literal", False),
    ],
)
def test_decode_text(raw: str, expected: str, mentioned: bool) -> None:
    assert decode_text(raw, BOT) == (expected, mentioned)


def test_escape_round_trips_through_decode() -> None:
    nasty = "<b>& 报错 <@U0BOT1234> <!channel> a_b *c* &amp;"
    assert escape(nasty) == (
        "&lt;b&gt;&amp; 报错 &lt;@U0BOT1234&gt; &lt;!channel&gt; a_b *c* &amp;amp;"
    )
    assert decode_text(escape(nasty), BOT) == (nasty, False)


def test_ts_to_datetime() -> None:
    assert ts_to_datetime(TS) == dt.datetime(2024, 5, 24, 6, 0, 0, 123456, tzinfo=dt.UTC)
    assert ts_to_datetime("garbage").tzinfo is not None


def test_user_display_name_prefers_display_then_real_name() -> None:
    user = {"id": USER, "name": "wang.yi", "real_name": "王毅", "profile": {"display_name": ""}}
    assert user_display_name(user) == "王毅"
    user["profile"] = {"display_name": "王医生", "real_name": "王毅"}
    assert user_display_name(user) == "王医生"
    assert user_display_name({"id": USER, "name": "wang.yi"}) == "wang.yi"
    assert user_display_name(None) is None


# ------------------------------------------------------------------ incoming


def test_channel_message_with_mention() -> None:
    m = to_incoming(envelope(MESSAGE)["event"], BOT, bot_id=BOT_ID, display_name="王医生")
    assert m is not None
    assert m.chat == ChatRef("slack", CHANNEL, None)
    assert m.message_id == TS and m.ref == MessageRef("slack", CHANNEL, TS)
    assert m.sender == Sender(USER, "王医生", is_bot=False)
    assert m.text == "HIS 挂号界面打不开 <急> & 报错 E1024"
    assert m.mentions_bot and not m.from_self and not m.edited and not m.forwarded
    assert m.reply_to_message_id is None and m.attachments == ()
    assert m.sent_at == ts_to_datetime(TS)
    assert message_user(MESSAGE) == USER


def test_without_display_name_the_user_id_stands_in() -> None:
    m = to_incoming(MESSAGE, BOT)
    assert m is not None and m.sender == Sender(USER, USER)


def test_app_mention_gives_the_same_message_as_its_message_event() -> None:
    a = to_incoming(APP_MENTION, BOT, bot_id=BOT_ID)
    b = to_incoming(MESSAGE, BOT, bot_id=BOT_ID)
    assert a == b and a is not None and a.mentions_bot


def test_thread_reply_lives_in_the_thread_and_replies_to_its_root() -> None:
    m = to_incoming(THREAD_REPLY, BOT)
    assert m is not None
    assert m.chat == ChatRef("slack", CHANNEL, THREAD)
    assert m.reply_to_message_id == THREAD and m.message_id == "1716530500.000200"
    assert not m.mentions_bot
    # in a thread the bot started (a desk card), a reply addresses the bot
    desk = {**THREAD_REPLY, "parent_user_id": BOT, "channel": DESK}
    m2 = to_incoming(desk, BOT)
    assert m2 is not None and m2.mentions_bot and m2.chat == ChatRef("slack", DESK, THREAD)


def test_thread_root_that_has_replies_is_not_a_reply() -> None:
    root = {**MESSAGE, "thread_ts": TS, "reply_count": 2}
    m = to_incoming(root, BOT)
    assert m is not None and m.reply_to_message_id is None
    assert m.chat == ChatRef("slack", CHANNEL, TS)


def test_direct_message_always_addresses_the_bot() -> None:
    dm = {**THREAD_REPLY, "channel": "D0DIRECT01", "channel_type": "im"}
    dm.pop("thread_ts")
    m = to_incoming(dm, BOT)
    assert m is not None and m.mentions_bot and m.chat == ChatRef("slack", "D0DIRECT01")


def test_message_changed_is_an_edit_with_the_new_text() -> None:
    m = to_incoming(MESSAGE_CHANGED, BOT)
    assert m is not None
    assert m.edited and m.text == "打印机卡纸了"
    assert m.message_id == TS  # the edited message, not the change event
    assert m.sender.user_id == USER and m.chat == ChatRef("slack", CHANNEL)
    assert message_user(MESSAGE_CHANGED) == USER


def test_message_changed_without_a_user_edit_is_ignored() -> None:
    # link unfurls and thread reply counts also come as message_changed
    unfurl = copy.deepcopy(MESSAGE_CHANGED)
    unfurl["message"].pop("edited")
    assert to_incoming(unfurl, BOT) is None
    same = copy.deepcopy(MESSAGE_CHANGED)
    same["previous_message"]["text"] = same["message"]["text"]
    assert to_incoming(same, BOT) is None
    assert message_user(unfurl) is None


def test_file_share_becomes_attachments() -> None:
    m = to_incoming(FILE_SHARE, BOT)
    assert m is not None and m.text == "日志和截图在这里"
    assert m.attachments == (
        Attachment("photo", "F0SCREEN01", "报错截图.png", "image/png", 48213),
        Attachment("document", "F0LOGPDF02", "his-error.pdf", "application/pdf", 22),
        Attachment("voice", "F0CLIP0004", "audio_message.webm", "audio/webm", 9001),
    )
    # a file without any text still reaches the core
    bare = {**FILE_SHARE, "text": ""}
    m2 = to_incoming(bare, BOT)
    assert m2 is not None and m2.text == "" and len(m2.attachments) == 3


def test_other_bots_and_own_messages_are_flagged() -> None:
    other = to_incoming(BOT_MESSAGE, BOT, bot_id=BOT_ID)
    assert other is not None
    assert other.sender == Sender("B0OTHER001", "backup-bot", is_bot=True)
    assert not other.from_self
    own = to_incoming(OWN_MESSAGE, BOT, bot_id=BOT_ID)
    assert own is not None and own.from_self and own.sender.is_bot
    # recognised by bot_id even when the user field is missing
    legacy = {**OWN_MESSAGE, "subtype": "bot_message"}
    legacy.pop("user")
    own2 = to_incoming(legacy, BOT, bot_id=BOT_ID)
    assert own2 is not None and own2.from_self


def test_shared_message_is_forwarded() -> None:
    shared = {
        **MESSAGE,
        "text": "",
        "attachments": [
            {"is_share": True, "text": "系统报错 E1024", "fallback": "[x] 系统报错", "ts": "1.2"}
        ],
    }
    m = to_incoming(shared, BOT)
    assert m is not None and m.forwarded and m.text == "系统报错 E1024"


@pytest.mark.parametrize(
    "subtype",
    ["channel_join", "channel_leave", "channel_topic", "message_deleted", "channel_name"],
)
def test_service_messages_give_none(subtype: str) -> None:
    assert to_incoming({**MESSAGE, "subtype": subtype}, BOT) is None


def test_empty_or_foreign_events_give_none() -> None:
    assert to_incoming({**MESSAGE, "text": ""}, BOT) is None
    assert to_incoming({**MESSAGE, "text": "<@U0BOT1234>"}, BOT) is None
    assert to_incoming({"type": "reaction_added", "user": USER}, BOT) is None
    assert to_incoming({k: v for k, v in MESSAGE.items() if k != "channel"}, BOT) is None


# ------------------------------------------------------------------ slash command


def test_slash_command_becomes_the_core_command_text() -> None:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    m = to_command(SLASH_COMMAND, display_name="王医生", now=now)
    assert m is not None
    assert m.text == "/ticket 2026-000123"
    assert m.chat == ChatRef("slack", CHANNEL)
    assert m.sender == Sender(USER, "王医生")
    assert m.mentions_bot and m.sent_at == now and m.reply_to_message_id is None
    assert m.message_id == command_message_id(USER, SLASH_COMMAND["trigger_id"])
    assert command_user(m.message_id) == USER
    assert command_user(TS) is None and command_user(None) is None


def test_slash_command_variants() -> None:
    m = to_command({**SLASH_COMMAND, "text": "  /tickets "})
    assert m is not None and m.text == "/tickets" and m.sender.display_name == "wang.yi"
    assert to_command({**SLASH_COMMAND, "text": "   "}) is None  # the adapter answers usage
    assert to_command({**SLASH_COMMAND, "channel_id": ""}) is None
    m2 = to_command({**SLASH_COMMAND, "text": "note 2026-000123 a &lt; b"})
    assert m2 is not None and m2.text == "/note 2026-000123 a < b"


# ------------------------------------------------------------------ buttons


def test_block_actions_becomes_button_press() -> None:
    press = to_button_press(BLOCK_ACTIONS, display_name="王医生")
    assert press == ButtonPress(
        message=MessageRef("slack", CHANNEL, "1716530401.000100"),
        sender=Sender(USER, "王医生"),
        action="no:42",
        press_id="7345.98765.abcdef0123456789",
        thread_id=TS,
    )
    assert to_button_press(BLOCK_ACTIONS).sender.display_name == "wang.yi"


def test_block_actions_of_an_ephemeral_message_uses_the_container() -> None:
    payload = copy.deepcopy(BLOCK_ACTIONS)
    payload.pop("message")
    payload.pop("channel")
    payload["container"]["is_ephemeral"] = True
    press = to_button_press(payload)
    assert press.message == MessageRef("slack", CHANNEL, "1716530401.000100")
    assert press.thread_id == TS


def test_block_actions_picks_our_action() -> None:
    payload = copy.deepcopy(BLOCK_ACTIONS)
    payload["actions"].insert(0, {"action_id": "other", "value": "x", "type": "button"})
    assert to_button_press(payload).action == "no:42"


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission"},
        {**BLOCK_ACTIONS, "actions": []},
        {k: v for k, v in BLOCK_ACTIONS.items() if k not in ("message", "container")},
    ],
)
def test_unusable_interactions_raise(payload: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        to_button_press(payload)


# ------------------------------------------------------------------ chat events


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {
                "type": "channel_rename",
                "channel": {"id": CHANNEL, "name": "hosp-001-新名字", "created": 1360782804},
            },
            ChatEvent(ChatEventKind.RENAMED, ChatRef("slack", CHANNEL), title="hosp-001-新名字"),
        ),
        (
            {"type": "group_rename", "channel": {"id": "G0PRIV001", "name": "x", "is_group": True}},
            ChatEvent(ChatEventKind.RENAMED, ChatRef("slack", "G0PRIV001"), title="x"),
        ),
        (
            {"type": "channel_archive", "channel": CHANNEL, "user": USER},
            ChatEvent(ChatEventKind.ARCHIVED, ChatRef("slack", CHANNEL)),
        ),
        (
            {"type": "channel_deleted", "channel": CHANNEL},
            ChatEvent(ChatEventKind.ARCHIVED, ChatRef("slack", CHANNEL)),
        ),
        (
            {
                "type": "member_left_channel",
                "user": BOT,
                "channel": CHANNEL,
                "channel_type": "C",
                "team": "T0HISVEND",
            },
            ChatEvent(ChatEventKind.BOT_REMOVED, ChatRef("slack", CHANNEL)),
        ),
        (
            {"type": "member_left_channel", "user": NURSE, "channel": CHANNEL},
            None,
        ),
        (
            {"type": "group_left", "channel": "G0PRIV001", "actor_id": USER},
            ChatEvent(ChatEventKind.BOT_REMOVED, ChatRef("slack", "G0PRIV001")),
        ),
        (
            {"type": "channel_left", "channel": CHANNEL, "actor_id": USER, "event_ts": TS},
            ChatEvent(ChatEventKind.BOT_REMOVED, ChatRef("slack", CHANNEL)),
        ),
        (
            {"type": "member_joined_channel", "user": BOT, "channel": CHANNEL, "inviter": USER},
            ChatEvent(ChatEventKind.BOT_ADDED, ChatRef("slack", CHANNEL)),
        ),
        (
            {"type": "member_joined_channel", "user": NURSE, "channel": CHANNEL},
            None,
        ),
        (
            {
                "type": "channel_id_changed",
                "old_channel_id": "G0OLD0001",
                "new_channel_id": "C0NEW0001",
                "event_ts": TS,
            },
            ChatEvent(ChatEventKind.MIGRATED, ChatRef("slack", "G0OLD0001"), "C0NEW0001"),
        ),
        ({"type": "channel_unarchive", "channel": CHANNEL, "user": USER}, None),
        ({"type": "channel_rename", "channel": {}}, None),
    ],
)
def test_chat_events(event: dict[str, Any], expected: ChatEvent | None) -> None:
    assert to_chat_event(event, BOT) == expected


# ------------------------------------------------------------------ outgoing


def _texts(blocks: list[dict[str, Any]], kind: str) -> list[str]:
    out = []
    for b in blocks:
        if b["type"] != kind:
            continue
        if kind == "context":
            out.extend(e["text"] for e in b["elements"])
        elif kind == "section":
            out.append(b["text"]["text"])
    return out


def test_render_reply_in_thread_with_citation_buttons_and_mention() -> None:
    reply = Reply(
        ChatRef("slack", CHANNEL),
        "请按以下步骤重置：\n1. 打开 <HIS> 登录页 & 点 *忘记密码*",
        reply_to=TS,
        citation=Citation("kb-12", "重置 HIS 密码 <新版>", "http://kb.local/kb/kb-12?x=1&y=2"),
        buttons=(
            (Button("解决了", "ok:42"), Button("没解决", "no:42")),
            (Button("转工程师", "esc:42"),),
        ),
        mention_user_ids=("U0ENG0001", "not an id"),
    )
    kwargs = render(reply)
    assert kwargs["channel"] == CHANNEL and kwargs["thread_ts"] == TS
    assert kwargs["unfurl_links"] is False and kwargs["unfurl_media"] is False
    blocks = kwargs["blocks"]
    assert [b["type"] for b in blocks] == ["section", "section", "context", "actions", "actions"]
    body = blocks[0]["text"]
    assert body == {
        "type": "mrkdwn",
        "text": "请按以下步骤重置：\n1. 打开 &lt;HIS&gt; 登录页 &amp; 点 *忘记密码*",
        "verbatim": True,
    }
    assert _texts(blocks, "section")[1] == "🔔 <@U0ENG0001>"
    assert _texts(blocks, "context") == [
        "📖 <http://kb.local/kb/kb-12?x=1&amp;y=2|重置 HIS 密码 &lt;新版&gt;>"
    ]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(e["text"]["text"], e["value"], e["action_id"]) for e in buttons] == [
        ("解决了", "ok:42", "hisbot:0"),
        ("没解决", "no:42", "hisbot:1"),
        ("转工程师", "esc:42", "hisbot:2"),
    ]
    assert all(e["action_id"].startswith(ACTION_PREFIX) for e in buttons)
    # the notification fallback: escaped text, the mention first
    assert kwargs["text"].startswith("<@U0ENG0001> 请按以下步骤重置")
    assert "&lt;HIS&gt;" in kwargs["text"]
    json.dumps(kwargs)  # serialisable as is


def test_render_thread_ts_comes_from_the_chat_thread_first() -> None:
    in_thread = Reply(ChatRef("slack", CHANNEL, THREAD), "好的", reply_to=TS)
    assert render(in_thread)["thread_ts"] == THREAD
    top = render(Reply(ChatRef("slack", DESK), "🎫 工单 #2026-000123"))
    assert "thread_ts" not in top
    # a slash command's made-up id is no thread
    cmd = Reply(ChatRef("slack", CHANNEL), "工单…", reply_to=command_message_id(USER, "1.2.3"))
    assert "thread_ts" not in render(cmd)


def test_render_splits_long_text_into_sections_and_cuts_beyond_the_limit() -> None:
    line = "步骤说明 & <注意>\n"
    text = line * 700  # ~ 11 200 characters, ~ 18 900 escaped
    blocks = render(Reply(ChatRef("slack", CHANNEL), text))["blocks"]
    sections = _texts(blocks, "section")
    assert len(sections) > 1
    assert all(len(s) <= MAX_SECTION_TEXT for s in sections)
    assert "".join(decode_text(s)[0] + "\n" for s in sections) == text
    huge = render(Reply(ChatRef("slack", CHANNEL), "x" * 200_000))
    parts = _texts(huge["blocks"], "section")
    assert len(parts) == 20 and parts[-1].endswith(TRUNCATED_MARKER)
    assert len(huge["text"]) <= 3000


def test_render_long_button_label_is_shortened() -> None:
    reply = Reply(ChatRef("slack", CHANNEL), "选一个", buttons=((Button("很" * 100, "pick:1:a"),),))
    label = render(reply)["blocks"][-1]["elements"][0]["text"]["text"]
    assert len(label) == 75 and label.endswith("…")


def test_render_update_and_ephemeral() -> None:
    reply = Reply(ChatRef("slack", DESK, THREAD), "🎫 工单 #2026-000123 已受理", reply_to=TS)
    update = render_update(MessageRef("slack", DESK, "1716530999.000001"), reply)
    assert update["channel"] == DESK and update["ts"] == "1716530999.000001"
    assert "thread_ts" not in update and "unfurl_links" not in update
    assert not [b for b in update["blocks"] if b["type"] == "actions"]  # buttons removed
    eph = render_ephemeral(reply, USER)
    assert eph["user"] == USER and eph["channel"] == DESK and eph["thread_ts"] == THREAD


def test_settings_validation() -> None:
    assert SlackSettings().mode == "socket"
    assert SlackSettings(engineers_channel="C0DESK001").engineers_channel == "C0DESK001"
    with pytest.raises(ValueError, match="mode"):
        SlackSettings(mode="webhook")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="engineers_channel"):
        SlackSettings(engineers_channel="#desk")
    with pytest.raises(ValueError, match="engineers_channel"):
        SlackSettings(engineers_channel=12345)  # type: ignore[arg-type]  # a TOML integer
    with pytest.raises(ValueError, match="command"):
        SlackSettings(command="hisbot")
    with pytest.raises(ValueError, match="http_path"):
        SlackSettings(http_path="slack/events")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("http_port = 70000", "[slack] http_port must be at least 0 and below 65536, not 70000"),
        ("network_retries = -1", "[slack] network_retries must be at least 0, not -1"),
    ],
)
def test_declared_bounds_are_checked_at_load(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[slack]\n{toml}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: {message}"
