"""How a page sees a web chat's board (the board itself is the ``adapters.chat_board`` port,
implemented over the database so that every worker serving the console sees the same chats).

A client that has seen everything up to ``seq`` asks for "what changed after seq" and gets new
and edited messages alike, in chat order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.chat_board import Entry, Since

#: Characters of the replied-to message quoted above a reply.
QUOTE_CHARS = 80


class ChatError(Exception):
    """A request the chat cannot take; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Changes:
    """What a client has not seen yet, as the API sends it."""

    messages: list[dict[str, Any]]
    toasts: list[dict[str, Any]]
    seq: int

    def __bool__(self) -> bool:
        return bool(self.messages or self.toasts)

    @classmethod
    def seen_by(cls, found: Since, after: int, user_id: str) -> Changes:
        """``found`` as ``user_id`` sees it. A toast answers a press on the page that made
        it, at that moment: a page loading the whole log (``after`` 0: a reload, another
        tab) gets none, so old toasts never replay; other people's toasts are never shown."""
        return cls(
            messages=[as_json(e) for e in found.entries],
            toasts=[
                {"seq": t.seq, "message_id": t.message_id, "text": t.text}
                for t in found.toasts
                if after and t.user_id == user_id
            ],
            seq=max(after, found.newest),
        )


def safe_url(url: str) -> str | None:
    """Only web links reach the page: a citation is rendered as an ``href``."""
    return (
        url if url.startswith(("https://", "http://", "/")) and not url.startswith("//") else None
    )


def as_json(entry: Entry) -> dict[str, Any]:
    citation = entry.citation
    quote = entry.quote
    return {
        "id": entry.id,
        "seq": entry.seq,
        "kind": entry.kind,
        "sender": entry.sender,
        "badge": entry.badge,
        "text": entry.text,
        "sent_at": entry.sent_at.isoformat(),
        "reply_to": entry.reply_to,
        "quote": {"sender": quote.sender, "text": quote.text[:QUOTE_CHARS]} if quote else None,
        "citation": (
            {"title": citation.title, "url": safe_url(citation.url)} if citation else None
        ),
        "buttons": [[{"label": b.label, "action": b.action} for b in row] for row in entry.buttons],
        "mentions": list(entry.mentions),
        "edited": entry.edited,
    }
