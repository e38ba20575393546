"""Remote help only with the hospital's permission (需在得到医院允许的情况下).

An engineer asks on a ticket (tool, purpose, expected minutes); the hospital's registered
admins — nobody else — grant or refuse; a grant lasts the minutes asked for, counted from the
consent, and the hospital may revoke it at any time. A ticket is marked as handled remotely
only while a grant is live. Every step is an event in the ticket's audit trail, written in the
same transaction as the grant.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.models import Engineer, HospitalAdmin
from bot.registry.sessions import read_session, write_session
from bot.tickets.models import Ticket
from bot.tickets.numbering import normalise_number
from bot.tickets.store import Actor, audit_in
from bot.workflows.errors import WorkflowError, WorkflowNotFound
from bot.workflows.models import GrantStatus, Level, RemoteGrant, SiteVisit, TicketLevel

#: The longest grant an engineer may ask for: a working day.
MAX_MINUTES = 12 * 60
MAX_TOOL = 64
LEVEL_LABELS: dict[str, str] = {Level.PHONE: "电话", Level.REMOTE: "远程", Level.ONSITE: "现场"}


def is_live(grant: RemoteGrant, now: dt.datetime) -> bool:
    return (
        grant.status == GrantStatus.GRANTED
        and grant.expires_at is not None
        and as_utc(now) < grant.expires_at
    )


def hospital_admin(s: Session, hospital_id: str, platform: str, user_id: str) -> bool:
    return s.get(HospitalAdmin, (hospital_id, platform, str(user_id))) is not None


def not_admin() -> WorkflowError:
    return WorkflowError("只有医院登记的管理员可以做这个决定，请联系本院信息科。")


class RemoteAccess:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _now(self) -> dt.datetime:
        return as_utc(self._clock())

    # -- the engineer asks ---------------------------------------------------------------------

    def request(
        self, number: str, engineer_id: str, tool: str, purpose: str, minutes: int
    ) -> RemoteGrant:
        tool, purpose = tool.strip(), purpose.strip()
        if not tool or len(tool) > MAX_TOOL:
            raise WorkflowError(f"请写明远程工具（1–{MAX_TOOL} 个字符），如 向日葵、ToDesk。")
        if not purpose:
            raise WorkflowError("请写明远程的目的（医院据此决定是否同意）。")
        if not 1 <= minutes <= MAX_MINUTES:
            raise WorkflowError(f"预计时长须在 1–{MAX_MINUTES} 分钟之间。")
        now = self._now()
        with write_session(self._engine) as s:
            ticket = open_ticket_event(
                s,
                number,
                engineer_id,
                "remote_requested",
                now,
                "申请远程",
                to_value=f"{minutes}min",
                text=f"工具：{tool}；目的：{purpose}；预计 {minutes} 分钟",
            )
            grant = RemoteGrant(
                ticket_id=ticket.id or 0,
                hospital_id=ticket.hospital_id,
                tool=tool,
                purpose=purpose,
                minutes=minutes,
                requested_by=engineer_id,
                requested_at=now,
            )
            s.add(grant)
            s.flush()
            return grant

    # -- the hospital decides ------------------------------------------------------------------

    def decide(
        self,
        grant_id: int,
        hospital_id: str,
        platform: str,
        user_id: str,
        name: str,
        agree: bool,
    ) -> RemoteGrant:
        """同意 / 拒绝 pressed in the hospital's chat; only its admins may decide."""
        now = self._now()
        with write_session(self._engine) as s:
            grant = self._grant(s, grant_id, hospital_id)
            if not hospital_admin(s, hospital_id, platform, user_id):
                raise not_admin()
            if grant.status != GrantStatus.REQUESTED:
                raise WorkflowError("这个远程申请已经处理过了。")
            grant.status = GrantStatus.GRANTED if agree else GrantStatus.REFUSED
            grant.decided_by = f"{platform}:{user_id}"
            grant.decided_at = now
            if agree:
                grant.expires_at = now + dt.timedelta(minutes=grant.minutes)
            actor = Actor.hospital_user(hospital_id, platform, user_id, name)
            kind = "remote_granted" if agree else "remote_refused"
            until = f"{grant.expires_at:%Y-%m-%d %H:%M} UTC" if grant.expires_at else ""
            audit_in(s, number_of(s, grant), actor, kind, now, to_value=until, text=grant.tool)
            s.add(grant)
            return grant

    def revoke(
        self,
        grant_id: int,
        hospital_id: str,
        platform: str,
        user_id: str,
        name: str,
        *,
        hospital_link: bool = False,
    ) -> RemoteGrant:
        """The hospital takes its consent back: an admin in chat, or anyone holding the
        hospital's own console access link (``hospital_link``, set by the console only)."""
        now = self._now()
        with write_session(self._engine) as s:
            grant = self._grant(s, grant_id, hospital_id)
            if not hospital_link and not hospital_admin(s, hospital_id, platform, user_id):
                raise not_admin()
            if not is_live(grant, now):
                raise WorkflowError("这个远程授权已失效（已过期、被拒绝或已撤销）。")
            grant.status = GrantStatus.REVOKED
            grant.revoked_at = now
            actor = Actor.hospital_user(hospital_id, platform, user_id, name)
            audit_in(s, number_of(s, grant), actor, "remote_revoked", now, text=grant.tool)
            s.add(grant)
            return grant

    # -- reading -------------------------------------------------------------------------------

    def get(self, grant_id: int) -> RemoteGrant:
        with read_session(self._engine) as s:
            return self._grant(s, grant_id, None)

    def for_ticket(self, number: str) -> list[RemoteGrant]:
        with read_session(self._engine) as s:
            stmt = (
                select(RemoteGrant)
                .join(Ticket, col(Ticket.id) == col(RemoteGrant.ticket_id))
                .where(Ticket.number == normalise_number(number))
                .order_by(col(RemoteGrant.id))
            )
            return list(s.exec(stmt).all())

    def live_for_hospital(self, hospital_id: str) -> list[RemoteGrant]:
        now = self._now()
        with read_session(self._engine) as s:
            stmt = select(RemoteGrant).where(
                RemoteGrant.hospital_id == hospital_id,
                RemoteGrant.status == GrantStatus.GRANTED,
                col(RemoteGrant.expires_at) > now,
            )
            return list(s.exec(stmt).all())

    def ticket_number(self, grant: RemoteGrant) -> str:
        with read_session(self._engine) as s:
            return number_of(s, grant)

    @staticmethod
    def _grant(s: Session, grant_id: int, hospital_id: str | None) -> RemoteGrant:
        grant = s.get(RemoteGrant, grant_id)
        if grant is None or (hospital_id is not None and grant.hospital_id != hospital_id):
            raise WorkflowNotFound(f"没有远程申请 {grant_id}。")
        return grant

    # -- the escalation level ------------------------------------------------------------------

    def set_level(self, number: str, level: str, engineer_id: str) -> TicketLevel:
        """phone → remote → on-site; "remote" only while the hospital's grant is live."""
        if level not in tuple(Level):
            raise WorkflowError("服务方式须为 phone（电话）、remote（远程）或 onsite（现场）。")
        now = self._now()
        with write_session(self._engine) as s:
            ticket = audit_in(s, number, engineer_id, "level_changed", now, to_value=level)
            if level == Level.REMOTE:
                grants = s.exec(select(RemoteGrant).where(RemoteGrant.ticket_id == ticket.id))
                if not any(is_live(g, now) for g in grants):
                    raise WorkflowError(
                        f"工单 #{ticket.number} 没有医院有效的远程授权：请先申请并等医院同意。"
                    )
            return set_level_in(s, ticket, Level(level), engineer_id, now)

    def level(self, number: str) -> str | None:
        with read_session(self._engine) as s:
            stmt = (
                select(TicketLevel.level)
                .join(Ticket, col(Ticket.id) == col(TicketLevel.ticket_id))
                .where(Ticket.number == normalise_number(number))
            )
            return s.exec(stmt).first()


