"""Pure translation between WeCom long-connection frames and the platform-neutral model.

No I/O here. Chats and users of different tenants are kept apart by prefixing every id with
the tenant's name: a group is ``"h001/<chatid>"``, a single chat and a user ``"h001/<userid>"``.

A WeCom quote (引用) carries the quoted *text*, not a message id, so the ids of the bot's own
messages are derived from their text: ``message_id_for(chat, text)``. A hospital user quoting
the bot's ticket notice therefore names the same id the core linked the notice under — even
after a restart, with nothing stored in the adapter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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

PLATFORM = "wecom"

#: Commands on the wire (WeCom 智能机器人长连接).
SUBSCRIBE = "aibot_subscribe"
PING = "ping"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
RESPOND_UPDATE = "aibot_respond_update_msg"
SEND = "aibot_send_msg"

#: markdown content limit of a robot message, in UTF-8 bytes.
MAX_MARKDOWN_BYTES = 4096
#: A reply never becomes more than this many messages; the rest is cut with the marker.
MAX_PARTS = 5
TRUNCATED_MARKER = "\n…(已截断)"
#: Template card limits we keep to: title and description lengths, buttons per card.
CARD_TITLE_CHARS = 26
CARD_TEXT_CHARS = 112
CARD_BUTTON_CHARS = 10
MAX_CARD_BUTTONS = 6
#: The quote of the asker put on top of a reply (WeCom shows no thread).
QUOTE_CHARS = 40

_LEADING_MENTION = re.compile(r"^\s*@\S+\s*")
_INVISIBLE = re.compile(r"[\s>*_`#\[\]()~|-]+")


@dataclass(frozen=True)
class Asked:
    """What the adapter remembers of an incoming message to quote its asker in the reply."""

    user_id: str  # the WeCom userid, without the tenant
    text: str


def scoped(tenant: str, raw_id: str) -> str:
    return f"{tenant}/{raw_id}"


def split_scoped(chat_or_user: str) -> tuple[str, str]:
    """``"h001/<id>"`` → ``("h001", "<id>")``; ValueError for an id without a tenant."""
    tenant, sep, raw = chat_or_user.partition("/")
    if not sep or not tenant or not raw:
        raise ValueError(f"not a WeCom id with its tenant (like 'h001/<chatid>'): {chat_or_user!r}")
    return tenant, raw


def fingerprint_text(text: str) -> str:
    """Text as compared for quotes: NFKC, without whitespace and markdown punctuation."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def message_id_for(chat_id: str, text: str) -> str:
    """The id of a bot message with ``text`` in ``chat_id`` (also its template card task_id)."""
    digest = hashlib.sha256(f"{chat_id}\n{fingerprint_text(text)}".encode()).hexdigest()
    return "hb" + digest[:30]


# ------------------------------------------------------------------ incoming


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _user(body: Mapping[str, Any]) -> str:
    sender = body.get("from")
    return _str(sender.get("userid")) if isinstance(sender, Mapping) else ""


def _chat_id(tenant: str, body: Mapping[str, Any]) -> str:
    user = _user(body)
    if body.get("chattype") == "group" and _str(body.get("chatid")):
        return scoped(tenant, _str(body["chatid"]))
    return scoped(tenant, user)


def quoted_text(body: Mapping[str, Any]) -> str | None:
    """The text of the message this one quotes, if it quotes one with text."""
    quote = body.get("quote")
    if not isinstance(quote, Mapping):
        return None
    kind = quote.get("msgtype")
    if kind in ("text", "markdown", "voice"):
        part = quote.get(kind)
        return _str(part.get("content")) if isinstance(part, Mapping) else None
    if kind == "mixed":
        return _mixed_text(quote.get("mixed"))[0] or None
    if kind == "template_card":
        card = quote.get("template_card")
        return card_text(card) if isinstance(card, Mapping) else None
    return None


def _mixed_text(mixed: object) -> tuple[str, list[Attachment]]:
    texts: list[str] = []
    files: list[Attachment] = []
    items = mixed.get("msg_item") if isinstance(mixed, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else ()):
        if not isinstance(item, Mapping):
            continue
        if item.get("msgtype") == "text" and isinstance(item.get("text"), Mapping):
            texts.append(_str(item["text"].get("content")))
        elif item.get("msgtype") == "image":
            files.append(Attachment("photo", f"mixed-{i}"))
    return "\n".join(t for t in texts if t), files


def to_incoming(
    tenant: str, body: Mapping[str, Any], received_at: dt.datetime, quoted_id: str | None
) -> IncomingMessage | None:
    """A message callback as an ``IncomingMessage`` (None when it carries nothing usable).

    In groups WeCom delivers only messages that @-mention the bot, so ``mentions_bot`` is
    always true; the leading @-mention (the bot's name as the user typed it) is removed."""
    msgid = _str(body.get("msgid"))
    user = _user(body)
    if not msgid or not user:
        return None
    kind = body.get("msgtype")
    text = ""
    attachments: list[Attachment] = []
    if kind == "text" and isinstance(body.get("text"), Mapping):
        text = _str(body["text"].get("content"))
    elif kind == "voice" and isinstance(body.get("voice"), Mapping):
        text = _str(body["voice"].get("content"))  # WeCom sends voice already transcribed
    elif kind == "mixed":
        text, attachments = _mixed_text(body.get("mixed"))
    elif kind in ("image", "file", "video"):
        attachments.append(Attachment("photo" if kind == "image" else str(kind), msgid))
    else:
        return None
    group = body.get("chattype") == "group"
    if group:
        text = _LEADING_MENTION.sub("", text, count=1)
    text = text.strip()
    if not text and not attachments:
        return None
    return IncomingMessage(
        chat=ChatRef(PLATFORM, _chat_id(tenant, body)),
        message_id=msgid,
        sender=Sender(scoped(tenant, user), user),
        text=text,
        sent_at=received_at,
        reply_to_message_id=quoted_id,
        attachments=tuple(attachments),
        mentions_bot=True,
    )


