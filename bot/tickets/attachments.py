"""Screenshots and logs kept with a ticket.

Two sources: a hospital user (or an engineer) uploads a file to a web ticket — its bytes are
checked (size, an allowed type recognised from the content, not the name) and stored under
``<data_dir>/attachments/<ticket number>/`` owner-only, with a ``ticket_attachment`` row; and
a photo or file sent in a ticket's chat thread — its platform reference (file id, name, type,
size) is kept, the content is not fetched (the platform keeps it). Engineers see both on the
ticket; a file name passes the redaction gate like every personal text (the content of a
screenshot cannot be masked: the upload form asks the user to cover patient data first).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Field, SQLModel, col, select

from adapters.base import Attachment
from bot.infra.clock import Clock, utc_field, utc_now
from bot.registry.sessions import read_session, write_session
from bot.tickets.models import Ticket

#: What may be uploaded: the kind recognised from the file's first bytes → its content type.
ALLOWED = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "text": "text/plain; charset=utf-8",
}
_SUFFIX = {"jpeg": "jpg", "text": "txt"} | {k: k for k in ("png", "gif", "webp", "pdf", "zip")}
#: Said to the user when a file is refused.
ALLOWED_TEXT = "截图（PNG、JPG、GIF、WebP）、PDF、ZIP 压缩包或文本日志（.txt、.log、.csv）"
_TEXT_NAMES = (".txt", ".log", ".csv")
_UNSAFE = re.compile(r"[^\w.\-（）()\u4e00-\u9fff]+")


class TicketAttachment(SQLModel, table=True):
    """One file of a ticket: stored here (``stored_name``) or kept by a chat platform
    (``platform_file_id``)."""

    __tablename__ = "ticket_attachment"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    #: "web" (uploaded to the console) or the chat platform it was sent on.
    source: str = Field(max_length=16)
    #: "file" for an upload; the chat's kind ("photo", "document", …) otherwise.
    kind: str = Field(max_length=16)
    file_name: str = Field(default="", max_length=200)
    content_type: str = Field(default="", max_length=100)
    size: int | None = None
    #: The file under the attachments folder (uploads only).
    stored_name: str | None = Field(default=None, max_length=300)
    #: The platform's reference to the file (chat attachments only).
    platform_file_id: str | None = Field(default=None, max_length=300)
    #: Who added it: "hospital:h001#3", "engineer:e01", or "telegram:<user id>".
    added_by: str = Field(max_length=80)
    added_at: dt.datetime = utc_field()


class AttachmentRefused(ValueError):
    """The file cannot be kept: the message says why, in the user's words."""


@dataclass(frozen=True)
class Upload:
    file_name: str
    data: bytes


def sniff(name: str, data: bytes) -> str | None:
    """The allowed kind of a file, recognised from its content (None: not allowed)."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if name.lower().endswith(_TEXT_NAMES) and b"\x00" not in data:
        for encoding in ("utf-8", "gb18030"):
            try:
                data.decode(encoding)
                return "text"
            except UnicodeDecodeError:
                continue
    return None


def check_upload(upload: Upload, max_bytes: int) -> str:
    """The upload's allowed kind, or ``AttachmentRefused`` saying why it cannot be kept."""
    if not upload.data:
        raise AttachmentRefused("文件是空的。")
    if len(upload.data) > max_bytes:
        raise AttachmentRefused(f"文件太大：最大 {max_bytes // 1024} KB。")
    kind = sniff(upload.file_name, upload.data)
    if kind is None:
        raise AttachmentRefused(f"不支持这种文件：可以上传{ALLOWED_TEXT}。")
    return kind


def safe_name(name: str) -> str:
    """A file name that is only a name (no folders, no odd characters), at most 100 chars."""
    base = Path(name.replace("\\", "/")).name.strip() or "file"
    return _UNSAFE.sub("_", base)[-100:]


class AttachmentStore:
    def __init__(self, engine: Engine, folder: Path | None = None, clock: Clock = utc_now) -> None:
        """``folder``: where uploads are kept (None: chat attachments only)."""
        self._engine = engine
        self._folder = folder
        self._clock = clock

    @property
    def folder(self) -> Path:
        if self._folder is None:
            raise RuntimeError("this attachment store keeps no files")
        return self._folder

    def add_upload(self, number: str, upload: Upload, max_bytes: int, by: str) -> TicketAttachment:
        """Check and keep an uploaded file (``AttachmentRefused`` says why it is not)."""
        kind = check_upload(upload, max_bytes)
        name = safe_name(upload.file_name)
        with write_session(self._engine) as s:
            ticket = s.exec(select(Ticket).where(Ticket.number == number)).first()
            if ticket is None or ticket.id is None:
                raise AttachmentRefused("工单不存在。")
            row = TicketAttachment(
                ticket_id=ticket.id,
                source="web",
                kind="file",
                file_name=name,
                content_type=ALLOWED[kind],
                size=len(upload.data),
                added_by=by[:80],
                added_at=self._clock(),
            )
            s.add(row)
            s.flush()
            # the name the user gave stays in the row (masked): it may name a patient
            stored = f"{number}/{row.id}.{_SUFFIX[kind]}"
            row.stored_name = stored
            s.add(row)
            self._write(stored, upload.data)  # inside the transaction: no row without its file
        return row

    def _write(self, stored: str, data: bytes) -> None:
        path = self.folder / stored
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)

    def add_chat(
        self, ticket_id: int, platform: str, attachments: tuple[Attachment, ...], by: str
    ) -> int:
        """Keep the references of a chat message's photos and files with the ticket."""
        with write_session(self._engine) as s:
            for a in attachments:
                s.add(
                    TicketAttachment(
                        ticket_id=ticket_id,
                        source=platform[:16],
                        kind=a.kind[:16],
                        file_name=(a.file_name or "")[:200],
                        content_type=(a.mime_type or "")[:100],
                        size=a.size,
                        platform_file_id=a.file_id[:300],
                        added_by=by[:80],
                        added_at=self._clock(),
                    )
                )
        return len(attachments)

    def of_ticket(self, ticket_id: int) -> list[TicketAttachment]:
        with read_session(self._engine) as s:
            stmt = (
                select(TicketAttachment)
                .where(TicketAttachment.ticket_id == ticket_id)
                .order_by(col(TicketAttachment.id))
            )
            return list(s.exec(stmt).all())

    def get(self, ticket_id: int, attachment_id: int) -> TicketAttachment | None:
        with read_session(self._engine) as s:
            row = s.get(TicketAttachment, attachment_id)
        return row if row is not None and row.ticket_id == ticket_id else None

    def read(self, row: TicketAttachment) -> bytes:
        if row.stored_name is None:
            raise FileNotFoundError("kept by the chat platform")
        return (self.folder / row.stored_name).read_bytes()
