"""Pure translation between Telegram objects and the platform-neutral model.

Nothing here does I/O. Incoming: ``to_incoming`` / ``to_button_press`` / ``to_chat_event`` turn a
PTB ``Update`` into ``adapters.base`` objects. Outgoing: ``render`` / ``render_parts`` turn a
``Reply`` into keyword arguments for ``Bot.send_message`` / ``Bot.edit_message_text``.

Outgoing text is sent as *plain text* (no ``parse_mode``); the only formatting, mentions of
user ids, is expressed as ``MessageEntity(type="text_mention")``. Replies quote user-provided
text (questions, hospital names, KB titles), and with a parse mode a single stray ``<``, ``&``,
``_`` or ``*`` in any of them makes Telegram reject the whole message ("can't parse entities").
Plain text cannot fail that way and needs no escaping at all, so nothing can be forgotten.

Every length and offset the Bot API uses is counted in UTF-16 code units (emoji and rare CJK
characters outside the BMP count twice); this module does the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from telegram import Chat as TgChat
from telegram import (
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)

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
    "MAX_MESSAGE_LENGTH",
    "PLATFORM",
    "TRUNCATED_MARKER",
    "render",
    "render_parts",
    "to_button_press",
    "to_chat_event",
    "to_incoming",
    "utf16_len",
]

PLATFORM = "telegram"
#: sendMessage / editMessageText text limit, in UTF-16 code units.
MAX_MESSAGE_LENGTH = 4096
#: Appended where a text was cut because it would not fit.
TRUNCATED_MARKER = "\n…(已截断)"
#: A reply never becomes more than this many messages; the rest is cut with the marker.
MAX_PARTS = 5
#: Visible text of a mention of a user id (the link target is the id itself).
MENTION_LABEL = "工程师"
#: Citation titles longer than this are shortened (the URL is the part that matters).
_MAX_TITLE = 200

_REMOVED_STATUSES = frozenset({ChatMember.LEFT, ChatMember.BANNED})
_PRESENT_STATUSES = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})


# ------------------------------------------------------------------ helpers


def utf16_len(text: str) -> int:
    """Length as the Bot API counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _u16_to_index(text: str, offset: int) -> int:
    """Python string index of a UTF-16 offset (clamped to the text)."""
    units = 0
    for i, ch in enumerate(text):
        if units >= offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def _prefix_fitting(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose UTF-16 length is at most ``budget``."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > budget:
            return text[:i]
    return text


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _chat_ref(chat: TgChat, thread_id: int | None) -> ChatRef:
    thread = str(thread_id) if chat.is_forum and thread_id is not None else None
    return ChatRef(PLATFORM, str(chat.id), thread)


def _sender(message: Message) -> Sender:
    # Anonymous group admins and channels post "as the chat": from_user is a placeholder bot.
    if message.sender_chat is not None:
        chat = message.sender_chat
        return Sender(str(chat.id), chat.effective_name or str(chat.id), is_bot=False)
    user = message.from_user
    if user is None:
        return Sender("", "")
    return Sender(str(user.id), _display_name(user), is_bot=user.is_bot)


def _display_name(user: User) -> str:
    name = " ".join(p for p in (user.first_name, user.last_name) if p).strip()
    return name or (user.username or "") or str(user.id)


# ------------------------------------------------------------------ incoming


def to_incoming(update: Update, bot_id: int, bot_username: str) -> IncomingMessage | None:
    """A ``message`` / ``edited_message`` update as an ``IncomingMessage``.

    Returns None for updates that carry nothing for the core (stickers, service messages,
    channel posts). The ``@bot_username`` mention is removed from the text, and a command's
    ``@bot_username`` suffix too ("/ticket@his_bot 打印机" → "/ticket 打印机").
    """
    edited = update.edited_message is not None
    message = update.edited_message if edited else update.message
    if message is None:
        return None
    raw_text = message.text if message.text is not None else (message.caption or "")
    attachments = _attachments(message)
    if not raw_text and not attachments:
        return None

    own = "@" + bot_username.lower() if bot_username else None
    mentioned = others = False
    # python index spans of raw_text to delete, and whether one adjoining blank goes too
    removals: list[tuple[int, int, bool]] = []
    entities = (
        message.parse_entities() if message.text is not None else message.parse_caption_entities()
    )
    for entity, fragment in entities.items():
        start = _u16_to_index(raw_text, entity.offset)
        end = start + len(fragment)
        if entity.type == MessageEntity.MENTION and own and fragment.lower() == own:
            mentioned = True
            removals.append((start, end, True))
        elif entity.type == MessageEntity.MENTION:
            others = True
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user:
            if entity.user.id == bot_id:
                mentioned = True
            else:
                others = True
        elif entity.type == MessageEntity.BOT_COMMAND:
            command, _, target = fragment.partition("@")
            if target and own and "@" + target.lower() == own:
                mentioned = True
                removals.append((start + len(command), end, False))
            elif not target and entity.offset == 0:
                mentioned = True  # a bare leading command addresses every bot in the chat

    reply_to = _reply_to(message)
    to_person = False
    if reply_to is not None and reply_to.from_user is not None:
        mentioned = mentioned or reply_to.from_user.id == bot_id
        author = reply_to.from_user
        sender = message.from_user
        to_person = not author.is_bot and (sender is None or author.id != sender.id)
    if message.chat.type == TgChat.PRIVATE:
        mentioned = True

    return IncomingMessage(
        chat=_chat_ref(message.chat, message.message_thread_id),
        message_id=str(message.message_id),
        sender=_sender(message),
        text=_remove_spans(raw_text, removals),
        sent_at=_utc(message.date),
        chat_title=message.chat.effective_name or "",
        reply_to_message_id=str(reply_to.message_id) if reply_to is not None else None,
        attachments=attachments,
        forwarded=message.forward_origin is not None,
        edited=edited,
        mentions_bot=mentioned,
        mentions_others=others,
        reply_to_person=to_person,
        reply_to_user_id=(
            str(reply_to.from_user.id)
            if reply_to is not None and reply_to.from_user is not None
            else None
        ),
        from_self=message.from_user is not None and message.from_user.id == bot_id,
    )


def _reply_to(message: Message) -> Message | None:
    target = message.reply_to_message
    if target is None:
        return None
    # In a forum, every message of a topic "replies" to the topic's creation message; that is
    # thread membership (already in ChatRef.thread_id), not a reply.
    if (
        message.is_topic_message
        and message.message_thread_id is not None
        and target.message_id == message.message_thread_id
    ):
        return None
    return target


def _remove_spans(text: str, spans: list[tuple[int, int, bool]]) -> str:
    """Delete spans (a mention with one adjoining space, so no double blank remains); trim."""
    for start, end, blank in sorted(spans, reverse=True):
        if blank and end < len(text) and text[end] == " ":
            end += 1
        elif blank and start > 0 and text[start - 1] == " ":
            start -= 1
        text = text[:start] + text[end:]
    return text.strip()


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        # every size of one photo is listed; the core wants the original (largest) one
        best = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(Attachment("photo", best.file_id, None, "image/jpeg", best.file_size))
    if message.document is not None:
        d = message.document
        found.append(Attachment("document", d.file_id, d.file_name, d.mime_type, d.file_size))
    if message.voice is not None:
        v = message.voice
        found.append(Attachment("voice", v.file_id, None, v.mime_type, v.file_size))
    if message.video is not None:
        vi = message.video
        found.append(Attachment("video", vi.file_id, vi.file_name, vi.mime_type, vi.file_size))
    if message.audio is not None:
        a = message.audio
        found.append(Attachment("file", a.file_id, a.file_name, a.mime_type, a.file_size))
    return tuple(found)


def to_button_press(update: Update) -> ButtonPress:
    """A ``callback_query`` update as a ``ButtonPress``.

    Raises ValueError for updates without a callback query or without the message the button
    belongs to (inline-mode messages, which this bot never sends).
    """
    query = update.callback_query
    if query is None or query.message is None:
        raise ValueError("not a callback query on a chat message")
    msg = query.message
    thread: str | None = None
    if isinstance(msg, Message) and msg.chat.is_forum and msg.message_thread_id is not None:
        thread = str(msg.message_thread_id)
    user = query.from_user
    return ButtonPress(
        message=MessageRef(PLATFORM, str(msg.chat.id), str(msg.message_id)),
        sender=Sender(str(user.id), _display_name(user), is_bot=user.is_bot),
        action=query.data or "",
        press_id=query.id,
        thread_id=thread,
    )


def to_chat_event(update: Update) -> ChatEvent | None:
    """Membership changes of the bot, group → supergroup migration and renames.

    ``migrate_to_chat_id`` (posted in the old group) gives MIGRATED; its twin
    ``migrate_from_chat_id`` (posted in the new supergroup) is the same event and gives None.
    A promotion (member → administrator) is not BOT_ADDED. The update id is the occurrence's
    id (the inbox key): a redelivered update is stored once, a second removal after a re-add
    is an event of its own.
    """
    event = _chat_event(update)
    return None if event is None else replace(event, event_id=str(update.update_id))


def _chat_event(update: Update) -> ChatEvent | None:
    member = update.my_chat_member
    if member is not None:
        chat = ChatRef(PLATFORM, str(member.chat.id))
        new = member.new_chat_member
        old = member.old_chat_member
        title = member.chat.title
        if new.status in _REMOVED_STATUSES or (
            new.status == ChatMember.RESTRICTED and not getattr(new, "is_member", True)
        ):
            return ChatEvent(ChatEventKind.BOT_REMOVED, chat, title=title)
        was_present = old.status in _PRESENT_STATUSES or (
            old.status == ChatMember.RESTRICTED and getattr(old, "is_member", False)
        )
        if new.status in _PRESENT_STATUSES and not was_present:
            return ChatEvent(ChatEventKind.BOT_ADDED, chat, title=title)
        return None
    message = update.message
    if message is None:
        return None
    chat = ChatRef(PLATFORM, str(message.chat.id))
    if message.migrate_to_chat_id is not None:
        return ChatEvent(
            ChatEventKind.MIGRATED,
            chat,
            new_chat_id=str(message.migrate_to_chat_id),
            title=message.chat.title,
        )
    if message.new_chat_title:
        return ChatEvent(ChatEventKind.RENAMED, chat, title=message.new_chat_title)
    return None


# ------------------------------------------------------------------ outgoing


@dataclass(frozen=True)
class _Span:
    """A text_mention over ``text[start:end]`` (python indices) for ``user_id``."""

    start: int
    end: int
    user_id: int
    label: str


def _chat_id(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value  # "@channelusername"


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _tail(reply: Reply) -> tuple[str, list[_Span]]:
    """Mentions and citation, as text appended to the body, with the mention spans."""
    blocks: list[str] = []
    spans: list[_Span] = []
    ids = [uid for uid in (_int(u) for u in reply.mention_user_ids) if uid is not None]
    if ids:
        line = "🔔 "
        for n, uid in enumerate(ids, 1):
            label = "@" + MENTION_LABEL + (str(n) if len(ids) > 1 else "")
            if n > 1:
                line += " "
            spans.append(_Span(len(line), len(line) + len(label), uid, label))
            line += label
        blocks.append(line)
    if reply.citation is not None:
        title = reply.citation.title.strip()
        if len(title) > _MAX_TITLE:
            title = title[: _MAX_TITLE - 1] + "…"
        blocks.append(f"📖 {title}\n{reply.citation.url}".strip())
    text = "\n\n".join(blocks)
    sep = "\n\n" if reply.text.strip() and text else ""
    shift = len(sep)
    return sep + text, [_Span(s.start + shift, s.end + shift, s.user_id, s.label) for s in spans]


def _entities(text: str, spans: Iterable[_Span]) -> list[MessageEntity]:
    return [
        MessageEntity(
            type=MessageEntity.TEXT_MENTION,
            offset=utf16_len(text[: s.start]),
            length=utf16_len(text[s.start : s.end]),
            user=User(id=s.user_id, first_name=s.label.lstrip("@"), is_bot=False),
        )
        for s in spans
    ]


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    rows = [
        [InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
        for row in reply.buttons
        if row
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def _kwargs(
    reply: Reply,
    text: str,
    spans: Sequence[_Span],
    *,
    first: bool,
    last: bool,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "chat_id": _chat_id(reply.chat.chat_id),
        "text": text,
        # KB links point into the vendor's intranet: a preview is useless and costs a fetch
        "link_preview_options": LinkPreviewOptions(is_disabled=True),
    }
    entities = _entities(text, spans)
    if entities:
        kwargs["entities"] = entities
    thread = _int(reply.chat.thread_id)
    if thread is not None:
        kwargs["message_thread_id"] = thread
    reply_to = _int(reply.reply_to)
    if first and reply_to is not None:
        kwargs["reply_parameters"] = ReplyParameters(
            message_id=reply_to, allow_sending_without_reply=True
        )
    markup = _markup(reply) if last else None
    if markup is not None:
        kwargs["reply_markup"] = markup
    return kwargs


def _cut(body: str, budget: int) -> str:
    """``body`` shortened to fit ``budget`` UTF-16 units including the truncation marker."""
    keep = _prefix_fitting(body, max(0, budget - utf16_len(TRUNCATED_MARKER))).rstrip()
    return keep + TRUNCATED_MARKER


def render(reply: Reply, *, limit: int = MAX_MESSAGE_LENGTH) -> dict[str, Any]:
    """``Reply`` → keyword arguments of ``Bot.send_message`` for ONE message.

    A text too long for one message is cut and ends in "…(已截断)"; mentions, citation and
    buttons are always kept. Used for edits (an edit cannot become two messages).
    """
    body = reply.text.strip()
    tail, spans = _tail(reply)
    if utf16_len(body + tail) > limit:
        body = _cut(body, limit - utf16_len(tail))
    return _kwargs(reply, body + tail, _shift(spans, len(body)), first=True, last=True)


def render_parts(
    reply: Reply, *, limit: int = MAX_MESSAGE_LENGTH, max_parts: int = MAX_PARTS
) -> list[dict[str, Any]]:
    """``Reply`` → ``send_message`` kwargs, split into several messages when too long.

    Splits at line breaks where possible. The first part quotes ``reply_to``; the last one
    carries the mentions, the citation and the buttons. More than ``max_parts`` parts' worth of
    text is cut with "…(已截断)".
    """
    body = reply.text.strip()
    tail, spans = _tail(reply)
    if utf16_len(body + tail) <= limit:
        return [render(reply, limit=limit)]
    chunks = _split(body, limit)
    if utf16_len(chunks[-1] + tail) > limit:
        chunks[-1:] = _split(chunks[-1], limit - utf16_len(tail))
    if len(chunks) > max_parts:
        rest = "\n".join(chunks[max_parts - 1 :])
        chunks = [*chunks[: max_parts - 1], _cut(rest, limit - utf16_len(tail))]
    out = [
        _kwargs(reply, chunk, (), first=i == 0, last=False) for i, chunk in enumerate(chunks[:-1])
    ]
    last = chunks[-1]
    out.append(
        _kwargs(reply, last + tail, _shift(spans, len(last)), first=len(chunks) == 1, last=True)
    )
    return out


def _shift(spans: Sequence[_Span], by: int) -> list[_Span]:
    return [_Span(s.start + by, s.end + by, s.user_id, s.label) for s in spans]


def _split(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` UTF-16 units, cut after a line break when one is in the
    second half of the window (else hard), stripped, none empty."""
    limit = max(1, limit)
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            chunks.append(rest)
            break
        window = _prefix_fitting(rest, limit)
        cut = window.rfind("\n")
        if cut < len(window) // 2:
            cut = len(window)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            chunks.append(piece)
    return chunks or [""]
