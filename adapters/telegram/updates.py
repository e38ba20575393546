"""Incoming PTB ``Update`` objects as platform-neutral ``adapters.base`` objects; no I/O.

``to_incoming`` (user messages, new or edited: text, captions, photos, files, voice),
``to_button_press`` (callback queries) and ``to_chat_event`` (the bot added or removed, group →
supergroup migration, renames). Entity offsets are UTF-16 (``utf16``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from telegram import Chat as TgChat
from telegram import ChatMember, Message, MessageEntity, Update, User

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

from .utf16 import u16_to_index

PLATFORM = "telegram"

_REMOVED_STATUSES = frozenset({ChatMember.LEFT, ChatMember.BANNED})
_PRESENT_STATUSES = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})


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
        start = u16_to_index(raw_text, entity.offset)
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
