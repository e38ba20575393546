"""On-site service (现场服务): when phone and remote help fail, an engineer goes.

A visit is planned on a ticket (who, when; the ticket's level becomes on-site), the hospital is
told the plan, the engineer's arrival and departure are recorded, and the hospital confirms
the visit — only once both were recorded, so a visit without an arrival stays open. Every step
is an event in the ticket's audit trail.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.sessions import read_session, write_session
from bot.tickets.models import Ticket
from bot.tickets.numbering import normalise_number
from bot.tickets.store import Actor, audit_in
from bot.workflows.errors import WorkflowError, WorkflowNotFound
from bot.workflows.models import Level, SiteVisit
from bot.workflows.remote import (
    engineer_named,
    hospital_admin,
    not_admin,
    number_of,
    open_ticket_event,
    set_level_in,
)


class Visits:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _now(self) -> dt.datetime:
        return as_utc(self._clock())

    def plan(self, number: str, engineer_id: str, planned_at: dt.datetime, by: str) -> SiteVisit:
        """Plan a visit by ``engineer_id`` at ``planned_at`` (a naive value is taken as UTC)."""
        now = self._now()
        when = as_utc(planned_at)
        with write_session(self._engine) as s:
            visitor = engineer_named(s, engineer_id)
            ticket = open_ticket_event(
                s,
                number,
                by,
                "visit_planned",
                now,
                "安排现场服务",
                to_value=f"{when:%Y-%m-%d %H:%M} UTC",
                text=f"{visitor.name}（{visitor.id}）",
            )
            visit = SiteVisit(
                ticket_id=ticket.id or 0,
                hospital_id=ticket.hospital_id,
                engineer_id=visitor.id,
                planned_at=when,
                planned_by=by,
            )
            s.add(visit)
            audit_in(s, number, by, "level_changed", now, to_value=Level.ONSITE)
            set_level_in(s, ticket, Level.ONSITE, by, now)
            s.flush()
            return visit

    def arrive(self, visit_id: int, by: str) -> SiteVisit:
        return self._record(visit_id, by, "arrived_at", "visit_arrived")

    def depart(self, visit_id: int, by: str) -> SiteVisit:
        return self._record(visit_id, by, "departed_at", "visit_departed")

    def _record(self, visit_id: int, by: str, field: str, kind: str) -> SiteVisit:
        now = self._now()
        with write_session(self._engine) as s:
            visit = _visit(s, visit_id, None)
            if visit.confirmed_at is not None:
                raise WorkflowError(f"现场服务 {visit_id} 已由医院确认，不能再修改。")
            if getattr(visit, field) is not None:
                raise WorkflowError(f"现场服务 {visit_id} 已记录过这一步。")
            if field == "departed_at" and visit.arrived_at is None:
                raise WorkflowError(f"现场服务 {visit_id} 还没有到场记录：请先登记到场。")
            setattr(visit, field, now)
            audit_in(s, number_of(s, visit), by, kind, now, to_value=f"{now:%Y-%m-%d %H:%M} UTC")
            s.add(visit)
            return visit

    def confirm(
        self,
        visit_id: int,
        hospital_id: str,
        platform: str,
        user_id: str,
        name: str,
        *,
        hospital_link: bool = False,
    ) -> SiteVisit:
        """The hospital confirms the visit took place: an admin in chat, or its console
        access link (``hospital_link``, set by the console only); needs the arrival and the
        departure recorded."""
        now = self._now()
        with write_session(self._engine) as s:
            visit = _visit(s, visit_id, hospital_id)
            if not hospital_link and not hospital_admin(s, hospital_id, platform, user_id):
                raise not_admin()
            if visit.confirmed_at is not None:
                raise WorkflowError("这次现场服务已经确认过了。")
            if visit.arrived_at is None or visit.departed_at is None:
                raise WorkflowError("工程师的到场和离场尚未都登记，暂不能确认这次现场服务。")
            visit.confirmed_at = now
            visit.confirmed_by = f"{platform}:{user_id}"
            actor = Actor.hospital_user(hospital_id, platform, user_id, name)
            audit_in(s, number_of(s, visit), actor, "visit_confirmed", now)
            s.add(visit)
            return visit

    def get(self, visit_id: int, hospital_id: str | None = None) -> SiteVisit:
        with read_session(self._engine) as s:
            return _visit(s, visit_id, hospital_id)

    def for_ticket(self, number: str) -> list[SiteVisit]:
        with read_session(self._engine) as s:
            stmt = (
                select(SiteVisit)
                .join(Ticket, col(Ticket.id) == col(SiteVisit.ticket_id))
                .where(Ticket.number == normalise_number(number))
                .order_by(col(SiteVisit.id))
            )
            return list(s.exec(stmt).all())

    def for_hospital(self, hospital_id: str) -> list[SiteVisit]:
        with read_session(self._engine) as s:
            stmt = select(SiteVisit).where(SiteVisit.hospital_id == hospital_id)
            return list(s.exec(stmt.order_by(col(SiteVisit.planned_at).desc())).all())

    def ticket_number(self, visit: SiteVisit) -> str:
        with read_session(self._engine) as s:
            return number_of(s, visit)


def _visit(s: Session, visit_id: int, hospital_id: str | None) -> SiteVisit:
    visit = s.get(SiteVisit, visit_id)
    if visit is None or (hospital_id is not None and visit.hospital_id != hospital_id):
        raise WorkflowNotFound(f"没有现场服务 {visit_id}。")
    return visit
