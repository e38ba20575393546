"""The console's live feed: new, urgent (P1), warned and overdue tickets as server-sent events.

``GET /live/events`` (engineers only) streams what changed since the page connected. The SLA
watch's pulse wakes the stream when a ticket opens or a clock fires; without one it re-reads
every ``KEEPALIVE`` seconds, so a ticket registered any other way still shows within that. The
stream reads the database in an executor and ends when the console stops.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine, func
from sqlmodel import col, select

from bot import texts
from bot.infra.clock import as_utc
from bot.registry.models import Hospital
from bot.registry.sessions import read_session
from bot.sla.models import ClockKind, SlaClock
from bot.sla.pulse import Pulse
from bot.tickets.models import OPEN_STATUSES, Ticket
from bot.web.app import Console

#: Seconds between two reads when nothing wakes the stream (also the keep-alive comment).
KEEPALIVE = 10.0
#: Events sent per read at most (a burst of tickets shows as the newest ones).
BATCH = 50


@dataclass
class Cursor:
    """What this stream has already told its page."""

    last_ticket_id: int
    since: dt.datetime
    reported: set[tuple[int, str]] = field(default_factory=set)


def start_cursor(db: Engine, now: dt.datetime) -> Cursor:
    with read_session(db) as s:
        last = s.exec(select(func.max(Ticket.id))).one()
    return Cursor(int(last or 0), as_utc(now))


def changes(db: Engine, cursor: Cursor, local: Any) -> list[tuple[str, dict[str, Any]]]:
    """Events since the cursor (which it advances): ``new`` / ``urgent`` tickets, and clocks
    that were ``warning`` or went ``overdue``."""
    out: list[tuple[str, dict[str, Any]]] = []
    with read_session(db) as s:
        names = {h.id: h.name for h in s.exec(select(Hospital)).all()}
        tickets = s.exec(
            select(Ticket)
            .where(col(Ticket.id) > cursor.last_ticket_id)
            .order_by(col(Ticket.id))
            .limit(BATCH)
        ).all()
        for t in tickets:
            cursor.last_ticket_id = max(cursor.last_ticket_id, t.id or 0)
            out.append(("urgent" if t.urgency == "P1" else "new", _ticket(t, names, local)))
        fired = s.exec(
            select(SlaClock, Ticket)
            .join(Ticket, col(Ticket.id) == col(SlaClock.ticket_id))
            .where(
                (col(SlaClock.warned_at) >= cursor.since)
                | (col(SlaClock.breached_at) >= cursor.since)
            )
            .where(col(Ticket.status).in_(OPEN_STATUSES))
            .order_by(func.coalesce(col(SlaClock.breached_at), col(SlaClock.warned_at)))
            .limit(BATCH)
        ).all()
    for clock, t in fired:
        kind = "overdue" if clock.breached_at is not None else "warning"
        fired_at = clock.breached_at or clock.warned_at or cursor.since
        cursor.since = max(cursor.since, fired_at)  # same-instant rows: ``reported`` dedupes
        key = (clock.id or 0, kind)
        if key in cursor.reported:
            continue
        cursor.reported.add(key)
        data = _ticket(t, names, local)
        data["clock"] = ClockKind(clock.kind).label
        data["due"] = local(clock.due_at, "%H:%M")
        out.append((kind, data))
    return out


def _ticket(t: Ticket, names: dict[str, str], local: Any) -> dict[str, Any]:
    return {
        "number": t.number,
        "url": f"/tickets/{t.number}",
        "urgency": t.urgency,
        "urgency_label": texts.URGENCY_LABELS.get(t.urgency, t.urgency),
        "status": t.status,
        "status_label": texts.STATUS_LABELS.get(t.status, t.status),
        "hospital": names.get(t.hospital_id, t.hospital_id),
        "question": t.question[:80],
        "category": texts.CATEGORY_LABELS.get(t.category, t.category),
        "created": local(t.created_at),
    }


def sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    services = console.services
    idle = Pulse()  # without an SLA watch nothing beats: the stream re-reads on its timeout

    @router.get("/live/events")
    async def live_events(request: Request) -> StreamingResponse:
        console.engineer(request)
        pulse = services.sla.pulse if services.sla is not None else idle
        cursor = await services.db.reading(start_cursor, console.db, services.clock())

        async def stream() -> AsyncIterator[str]:
            yield "retry: 3000\n\n"
            seen = pulse.generation
            while not pulse.closed and not await request.is_disconnected():
                events = await services.db.reading(changes, console.db, cursor, console.local_time)
                for kind, data in events:
                    yield sse(kind, data)
                if not events:
                    yield ": keepalive\n\n"
                seen = await pulse.wait(seen, KEEPALIVE)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
