"""DingTalk payloads ↔ the neutral model of ``adapters.base``.

Chat ids inside hisbot are ``<tenant>/<target>``: a group's openConversationId (``cid…``) or,
for a one-to-one chat, the user's staffId in that tenant. User ids are ``<tenant>/<staffId>``
too, so one person in two organisations is two accounts, as DingTalk sees them.

Message ids: a received message keeps DingTalk's ``msgId`` (the core's inbox is keyed on it).
The robot send APIs return no message id, so a text the bot sends is named by a digest of its
chat and text (``t…``): when a user quotes it, DingTalk hands back the quoted text and the
same digest finds the bot's message again — across restarts, without a table. A card is named
by its outTrackId (``card.…``), which also carries the card's conversation, so a button press
names its chat with nothing remembered.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from dingtalk_stream import ChatbotMessage

from adapters.base import (
    Attachment,
    Button,
    ButtonPress,
    ChatRef,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)

PLATFORM = "dingtalk"
#: One text message's limit (DingTalk cuts around 5,000 characters; leave room for the tail).
MAX_TEXT = 4000
_CARD_PREFIX = "card."


@dataclass(frozen=True)
class Target:
    """Where a chat id points inside one tenant."""

    tenant: str
    #: openConversationId of a group, or the staffId of a one-to-one chat.
    target: str

    @property
    def is_group(self) -> bool:
        return self.target.startswith("cid")

    @property
    def chat_id(self) -> str:
        return f"{self.tenant}/{self.target}"


def parse_chat_id(chat_id: str) -> Target:
    """``tenant/target`` → Target; ValueError for anything else."""
    tenant, sep, target = chat_id.partition("/")
    if not sep or not tenant or not target:
        raise ValueError(f"not a DingTalk chat id (tenant/cid… or tenant/userId): {chat_id!r}")
    return Target(tenant, target)


def text_message_id(chat_id: str, content: str) -> str:
    """The id of a text the bot sent (see the module docstring)."""
    digest = hashlib.sha256(f"{chat_id}\n{content.strip()}".encode()).hexdigest()
    return "t" + digest[:24]


def new_card_id(target: Target) -> str:
    """A fresh outTrackId that carries the card's conversation (URL-safe, no padding)."""
    where = base64.urlsafe_b64encode(target.target.encode()).decode().rstrip("=")
    return f"{_CARD_PREFIX}{secrets.token_hex(6)}.{where}"