def to_button_press(tenant: str, body: Mapping[str, Any]) -> ButtonPress | None:
    """A ``template_card_event`` as a ``ButtonPress``; ``press_id`` is the event's msgid (the
    inbox's key: a re-delivery carries the same one)."""
    event = body.get("event")
    card = event.get("template_card_event") if isinstance(event, Mapping) else None
    user = _user(body)
    if not isinstance(card, Mapping) or not user:
        return None
    task_id, key = _str(card.get("task_id")), _str(card.get("event_key"))
    if not task_id or not key:
        return None
    chat = _chat_id(tenant, body)
    return ButtonPress(
        message=MessageRef(PLATFORM, chat, task_id),
        sender=Sender(scoped(tenant, user), user),
        action=key,
        press_id=_str(body.get("msgid")),
    )


# ------------------------------------------------------------------ outgoing


def _cut_bytes(text: str, budget: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= budget:
        return text
    return raw[:budget].decode("utf-8", errors="ignore")


def markdown_text(reply: Reply, asked: Asked | None, tenant: str) -> str:
    """The reply as WeCom markdown: the asker quoted on top, mentions, the citation below."""
    lines: list[str] = []
    if asked is not None:
        question = _short(asked.text, QUOTE_CHARS)  # one line: a newline would end the quote
        lines.append(f"> <@{asked.user_id}>：{question}")
        lines.append("")
    mentions = []
    for user in reply.mention_user_ids:
        owner, sep, raw = user.partition("/")
        if sep and owner == tenant:
            mentions.append(f"<@{raw}>")
    if mentions:
        lines.append(" ".join(mentions))
    lines.append(reply.text)
    if reply.citation is not None:
        lines.append("")
        lines.append(f"[《{reply.citation.title[:200]}》]({reply.citation.url})")
    return "\n".join(lines)


def markdown_parts(text: str) -> list[str]:
    """``text`` in pieces of at most ``MAX_MARKDOWN_BYTES``, cut at line ends where possible."""
    parts: list[str] = []
    rest = text
    while rest and len(parts) < MAX_PARTS:
        if len(rest.encode("utf-8")) <= MAX_MARKDOWN_BYTES:
            parts.append(rest)
            rest = ""
            break
        piece = _cut_bytes(rest, MAX_MARKDOWN_BYTES)
        cut = piece.rfind("\n")
        if cut > len(piece) // 2:
            piece = piece[:cut]
        parts.append(piece)
        rest = rest[len(piece) :].lstrip("\n")
    if rest:
        budget = MAX_MARKDOWN_BYTES - len(TRUNCATED_MARKER.encode("utf-8"))
        parts[-1] = _cut_bytes(parts[-1], budget) + TRUNCATED_MARKER
    return parts or [""]


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def card_title(reply: Reply) -> str:
    first = next((line for line in reply.text.splitlines() if line.strip()), "请选择")
    return _short(first.lstrip("#> "), CARD_TITLE_CHARS)


def button_card(reply: Reply, task_id: str, note: str | None = None) -> dict[str, Any]:
    """The buttons of ``reply`` as a ``button_interaction`` template card (its text rides in
    the markdown message before it; the card repeats the first line as its title)."""
    buttons: Sequence[Button] = [b for row in reply.buttons for b in row][:MAX_CARD_BUTTONS]
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": card_title(reply)},
        "task_id": task_id,
        "button_list": [
            {
                "text": _short(b.label, CARD_BUTTON_CHARS),
                "style": 1 if i == 0 else 2,
                "key": b.action,
            }
            for i, b in enumerate(buttons)
        ],
    }
    if note:
        card["sub_title_text"] = _short(note, CARD_TEXT_CHARS)
    return card


def notice_card(reply: Reply, task_id: str) -> dict[str, Any]:
    """A card without buttons (what a button card becomes once it is settled)."""
    lines = [line for line in reply.text.splitlines() if line.strip()]
    card: dict[str, Any] = {
        "card_type": "text_notice",
        "main_title": {"title": card_title(reply)},
        "task_id": task_id,
        "card_action": {"type": 0},
    }
    if len(lines) > 1:
        card["sub_title_text"] = _short(" ".join(lines[1:]), CARD_TEXT_CHARS)
    return card


def card_text(card: Mapping[str, Any]) -> str:
    """The visible text of a card, as a quote of it carries it."""
    title = card.get("main_title")
    parts = [_str(title.get("title")) if isinstance(title, Mapping) else ""]
    parts.append(_str(card.get("sub_title_text")))
    return "\n".join(p for p in parts if p)
