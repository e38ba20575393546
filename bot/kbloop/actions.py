"""The label buttons' action strings: encoded and decoded here only.

``kbl:<ticket number>:<a|n|w>[:<article id>]`` — a = this article answers it, n = none
(not a KB matter), w = a new article is needed. Telegram allows 64 bytes of callback data, so
an article whose id does not fit gets no button (``encode`` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.kbloop.models import Verdict

PREFIX = "kbl"
_CODES = {Verdict.ARTICLE: "a", Verdict.NONE: "n", Verdict.NEW: "w"}
_VERDICTS = {code: verdict for verdict, code in _CODES.items()}
_MAX_BYTES = 64


@dataclass(frozen=True)
class LabelAction:
    number: str
    verdict: Verdict
    article_id: str | None = None


def encode(action: LabelAction) -> str | None:
    """The button's action string, or None when it would not fit a platform's limit."""
    parts = [PREFIX, action.number, _CODES[action.verdict]]
    if action.verdict is Verdict.ARTICLE:
        if not action.article_id:
            raise ValueError("an article label names the article")
        parts.append(action.article_id)
    data = ":".join(parts)
    return data if len(data.encode("utf-8")) <= _MAX_BYTES else None


def decode(data: str) -> LabelAction | None:
    """The label action a button carried, or None if ``data`` is not one (another button's,
    or a malformed one: a press on it is then only acknowledged)."""
    parts = data.split(":", 3)
    if len(parts) < 3 or parts[0] != PREFIX or parts[2] not in _VERDICTS:
        return None
    verdict = _VERDICTS[parts[2]]
    article = parts[3] if len(parts) == 4 else None
    if (verdict is Verdict.ARTICLE) != bool(article):
        return None
    return LabelAction(parts[1], verdict, article)
