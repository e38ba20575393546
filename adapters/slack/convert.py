"""Pure translation between Slack payloads and the platform-neutral model.

Nothing here does I/O. Incoming: ``to_incoming`` (message / app_mention events),
``to_command`` (the ``/hisbot`` slash command), ``to_button_press`` (block_actions) and
``to_chat_event`` (channel renames, archiving, the bot leaving or joining) turn Slack JSON into
``adapters.base`` objects. Outgoing: ``render`` / ``render_update`` / ``render_ephemeral`` turn a
``Reply`` into keyword arguments of chat.postMessage / chat.update / chat.postEphemeral.

Slack text is "mrkdwn": ``&``, ``<`` and ``>`` are escaped as entities and everything between
``<`` and ``>`` is markup (``<@U123>`` user mention, ``<#C123|name>`` channel, ``<!here>``,
``<https://…|label>`` link). Incoming text is decoded to what the user saw; outgoing text is
escaped, so a ``<`` in a question quoted back can never turn into a mention or a link. User text
is put in ``verbatim`` text objects: Slack does not auto-parse "@here", channel names or URLs in
it (Slack has no escape for ``*``/``_``/``~``, so those still format as in any Slack message).

Threads: a reply goes into the thread of the message it answers
(``thread_ts = chat.thread_id or reply_to``). ``reply_to_message_id`` of an incoming thread
reply is the thread's root (``thread_ts``), which is what the core links tickets to.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.base import (
    Attachment,
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)

__all__ = [
    "ACTION_PREFIX",
    "MAX_SECTION_TEXT",
    "PLATFORM",
    "TRUNCATED_MARKER",
    "command_message_id",
    "command_user",
    "decode_text",
    "escape",
    "is_ts",
    "message_user",
    "render",
    "render_ephemeral",
    "render_update",
    "to_button_press",
    "to_chat_event",
    "to_command",
    "to_incoming",
    "ts_to_datetime",
    "user_display_name",
]

PLATFORM = "slack"
#: action_id prefix of our buttons (``hisbot:<n>``); the adapter listens to exactly these.
ACTION_PREFIX = "hisbot:"
#: Slack's limit of a section block's text, in characters.
MAX_SECTION_TEXT = 3000
#: Slack's limit of blocks in one message.
MAX_BLOCKS = 50
#: A reply's text never takes more than this many section blocks (~60 000 characters).
MAX_TEXT_SECTIONS = 20
#: Button labels (plain_text) are limited to 75 characters; action blocks to 25 elements.
MAX_BUTTON_LABEL = 75
MAX_ROW_BUTTONS = 25
#: Length of the notification fallback ``text`` (the blocks carry the full message).
MAX_FALLBACK = 3000
#: Citation titles longer than this are shortened (the link is the part that matters).
MAX_TITLE = 200
#: Appended where a text was cut because it would not fit.
TRUNCATED_MARKER = "\n…(已截断)"

#: Message ids the adapter makes up for slash commands: ``cmd:<user id>:<trigger id>``.
#: A reply to one is delivered ephemerally to that user (see ``SlackAdapter.send``).
COMMAND_REF_PREFIX = "cmd:"

#: Message subtypes that carry something a user said; every other subtype (joins, topic
#: changes, deletions, …) is a service message and gives None.
_CONTENT_SUBTYPES = frozenset(
    {None, "file_share", "thread_broadcast", "bot_message", "me_message", "message_changed"}
)
_TS = re.compile(r"^\d+\.\d+$")
_MARKUP = re.compile(r"<([^<>\n]*)>")
#: ``<@U123>`` / ``<@U123|ann>``: a user mention in raw mrkdwn.
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_USER_ID = re.compile(r"^[UWB][A-Z0-9]+$")
#: Removed bot mentions are replaced by this placeholder, then it and its blanks go.
_HOLE = "\ue000"
_HOLE_RE = re.compile(r"[ \t\u00a0]*\ue000[ \t\u00a0]*")

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


# ------------------------------------------------------------------ helpers


def is_ts(value: str | None) -> bool:
    """Whether ``value`` looks like a Slack message timestamp ("1712345678.123456")."""
    return bool(value) and _TS.match(value or "") is not None


def ts_to_datetime(ts: str | None) -> dt.datetime:
    """A Slack ``ts`` as an aware UTC datetime (now, if missing or malformed)."""
    try:
        return dt.datetime.fromtimestamp(float(ts or ""), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return dt.datetime.now(dt.UTC)


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _decode_token(token: str, bot_user_id: str) -> tuple[str, bool]:
    """One ``<…>`` token → (visible text, is a mention of the bot)."""
    target, _, label = token.partition("|")
    if target.startswith("@"):
        user = target[1:]
        if bot_user_id and user == bot_user_id:
            return _HOLE, True
        return "@" + _unescape(label or user), False
    if target.startswith("#"):
        return "#" + _unescape(label or target[1:]), False
    if target.startswith("!"):
        special = target[1:]
        if label:
            return _unescape(label), False  # <!subteam^S1|@oncall>, <!date^…|fallback>
        if special in ("here", "channel", "everyone"):
            return "@" + special, False
        return "@" + special.split("^", 1)[0], False
    if label:
        return _unescape(label), False
    url = _unescape(target)
    return (url[len("mailto:") :] if url.startswith("mailto:") else url), False


def decode_text(text: str, bot_user_id: str = "") -> tuple[str, bool]:
    """Slack mrkdwn → what the user sees; mentions of ``bot_user_id`` are removed.

    Returns (text, mentions_bot). ``<@U1|ann>`` → "@ann", ``<#C1|general>`` → "#general",
    ``<!here>`` → "@here", ``<https://x|label>`` → "label", ``<https://x>`` → "https://x",
    ``&lt; &gt; &amp;`` → ``< > &``.
    """
    text = text.replace(_HOLE, "")
    parts: list[str] = []
    mentioned = False
    last = 0
    for match in _MARKUP.finditer(text):
        parts.append(_unescape(text[last : match.start()]))
        visible, is_bot = _decode_token(match.group(1), bot_user_id)
        mentioned = mentioned or is_bot
        parts.append(visible)
        last = match.end()
    parts.append(_unescape(text[last:]))
    decoded = "".join(parts)
    if mentioned:
        decoded = _HOLE_RE.sub(lambda m: _fill_hole(decoded, m), decoded)
    return decoded.strip(), mentioned


def _fill_hole(text: str, match: re.Match[str]) -> str:
    """A removed mention with its blanks: one space between words, nothing at a line's edge."""
    start, end = match.start(), match.end()
    at_edge = start == 0 or text[start - 1] == "\n" or end == len(text) or text[end] == "\n"
    return "" if at_edge else " "


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


