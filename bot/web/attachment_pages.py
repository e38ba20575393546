"""A ticket's attachments on the console: hospital users (and engineers) upload screenshots
and logs to a ticket (``/tickets/<no>/files``, multipart — the one route that accepts it, with
its own size limit); engineers, and the hospital on its own ticket, download them. Chat
attachments are listed too (kept by the platform: name, type, size, who, when)."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from bot.tickets import Ticket, TicketError
from bot.tickets.attachments import (
    AttachmentRefused,
    AttachmentStore,
    TicketAttachment,
    Upload,
    check_upload,
)
from bot.web.app import Console
from bot.web.auth import Viewer

#: The routes that take a file, for the body limit (``BodyLimit.uploads``): a ticket's
#: attachments, and the new-ticket form (a screenshot with the question).
UPLOAD_PATH = re.compile(r"/tickets/(new|[^/]+/files)")
#: Room for the multipart framing and the form's other fields around the file.
FORM_OVERHEAD = 64 * 1024


def attachment_store(console: Console) -> AttachmentStore:
    return AttachmentStore(
        console.db, console.settings.path(console.settings.data_dir) / "attachments"
    )


def upload_limit(console: Console) -> int:
    return console.settings.web.attachment_max_kb * 1024 + FORM_OVERHEAD


async def form_upload(form: FormData, max_bytes: int) -> Upload | None:
    """The form's file, checked (``AttachmentRefused``); None when none was chosen."""
    sent = form.get("file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        return None
    upload = Upload(sent.filename, await sent.read())
    check_upload(upload, max_bytes)
    return upload


def attachments_of(console: Console, ticket: Ticket) -> list[TicketAttachment]:
    """For the ticket page (a database read: call off the loop)."""
    return attachment_store(console).of_ticket(ticket.id or 0)


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    services = console.services
    db = services.db
    store = attachment_store(console)
    max_bytes = console.settings.web.attachment_max_kb * 1024

    def ticket_for(viewer: Viewer, number: str) -> Ticket:
        try:
            return services.tickets.get(
                number, hospital_id=None if viewer.is_engineer else viewer.hospital_id
            )
        except TicketError:
            raise HTTPException(404) from None

    @router.post("/tickets/{number}/files")
    async def upload(request: Request, number: str) -> Response:
        viewer = console.signed_in(request)
        ticket = await db.read(lambda: ticket_for(viewer, number))
        form = await console.form(request, viewer)
        try:
            file = await form_upload(form, max_bytes)
            if file is None:
                raise AttachmentRefused("请选择要上传的文件。")
            await db.write(
                lambda: store.add_upload(ticket.number, file, max_bytes, viewer.audit_name)
            )
        except AttachmentRefused as exc:
            raise HTTPException(400, f"附件未上传：{exc}") from None
        return RedirectResponse(f"/tickets/{ticket.number}?done=attached", status_code=303)

    @router.get("/tickets/{number}/files/{attachment_id}")
    async def download(request: Request, number: str, attachment_id: int) -> Response:
        viewer = console.signed_in(request)
        ticket = await db.read(lambda: ticket_for(viewer, number))
        row = await db.read(lambda: store.get(ticket.id or 0, attachment_id))
        if row is None or row.stored_name is None:
            raise HTTPException(404)
        found = row
        try:
            data = await db.read(lambda: store.read(found))
        except OSError:
            raise HTTPException(404) from None
        name = quote(row.file_name or "attachment")
        return Response(
            data,
            media_type=row.content_type or "application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
        )

    return router
