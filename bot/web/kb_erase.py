"""Erasing an old version of a KB article (leads only).

KB history is readable by everyone who may read the KB, so a version that held personal data
(an example pasted from a real ticket before redaction covered it) must be erasable. The
version stays listed as erased; the erasure goes to the erasure log and the console audit —
by whom and when, never the text. The current version is the article: edit it first.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.privacy.purge import Eraser, PurgeRefused
from bot.web.app import Console

ERASE = "kb_erase"


def routes(console: Console) -> APIRouter:
    router = APIRouter()

    @router.post("/kb/{article_id}/history/{version}/erase")
    async def erase(request: Request, article_id: str, version: str) -> Response:
        viewer = console.engineer(request)
        await console.form(request, viewer)
        if "lead" not in viewer.roles or not version.isdigit() or len(article_id) > 64:
            raise HTTPException(404)
        by = viewer.engineer_id or ""
        try:
            await console.services.db.write(
                lambda: Eraser(console.db).erase_kb_version(article_id, int(version), by)
            )
        except PurgeRefused:
            raise HTTPException(404) from None
        ip = console.client_ip(request)
        await console.services.db.write(
            lambda: console.store.audit(viewer.audit_name, ERASE, article_id, f"v{version}", ip)
        )
        return RedirectResponse(f"/kb/{article_id}/history?n=erased", status_code=303)

    return router
