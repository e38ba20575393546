"""Slack's "mrkdwn" text format: ``&``, ``<`` and ``>`` are escaped as entities and everything
between ``<`` and ``>`` is markup (``<@U123>`` user mention, ``<#C123|name>`` channel,
``<!here>``, ``<https://…|label>`` link). Incoming text is decoded to what the user saw
(``decode_text``); outgoing text is escaped (``escape``), so a ``<`` in a question quoted back can
never turn into a mention or a link."""

from __future__ import annotations

import re

_MARKUP = re.compile(r"<([^<>\n]*)>")
#: Removed bot mentions are replaced by this placeholder, then it and its blanks go.
_HOLE = "\ue000"
_HOLE_RE = re.compile(r"[ \t\u00a0]*\ue000[ \t\u00a0]*")


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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