# ------------------------------------------------------------------ incoming


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


def command_message_id(user_id: str, trigger_id: str) -> str:
    """The made-up message id of a slash command invocation (it has no Slack message)."""
    return f"{COMMAND_REF_PREFIX}{user_id}:{trigger_id}"


def command_user(message_id: str | None) -> str | None:
    """The invoking user of a ``command_message_id``, or None for a real message id."""
    if not message_id or not message_id.startswith(COMMAND_REF_PREFIX):
        return None
    user = message_id[len(COMMAND_REF_PREFIX) :].split(":", 1)[0]
    return user or None


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


# ------------------------------------------------------------------ outgoing


def _escaped_len(text: str) -> int:
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def _prefix_fitting(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose escaped length is at most ``budget``."""
    used = 0
    for i, ch in enumerate(text):
        used += 5 if ch == "&" else 4 if ch in "<>" else 1
        if used > budget:
            return text[:i]
    return text


def _split(text: str, limit: int) -> list[str]:
    """Chunks whose escaped length is at most ``limit``, cut after a line break when one is in
    the second half of the window (else hard), stripped, none empty."""
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if _escaped_len(rest) <= limit:
            chunks.append(rest)
            break
        window = _prefix_fitting(rest, limit)
        cut = window.rfind("\n")
        if cut < len(window) // 2:
            cut = max(1, len(window))
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            chunks.append(piece)
    return chunks


def _cut(text: str, budget: int) -> str:
    keep = _prefix_fitting(text, max(0, budget - len(TRUNCATED_MARKER))).rstrip()
    return keep + TRUNCATED_MARKER


def _thread_ts(reply: Reply) -> str | None:
    for candidate in (reply.chat.thread_id, reply.reply_to):
        if is_ts(candidate):
            return candidate
    return None


def _mentions(user_ids: Iterable[str]) -> str:
    ids = [u for u in dict.fromkeys(user_ids) if _USER_ID.match(u)]
    return " ".join(f"<@{u}>" for u in ids)


def _link_url(url: str) -> str:
    return escape(url.strip()).replace("|", "%7C").replace(" ", "%20")


def _text_blocks(body: str, max_sections: int) -> list[dict[str, Any]]:
    chunks = _split(body, MAX_SECTION_TEXT)
    if len(chunks) > max_sections:
        rest = "\n".join(chunks[max_sections - 1 :])
        chunks = [*chunks[: max_sections - 1], _cut(rest, MAX_SECTION_TEXT)]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(c), "verbatim": True}}
        for c in chunks
    ]


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    tail: list[dict[str, Any]] = []
    mentions = _mentions(reply.mention_user_ids)
    if mentions:
        tail.append({"type": "section", "text": {"type": "mrkdwn", "text": "🔔 " + mentions}})
    if reply.citation is not None:
        title = reply.citation.title.strip() or reply.citation.article_id
        if len(title) > MAX_TITLE:
            title = title[: MAX_TITLE - 1] + "…"
        url = reply.citation.url.strip()
        link = f"<{_link_url(url)}|{escape(title)}>" if url else escape(title)
        tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"📖 {link}"}]})
    n = 0
    for row in reply.buttons:
        elements: list[dict[str, Any]] = []
        for button in row[:MAX_ROW_BUTTONS]:
            label = button.label.strip() or button.action
            if len(label) > MAX_BUTTON_LABEL:
                label = label[: MAX_BUTTON_LABEL - 1] + "…"
            elements.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": label, "emoji": True},
                    "value": button.action,
                    "action_id": f"{ACTION_PREFIX}{n}",
                }
            )
            n += 1
        if elements:
            tail.append({"type": "actions", "elements": elements})
    tail = tail[: MAX_BLOCKS - 1]
    room = min(MAX_TEXT_SECTIONS, MAX_BLOCKS - len(tail))
    return _text_blocks(reply.text, room) + tail


def _fallback(reply: Reply) -> str:
    body = reply.text.strip()
    if _escaped_len(body) > MAX_FALLBACK:
        body = _cut(body, MAX_FALLBACK)
    if not body and reply.citation is not None:
        body = reply.citation.title
    mentions = _mentions(reply.mention_user_ids)
    text = escape(body)
    return f"{mentions} {text}".strip() if mentions else text


def render(reply: Reply) -> dict[str, Any]:
    """``Reply`` → keyword arguments of ``AsyncWebClient.chat_postMessage``.

    The text goes into section blocks (split at line breaks every 3000 characters, cut with
    "…(已截断)" beyond ``MAX_TEXT_SECTIONS``), then the mentions, the citation as a context
    link, and one actions block per row of buttons (``value`` = ``Button.action``, ``action_id``
    ``hisbot:<n>``). ``text`` is the notification fallback. Link previews are off: KB links point
    into the vendor's intranet.
    """
    kwargs: dict[str, Any] = {
        "channel": reply.chat.chat_id,
        "text": _fallback(reply),
        "blocks": _blocks(reply),
        "unfurl_links": False,
        "unfurl_media": False,
    }
    thread = _thread_ts(reply)
    if thread is not None:
        kwargs["thread_ts"] = thread
    return kwargs


def render_update(message: MessageRef, reply: Reply) -> dict[str, Any]:
    """``Reply`` → keyword arguments of ``chat_update`` replacing ``message`` (text, blocks;
    no buttons in the reply removes the message's buttons)."""
    return {
        "channel": message.chat_id,
        "ts": message.message_id,
        "text": _fallback(reply),
        "blocks": _blocks(reply),
    }


def render_ephemeral(reply: Reply, user_id: str) -> dict[str, Any]:
    """``Reply`` → keyword arguments of ``chat_postEphemeral`` (visible to ``user_id`` only)."""
    kwargs: dict[str, Any] = {
        "channel": reply.chat.chat_id,
        "user": user_id,
        "text": _fallback(reply),
        "blocks": _blocks(reply),
    }
    thread = _thread_ts(reply)
    if thread is not None:
        kwargs["thread_ts"] = thread
    return kwargs
