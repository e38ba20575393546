"""Outgoing ``Reply`` objects as Block Kit: keyword arguments of chat.postMessage
(``render``), chat.update (``render_update``) and chat.postEphemeral (``render_ephemeral``);
no I/O.

Text is escaped mrkdwn in ``verbatim`` text objects: Slack does not auto-parse "@here", channel
names or URLs in it (Slack has no escape for ``*``/``_``/``~``, so those still format as in any
Slack message). A reply goes into the thread of the message it answers
(``thread_ts = chat.thread_id or reply_to``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from adapters.base import MessageRef, Reply
from adapters.chunks import split_at_lines

from .ids import ACTION_PREFIX, is_ts
from .mrkdwn import escape

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
_USER_ID = re.compile(r"^[UWB][A-Z0-9]+$")


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
    chunks = split_at_lines(body, MAX_SECTION_TEXT, _escaped_len, _prefix_fitting)
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
