"""The playground: a chat page that is a hospital's group, answered by the real pipeline.

The "web" adapter carries the messages; this module decides who may speak where. Chat ids are
hospital ids, and the web chat of a hospital is registered to it like any group, so the
pipeline answers it (and tickets registered on the web form, whose chat is the same, get their
engineers' replies here). Engineers may use any hospital's chat; a hospital link only its own —
anything else is the console's usual 404.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from adapters.base import Sender
from bot.registry.models import Hospital
from bot.tickets.operations import WEB_PLATFORM
from bot.web.app import Console
from bot.web.auth import Viewer
from bot.web.names import link_badge

#: The display name a page starts with (the sender shown in the chat; the user may change it).
DEFAULT_NAME = "演示用户"


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    registry = console.services.registry
    db = console.services.db

    def open_chat(hospital: Hospital) -> None:
        """Register the hospital's web chat (idempotent: a read when it already is)."""
        chat = registry.get_chat(WEB_PLATFORM, hospital.id)
        if chat is None or not chat.active or chat.hospital_id != hospital.id:
            registry.add_chat(
                WEB_PLATFORM, hospital.id, hospital.id, title=f"{hospital.name}（网页）"
            )

    def hospital_for(request: Request, viewer: Viewer, hospital_id: str) -> Hospital:
        """The hospital whose chat the viewer may use, else 404 (foreign = nonexistent; a
        hospital trying another hospital's chat is audited)."""
        hospital = registry.get_hospital(hospital_id) if hospital_id else None
        if hospital is None or not viewer.may_see_hospital(hospital.id):
            if hospital is not None and viewer.is_hospital:
                console.probed(request, viewer, f"chat {hospital.id}")
            raise HTTPException(404)
        return hospital

    def badge(viewer: Viewer, hospital: Hospital) -> str:
        """Shown beside the name a user types: the hospital and the link, or the engineer."""
        if viewer.is_engineer:
            return f"{hospital.name} · 工程师 {viewer.engineer_id} 演示"
        links = console.store.links(hospital.id)
        return link_badge(hospital.name, next((k for k in links if k.id == viewer.link_id), None))

    async def authorize(request: Request, chat_id: str, writing: bool) -> Sender:
        viewer = console.viewer(request)
        if not viewer.signed_in:
            raise HTTPException(401)
        hospital = await db.write(lambda: hospital_for(request, viewer, chat_id))
        request.state.chat_client = viewer.session_hash  # long polls are capped per session
        if writing:
            request.state.chat_badge = await db.read(lambda: badge(viewer, hospital))
            console.check_csrf_header(request, viewer)
            # the API works without the page having been opened first
            await db.write(lambda: open_chat(hospital))
        return Sender(user_id=viewer.chat_user_id, display_name=viewer.name)

    chat_api = console.chat_api
    if chat_api is None:
        return router  # playground off: /playground is the usual 404
    router.include_router(chat_api.router(authorize))

    @router.get("/playground")
    async def playground(request: Request) -> Response:
        viewer = console.signed_in(request)
        return await db.write(lambda: page(request, viewer))

    def page(request: Request, viewer: Viewer) -> Response:
        """The playground page (database work: on the gateway's writer)."""
        requested = request.query_params.get("hospital", "")
        hospital: Hospital | None
        if viewer.is_hospital:
            hospital = hospital_for(request, viewer, requested or viewer.hospital_id or "")
            hospitals = [hospital]
        else:
            hospitals = registry.list_hospitals()
            hospital = hospital_for(request, viewer, requested) if requested else None
            hospital = hospital or (hospitals[0] if hospitals else None)
        if hospital is not None:
            open_chat(hospital)
        return console.render(
            request,
            viewer,
            "playground.html",
            {
                "hospitals": hospitals,
                "hospital": hospital,
                "default_name": DEFAULT_NAME if viewer.is_engineer else viewer.name,
            },
        )

    return router
