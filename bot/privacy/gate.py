"""The one redaction gate: every text that is stored or shown passes ``clean``.

Three doors lead through it, so no caller has to remember it:

* ``RedactionGate.incoming``: a chat message at the pipeline's edge — its text (cut to the
  longest message the bot reads, before anything costly), the sender's display name and the
  attachments' file names. A name such as ``张三138xxxx5678`` never reaches a ticket.
* ``RedactionGate.outgoing``: every reply on its way to a platform (``Messenger``), so an
  engineer's reply, note or resolution reaches the hospital masked, from chat or the web.
* ``guard_storage``: every column listed in ``PERSONAL_TEXT`` is cleaned on INSERT and UPDATE
  by the ORM, whichever store, page or command writes it. The table is also the list of what
  ``bot.privacy.purge`` erases. ``tests/unit/test_privacy_gate.py`` fails when a table gets a
  free-text column that is in neither ``PERSONAL_TEXT`` nor ``NOT_PERSONAL``.

Cleaning also deletes control characters other than tab and line breaks: a NUL byte is
refused by PostgreSQL and would drop the whole message or import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper

from adapters.base import Attachment, IncomingMessage, Reply
from bot.redact import redact

#: Free-text columns that may carry personal data: masked on write, erased by a purge.
PERSONAL_TEXT: Mapping[str, tuple[str, ...]] = {
    "ticket": ("reporter_name", "question", "resolution"),
    "ticket_message": ("author", "text"),
    "ticket_attachment": ("file_name",),
    "ticket_event_detail": ("actor_name", "text"),
    "exchange": ("reporter_name", "question"),
    "incident_reporter": ("name",),  # erased with its ticket
    "receipt": ("user_name",),
    "hospital_chat": ("title", "deactivated_reason"),
    "hospital_link": ("label",),
    "kb_article": ("title", "module", "tags_json", "questions_json", "body", "retired_reason"),
    "kb_article_version": ("markdown",),
    "notice": ("title", "body", "product", "module", "action"),
    "notice_item": ("value",),
    "notice_wave": ("note",),
    "notice_audit": ("detail",),
    "web_audit": ("detail",),
    # bot.workflows: what an engineer typed (masked; not yet cleared by a ticket's erasure)
    "remote_grant": ("purpose",),
    "upgrade_step": ("notes",),
    # the playground's chats: what people and the bot said, names, a hospital link's label
    "web_chat_entry": ("sender", "badge", "text"),
}

#: Unbounded text columns that hold no personal data, and why.
NOT_PERSONAL: Mapping[str, tuple[str, ...]] = {
    "engineer": ("name",),  # the vendor's staff, named on purpose
    "hospital": ("name", "region", "his_version"),  # the customer, not a person
    "exchange": ("article_ids",),  # KB ids
    "ticket": (),
    "ticket_article": ("title",),  # a KB article's title as it was offered
    "ticket_event": ("from_value", "to_value"),  # statuses, categories, engineer ids
    "kb_article": ("source", "retired_by"),  # a folder path, an engineer id
    "kb_article_version": ("source", "changed_by"),
    "notice": ("download_url", "checksum"),
    "delivery": ("last_error",),  # the platform's error sentence
    "web_account": ("password_hash",),
    "erasure": ("scope", "target"),  # what was erased is named by ticket/hospital id only
    "duty_override": ("reason",),  # why the vendor's own roster changed (a swap, leave)
    # an arriving event as JSON: masked by ``RedactionGate.incoming`` before it is stored
    # (text, names, titles, file names), emptied as soon as the event is handled
    "inbox_event": ("payload",),
    # a reply on its way to the worker holding the WeCom connection: the adapter gets it from
    # the Messenger after the outgoing gate masked it; deleted once the asker read the outcome
    # (an abandoned row within seconds); the error is the platform's sentence
    "relayed_send": ("payload", "error"),
    # the bot's buttons (its own labels and actions) and mentioned platform user ids
    "web_chat_entry": ("buttons", "mentions"),
}

#: Characters of a display name or a file name kept (longer ones are cut).
MAX_NAME = 64
MAX_FILE_NAME = 200
_CONTROL = {c: None for c in range(32) if chr(c) not in "\t\n\r"} | {0x7F: None}


def strip_controls(text: str) -> str:
    """``text`` without control characters other than tab, CR and LF."""
    return text.translate(_CONTROL)


def clean(text: str) -> str:
    """Control characters removed, personal data masked: what may be stored or shown."""
    return redact(strip_controls(text))


CUT_MARK = "…（消息过长，已截断）"


def cut(text: str, limit: int) -> str:
    """The first ``limit`` characters, marked when something was cut. Idempotent: a text cut
    before (stored in the inbox, then handled) is not cut again."""
    if len(text) <= limit or (text.endswith(CUT_MARK) and len(text) == limit + len(CUT_MARK)):
        return text
    return text[:limit] + CUT_MARK


@dataclasses.dataclass(frozen=True)
class RedactionGate:
    """``max_text``: the longest message text the bot reads, in characters; anything beyond
    is cut before redaction and every later step."""

    max_text: int = 2000
    mask: Callable[[str], str] = clean

    def incoming(self, msg: IncomingMessage) -> IncomingMessage:
        sender = dataclasses.replace(
            msg.sender, display_name=self.mask(msg.sender.display_name[:MAX_NAME])
        )
        return dataclasses.replace(
            msg,
            text=self.mask(cut(msg.text, self.max_text)),
            sender=sender,
            chat_title=self.mask(msg.chat_title[:MAX_NAME]),
            attachments=tuple(self._attachment(a) for a in msg.attachments),
        )

    def _attachment(self, attachment: Attachment) -> Attachment:
        if attachment.file_name is None:
            return attachment
        name = self.mask(attachment.file_name[:MAX_FILE_NAME])
        return dataclasses.replace(attachment, file_name=name)

    def outgoing(self, reply: Reply) -> Reply:
        return dataclasses.replace(reply, text=self.mask(reply.text))


def _clean_row(mapper: Mapper[Any], _connection: Any, row: Any) -> None:
    for name in PERSONAL_TEXT.get(mapper.local_table.name, ()):  # type: ignore[attr-defined]
        value = getattr(row, name, None)
        if isinstance(value, str) and value:
            masked = clean(value)
            if masked != value:
                setattr(row, name, masked)


def guard_storage() -> None:
    """Clean the ``PERSONAL_TEXT`` columns of every mapped class on INSERT and UPDATE.
    Registered once per process, for all mappers (the database engine calls this)."""
    for when in ("before_insert", "before_update"):
        if not event.contains(Mapper, when, _clean_row):
            event.listen(Mapper, when, _clean_row)