def set_level_in(
    s: Session, ticket: Ticket, level: Level, engineer_id: str, now: dt.datetime
) -> TicketLevel:
    """Write the ticket's level in the caller's transaction (its event is the caller's)."""
    row = s.get(TicketLevel, ticket.id) or TicketLevel(
        ticket_id=ticket.id or 0, level=level, changed_by=engineer_id, changed_at=now
    )
    row.level, row.changed_by, row.changed_at = level, engineer_id, now
    s.add(row)
    return row


def open_ticket_event(
    s: Session,
    number: str,
    by: str,
    kind: str,
    now: dt.datetime,
    what: str,
    *,
    to_value: str = "",
    text: str = "",
) -> Ticket:
    """Audit a workflow starting on a ticket, which must still be open ("不能<what>")."""
    ticket = audit_in(s, number, by, kind, now, to_value=to_value, text=text)
    if not ticket.is_open:
        raise WorkflowError(f"工单 #{ticket.number} 已解决或关闭，不能{what}。")
    return ticket


def engineer_named(s: Session, engineer_id: str) -> Engineer:
    engineer = s.get(Engineer, engineer_id)
    if engineer is None:
        raise WorkflowError(f"没有工程师 {engineer_id}。")
    return engineer


def number_of(s: Session, row: RemoteGrant | SiteVisit) -> str:
    """The number of the ticket a grant or a visit belongs to."""
    ticket = s.get(Ticket, row.ticket_id)
    return ticket.number if ticket else ""
