"""Outgoing ``Reply`` objects as keyword arguments of ``Bot.send_message`` (``render``,
``render_parts`` for a reply longer than one message) and ``Bot.edit_message_text``; no I/O.

Text is sent as *plain text* (no ``parse_mode``); the only formatting, mentions of user ids, is
expressed as ``MessageEntity(type="text_mention")``. Replies quote user-provided text
(questions, hospital names, KB titles), and with a parse mode a single stray ``<``, ``&``, ``_``
or ``*`` in any of them makes Telegram reject the whole message ("can't parse entities"). Plain
text cannot fail that way and needs no escaping at all, so nothing can be forgotten. Lengths are
UTF-16 (``utf16``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MessageEntity,
    ReplyParameters,
    User,
)

from adapters.base import Reply
from adapters.chunks import split_at_lines

from .utf16 import prefix_fitting, utf16_len

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
    keep = prefix_fitting(body, max(0, budget - utf16_len(TRUNCATED_MARKER))).rstrip()
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
    """Chunks of at most ``limit`` UTF-16 units (see ``adapters.chunks``); one empty chunk
    for an empty text."""
    return split_at_lines(text, max(1, limit), utf16_len, prefix_fitting) or [""]