def card_target(tenant: str, out_track_id: str) -> Target | None:
    """The conversation a card of ours lives in, from its outTrackId; None if not ours."""
    if not out_track_id.startswith(_CARD_PREFIX):
        return None
    _, _, where = out_track_id[len(_CARD_PREFIX) :].partition(".")
    try:
        target = base64.urlsafe_b64decode(where + "=" * (-len(where) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return Target(tenant, target) if target else None


def is_card(message_id: str) -> bool:
    return message_id.startswith(_CARD_PREFIX)


# ---- incoming ----------------------------------------------------------------------------


def _user(tenant: str, msg: ChatbotMessage) -> str:
    # staffId is the tenant's userId (what the send APIs take); senderId (an opaque
    # "$:LWCP_v1:…") only stands in when DingTalk gives no staffId (an external contact).
    return f"{tenant}/{msg.sender_staff_id or msg.sender_id}"


def _texts(msg: ChatbotMessage, data: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    kind = msg.message_type
    if kind == "text" and msg.text is not None:
        return msg.text.content or "", ()
    content = data.get("content") if isinstance(data.get("content"), dict) else {}
    assert isinstance(content, dict)
    if kind == "richText":
        parts: list[str] = []
        files: list[Attachment] = []
        for item in content.get("richText") or []:
            if "text" in item:
                parts.append(str(item["text"]))
            elif "downloadCode" in item:
                files.append(Attachment("photo", str(item["downloadCode"])))
        return "".join(parts), tuple(files)
    if kind == "picture":
        return "", (Attachment("photo", str(content.get("downloadCode", ""))),)
    if kind in ("file", "video", "audio"):
        name = content.get("fileName")
        code = str(content.get("downloadCode", ""))
        label = {"file": "document", "audio": "voice"}.get(kind, kind)
        if kind == "audio" and content.get("recognition"):
            return str(content["recognition"]), (Attachment("voice", code),)
        return "", (Attachment(label, code, file_name=str(name) if name else None),)
    return "", ()


def to_incoming(tenant: str, data: dict[str, Any]) -> tuple[IncomingMessage, ChatbotMessage]:
    """A robot message callback's JSON (topic ``/v1.0/im/bot/messages/get``) → the core's
    message, and the SDK's parsed message (its sessionWebhook and sender answer it)."""
    msg = ChatbotMessage.from_dict(data)
    group = msg.conversation_type == "2"
    target = msg.conversation_id if group else (msg.sender_staff_id or msg.sender_id)
    chat = ChatRef(PLATFORM, f"{tenant}/{target}")
    text, attachments = _texts(msg, data)
    bot_id = msg.chatbot_user_id
    mentions_others = any(u.dingtalk_id and u.dingtalk_id != bot_id for u in msg.at_users)
    reply_to, reply_to_person = None, False
    quoted = data.get("text", {}).get("repliedMsg") if isinstance(data.get("text"), dict) else None
    if isinstance(quoted, dict):
        if quoted.get("senderId") == bot_id:
            content = quoted.get("content")
            said = content.get("text", "") if isinstance(content, dict) else str(content or "")
            reply_to = text_message_id(chat.chat_id, said)
        elif quoted.get("senderId") != msg.sender_id:
            reply_to_person = True
    created = int(msg.create_at or 0)
    incoming = IncomingMessage(
        chat=chat,
        message_id=str(msg.message_id),
        sender=Sender(_user(tenant, msg), msg.sender_nick or ""),
        # DingTalk removes the bot's own @name from the text; the rest is the question
        text=text.strip(),
        sent_at=dt.datetime.fromtimestamp(created / 1000, dt.UTC) if created else _now(),
        chat_title=msg.conversation_title or "",
        reply_to_message_id=reply_to,
        attachments=attachments,
        mentions_bot=bool(msg.is_in_at_list) or not group,
        mentions_others=mentions_others,
        reply_to_person=reply_to_person,
    )
    return incoming, msg


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def to_button_press(tenant: str, data: dict[str, Any]) -> ButtonPress | None:
    """A card callback's JSON (topic ``/v1.0/card/instances/callback``) → ButtonPress; None
    for a card that is not ours or a callback without a button."""
    out_track_id = str(data.get("outTrackId", ""))
    target = card_target(tenant, out_track_id)
    if target is None:
        return None
    try:
        content = json.loads(data.get("content") or "{}")
    except json.JSONDecodeError:
        return None
    private = content.get("cardPrivateData") or {}
    params = private.get("params") or {}
    action = params.get("action") or next(iter(private.get("actionIds") or []), None)
    if not action:
        return None
    user = str(data.get("userId", ""))
    return ButtonPress(
        message=MessageRef(PLATFORM, target.chat_id, out_track_id),
        sender=Sender(f"{tenant}/{user}", user),
        action=str(action),
        press_id=press_id(out_track_id, user, data.get("content")),
    )


def press_id(out_track_id: str, user: str, content: object) -> str:
    """A press's identity (the inbox's key): DingTalk gives a press no id of its own, and a
    card is pressed many times (by several people, on several buttons), so the card, the
    presser and what was pressed; a re-delivered frame carries the same three."""
    digest = hashlib.sha256(f"{out_track_id}|{user}|{content}".encode()).hexdigest()
    return f"press-{digest[:32]}"


# ---- outgoing ----------------------------------------------------------------------------


def message_text(reply: Reply, mentions: tuple[str, ...] = ()) -> str:
    """The text of a reply: @-mentions first (``@userId`` is how DingTalk renders a mention
    named in ``atUserIds``), then the body, then the citation; cut to one message."""
    head = " ".join(f"@{m}" for m in mentions)
    body = reply.text.strip()
    tail = ""
    if reply.citation is not None:
        title = reply.citation.title.strip() or reply.citation.article_id
        tail = f"\n\n📖 {title}\n{reply.citation.url}"
    room = MAX_TEXT - len(head) - len(tail) - 1
    if len(body) > room:
        body = body[: max(0, room - 7)] + "…(已截断)"
    return (f"{head} {body}" if head else body) + tail


def staff_ids(tenant: str, user_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The staffIds of this tenant among hisbot user ids (``tenant/staffId``)."""
    prefix = f"{tenant}/"
    return tuple(u[len(prefix) :] for u in user_ids if u.startswith(prefix))


def webhook_body(content: str, at_user_ids: tuple[str, ...]) -> dict[str, Any]:
    """A reply through the message's sessionWebhook."""
    return {
        "msgtype": "text",
        "text": {"content": content},
        "at": {"atUserIds": list(at_user_ids), "isAtAll": False},
    }


def proactive_text(content: str) -> tuple[str, str]:
    """``msgKey`` and ``msgParam`` of a text sent through the robot send APIs."""
    return "sampleText", json.dumps({"content": content}, ensure_ascii=False)


def card_data(reply: Reply, content: str) -> dict[str, Any]:
    """``cardParamMap`` of the markdown+buttons card; each button sends back its action."""
    buttons = [
        {
            "text": b.label,
            "color": "blue" if i == 0 else "gray",
            "id": b.action,
            "request": True,
            "params": {"action": b.action},
        }
        for i, b in enumerate(_flat(reply.buttons))
    ]
    return {
        "markdown": content,
        "tips": "",
        "sys_full_json_obj": json.dumps({"msgButtons": buttons}, ensure_ascii=False),
    }


def _flat(rows: tuple[tuple[Button, ...], ...]) -> list[Button]:
    return [b for row in rows for b in row]


def card_space(target: Target) -> str:
    """The openSpaceId a card is delivered to."""
    kind = "IM_GROUP" if target.is_group else "IM_ROBOT"
    return f"dtv1.card//{kind}.{target.target}"
