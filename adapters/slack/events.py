"""Incoming Slack payloads as platform-neutral ``adapters.base`` objects; no I/O.

``to_incoming`` (message / app_mention events), ``to_command`` (the ``/hisbot`` slash command),
``to_button_press`` (block_actions) and ``to_chat_event`` (channel renames, archiving, the bot
leaving or joining). Text is decoded from mrkdwn (``mrkdwn.decode_text``).

Threads: ``reply_to_message_id`` of an incoming thread reply is the thread's root
(``thread_ts``), which is what the core links tickets to.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.base import (
    Attachment,
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    IncomingMessage,
    MessageRef,
    Sender,
)

from .ids import ACTION_PREFIX, PLATFORM, command_message_id, ts_to_datetime
from .mrkdwn import decode_text

#: Message subtypes that carry something a user said; every other subtype (joins, topic
#: changes, deletions, …) is a service message and gives None.
_CONTENT_SUBTYPES = frozenset(
    {None, "file_share", "thread_broadcast", "bot_message", "me_message", "message_changed"}
)
#: ``<@U123>`` / ``<@U123|ann>``: a user mention in raw mrkdwn.
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")

#: Chat events by Slack event type.
_RENAMES = frozenset({"channel_rename", "group_rename"})
_ARCHIVES = frozenset({"channel_archive", "group_archive", "channel_deleted", "group_deleted"})
#: Sent only to the member that left: the bot itself.
_SELF_LEFT = frozenset({"channel_left", "group_left"})
CHAT_EVENT_TYPES: tuple[str, ...] = (
    *sorted(_RENAMES),
    *sorted(_ARCHIVES),
    *sorted(_SELF_LEFT),
    "member_left_channel",
    "member_joined_channel",
    "channel_id_changed",
)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def user_display_name(user: Mapping[str, Any] | None) -> str | None:
    """The name Slack shows for a users.info ``user`` object (display name, else real name)."""
    if not user:
        return None
    profile = _map(user.get("profile"))
    for value in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _content(event: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool] | None:
    """The message a message/app_mention event is about, and whether it is an edit."""
    if event.get("type") not in ("message", "app_mention"):
        return None
    subtype = event.get("subtype")
    if subtype not in _CONTENT_SUBTYPES:
        return None
    if subtype != "message_changed":
        return event, False
    inner = _map(event.get("message"))
    previous = _map(event.get("previous_message"))
    # message_changed also reports link unfurls and thread reply counts; only a change the
    # author made (``edited`` set, text or files different) is an edit
    if not inner or not inner.get("edited") or inner.get("subtype") not in _CONTENT_SUBTYPES:
        return None
    if (
        previous
        and previous.get("text") == inner.get("text")
        and previous.get("files") == inner.get("files")
    ):
        return None
    return inner, True


def message_user(event: Mapping[str, Any]) -> str | None:
    """The user id of whoever wrote the message of a message event (None for bots)."""
    found = _content(event)
    if found is None:
        return None
    return _str(found[0].get("user"))


def _kind(mime: str | None, subtype: str | None) -> str:
    if subtype == "slack_audio":
        return "voice"
    if subtype == "slack_video":
        return "video"
    major = (mime or "").split("/", 1)[0]
    if major == "image":
        return "photo"
    if major == "video":
        return "video"
    if major == "audio":
        return "voice"
    if major in ("application", "text"):
        return "document"
    return "file"


def _attachments(files: object) -> tuple[Attachment, ...]:
    if not isinstance(files, Sequence) or isinstance(files, str):
        return ()
    found: list[Attachment] = []
    for f in files:
        if not isinstance(f, Mapping) or not _str(f.get("id")) or f.get("mode") == "tombstone":
            continue
        mime = _str(f.get("mimetype"))
        size = f.get("size")
        found.append(
            Attachment(
                kind=_kind(mime, _str(f.get("subtype"))),
                file_id=str(f["id"]),
                file_name=_str(f.get("name")) or _str(f.get("title")),
                mime_type=mime,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
        )
    return tuple(found)


def _shared(message: Mapping[str, Any], bot_user_id: str) -> str | None:
    """The text of a shared ("forwarded") message attached to ``message``, or None."""
    for att in message.get("attachments") or ():
        if isinstance(att, Mapping) and (att.get("is_share") or att.get("is_msg_unfurl")):
            return decode_text(str(att.get("text") or att.get("fallback") or ""), bot_user_id)[0]
    return None


def to_incoming(
    event: Mapping[str, Any],
    bot_user_id: str,
    *,
    bot_id: str | None = None,
    display_name: str | None = None,
) -> IncomingMessage | None:
    """A ``message`` or ``app_mention`` event (the ``event`` object of an Events API envelope)
    as an ``IncomingMessage``; None for service messages and events without text or files.

    ``display_name`` is the sender's name looked up by the adapter (users.info); without it the
    event's own ``user_profile``/``username`` or the user id is used.
    """
    found = _content(event)
    if found is None:
        return None
    message, edited = found
    channel = _str(event.get("channel"))
    ts = _str(message.get("ts"))
    if channel is None or ts is None:
        return None
    raw = str(message.get("text") or "")
    text, mentioned = decode_text(raw, bot_user_id)
    others = any(m.group(1) != bot_user_id for m in _USER_MENTION.finditer(raw))
    shared = _shared(message, bot_user_id)
    if not text and shared:
        text = shared
    attachments = _attachments(message.get("files"))
    if not text and not attachments:
        return None

    thread_ts = _str(message.get("thread_ts"))
    user = _str(message.get("user"))
    msg_bot_id = _str(message.get("bot_id"))
    is_bot = msg_bot_id is not None or message.get("subtype") == "bot_message"
    from_self = (user is not None and user == bot_user_id) or (
        bot_id is not None and msg_bot_id == bot_id
    )
    profile = _map(message.get("user_profile"))
    name = (
        display_name
        or _str(profile.get("display_name"))
        or _str(profile.get("real_name"))
        or _str(message.get("username"))
        or user
        or msg_bot_id
        or ""
    )
    if (
        event.get("type") == "app_mention"
        or event.get("channel_type") == "im"
        or channel.startswith("D")
        or (thread_ts not in (None, ts) and message.get("parent_user_id") == bot_user_id)
    ):
        mentioned = True  # a direct message, or a reply in a thread the bot started

    parent = _str(message.get("parent_user_id"))
    in_thread = thread_ts not in (None, ts)
    return IncomingMessage(
        chat=ChatRef(PLATFORM, channel, thread_ts),
        message_id=ts,
        sender=Sender(user or msg_bot_id or "", name, is_bot=is_bot),
        text=text,
        sent_at=ts_to_datetime(ts),
        reply_to_message_id=thread_ts if thread_ts is not None and thread_ts != ts else None,
        attachments=attachments,
        forwarded=shared is not None,
        edited=edited,
        mentions_bot=mentioned,
        mentions_others=others,
        # a reply in a thread a person started (not the bot, not the sender): people talking
        reply_to_person=in_thread and parent not in (None, bot_user_id, user),
        reply_to_user_id=parent if in_thread else None,
        from_self=from_self,
    )


def to_command(
    payload: Mapping[str, Any],
    *,
    display_name: str | None = None,
    now: dt.datetime | None = None,
) -> IncomingMessage | None:
    """A slash command (``/hisbot ticket 2026-000123``) as the command text the core parses
    ("/ticket 2026-000123"). None when no sub-command was given (the adapter answers with usage).

    The message id is ``command_message_id(user, trigger_id)``: a reply to it goes back to the
    invoking user only (ephemeral), never into a thread.
    """
    channel = _str(payload.get("channel_id"))
    user = _str(payload.get("user_id"))
    if channel is None or user is None:
        return None
    text, _ = decode_text(str(payload.get("text") or ""))
    text = text.strip().lstrip("/").strip()
    if not text:
        return None
    trigger = _str(payload.get("trigger_id")) or f"{(now or dt.datetime.now(dt.UTC)).timestamp()}"
    return IncomingMessage(
        chat=ChatRef(PLATFORM, channel),
        message_id=command_message_id(user, trigger),
        sender=Sender(user, display_name or _str(payload.get("user_name")) or user),
        text="/" + text,
        sent_at=now or dt.datetime.now(dt.UTC),
        mentions_bot=True,
    )


def to_button_press(payload: Mapping[str, Any], *, display_name: str | None = None) -> ButtonPress:
    """A ``block_actions`` interaction payload (a press of one of our buttons) as a
    ``ButtonPress``: the button's ``value`` is the action, the message's ts its id.

    Raises ValueError for other payloads or when the message cannot be identified.
    """
    if payload.get("type") != "block_actions":
        raise ValueError("not a block_actions payload")
    actions = [a for a in payload.get("actions") or () if isinstance(a, Mapping)]
    if not actions:
        raise ValueError("block_actions payload without actions")
    action = next(
        (a for a in actions if str(a.get("action_id", "")).startswith(ACTION_PREFIX)), actions[0]
    )
    container = _map(payload.get("container"))
    message = _map(payload.get("message"))
    channel = _str(_map(payload.get("channel")).get("id")) or _str(container.get("channel_id"))
    ts = _str(message.get("ts")) or _str(container.get("message_ts"))
    if channel is None or ts is None:
        raise ValueError("block_actions payload without channel or message")
    thread_ts = _str(message.get("thread_ts")) or _str(container.get("thread_ts"))
    user = _map(payload.get("user"))
    user_id = _str(user.get("id")) or ""
    name = display_name or _str(user.get("name")) or _str(user.get("username")) or user_id
    return ButtonPress(
        message=MessageRef(PLATFORM, channel, ts),
        sender=Sender(user_id, name),
        action=_str(action.get("value")) or "",
        press_id=_str(payload.get("trigger_id")) or _str(action.get("action_ts")) or "",
        thread_id=thread_ts,
    )


def to_chat_event(event: Mapping[str, Any], bot_user_id: str) -> ChatEvent | None:
    """Channel renames, archiving/deletion, the bot leaving or joining, channel id changes.

    ``member_left_channel``/``member_joined_channel`` count only for the bot user;
    ``channel_left``/``group_left`` are only ever sent about the bot itself.
    """
    kind = event.get("type")
    raw_channel = event.get("channel")
    if kind in _RENAMES:
        ch = _map(raw_channel)
        channel_id = _str(ch.get("id"))
        if channel_id is None:
            return None
        return ChatEvent(
            ChatEventKind.RENAMED, ChatRef(PLATFORM, channel_id), title=_str(ch.get("name"))
        )
    if kind == "channel_id_changed":
        old, new = _str(event.get("old_channel_id")), _str(event.get("new_channel_id"))
        if old is None or new is None:
            return None
        return ChatEvent(ChatEventKind.MIGRATED, ChatRef(PLATFORM, old), new_chat_id=new)
    channel = _str(raw_channel) or _str(_map(raw_channel).get("id"))
    if channel is None:
        return None
    chat = ChatRef(PLATFORM, channel)
    if kind in _ARCHIVES:
        return ChatEvent(ChatEventKind.ARCHIVED, chat)
    if kind in _SELF_LEFT:
        return ChatEvent(ChatEventKind.BOT_REMOVED, chat)
    if kind in ("member_left_channel", "member_joined_channel"):
        if not bot_user_id or event.get("user") != bot_user_id:
            return None
        if kind == "member_left_channel":
            return ChatEvent(ChatEventKind.BOT_REMOVED, chat)
        return ChatEvent(ChatEventKind.BOT_ADDED, chat)
    return None
