"""Tables of the contract's service workflows: remote access with consent, on-site visits,
the ticket's escalation level, the upgrade service and the product versions hospitals run.

Each row is the workflow's *state*; every step also appends an event to the ticket's audit
log (``ticket_event``) in the same transaction, so the trail shows who did what and when.
Upgrades belong to a hospital, not to a ticket: their stages are their own log
(``upgrade_step``, one row per stage, never rewritten). Timestamps are aware UTC.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Level(StrEnum):
    """How a ticket is being handled: the contract's escalation phone → remote → on-site."""

    PHONE = "phone"
    REMOTE = "remote"
    ONSITE = "onsite"


LEVEL_ORDER: tuple[Level, ...] = (Level.PHONE, Level.REMOTE, Level.ONSITE)


class TicketLevel(SQLModel, table=True):
    """The ticket's current escalation level (no row: not escalated beyond the chat)."""

    __tablename__ = "ticket_level"
    __table_args__ = (CheckConstraint(_in("level", tuple(Level)), name="ck_ticket_level_level"),)

    ticket_id: int = Field(
        foreign_key="ticket.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    level: str = Field(max_length=16)
    changed_by: str = Field(max_length=32)
    changed_at: dt.datetime = utc_field()


class GrantStatus(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    REFUSED = "refused"
    REVOKED = "revoked"


class RemoteGrant(SQLModel, table=True):
    """A request for remote access on a ticket and the hospital's decision on it.

    Live = granted, not revoked, and ``expires_at`` still ahead; the expiry is counted from
    the moment of consent, for the duration the engineer asked for."""

    __tablename__ = "remote_grant"
    __table_args__ = (
        CheckConstraint(_in("status", tuple(GrantStatus)), name="ck_remote_grant_status"),
        Index("ix_remote_grant_ticket", "ticket_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    hospital_id: str = Field(foreign_key="hospital.id", max_length=32)
    tool: str = Field(max_length=64)
    purpose: str
    minutes: int
    requested_by: str = Field(foreign_key="engineer.id", max_length=32)
    requested_at: dt.datetime = utc_field()
    status: str = Field(default=GrantStatus.REQUESTED, max_length=16)
    #: The hospital admin who decided ("platform:user id") and when.
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: dt.datetime | None = utc_field(default=None, nullable=True)
    expires_at: dt.datetime | None = utc_field(default=None, nullable=True)
    revoked_at: dt.datetime | None = utc_field(default=None, nullable=True)


class SiteVisit(SQLModel, table=True):
    """A planned on-site visit: open until the hospital confirms it, which needs both the
    arrival and the departure recorded first."""

    __tablename__ = "site_visit"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    hospital_id: str = Field(foreign_key="hospital.id", index=True, max_length=32)
    engineer_id: str = Field(foreign_key="engineer.id", max_length=32)
    planned_at: dt.datetime = utc_field()
    planned_by: str = Field(max_length=32)
    arrived_at: dt.datetime | None = utc_field(default=None, nullable=True)
    departed_at: dt.datetime | None = utc_field(default=None, nullable=True)
    confirmed_at: dt.datetime | None = utc_field(default=None, nullable=True)
    confirmed_by: str | None = Field(default=None, max_length=80)

    @property
    def is_open(self) -> bool:
        return self.confirmed_at is None


class Stage(StrEnum):
    """The upgrade service's stages, in the only order they may be recorded."""

    TEST_ENV = "test_env"
    SIMULATED = "simulated"
    PRODUCTION = "production"
    VERIFIED = "verified"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class Upgrade(SQLModel, table=True):
    """One upgrade of one product at one hospital (▲ 系统升级服务)."""

    __tablename__ = "upgrade"
    __table_args__ = (
        CheckConstraint("stage IS NULL OR " + _in("stage", tuple(Stage)), name="ck_upgrade_stage"),
        Index("ix_upgrade_hospital", "hospital_id", "product"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: str = Field(foreign_key="hospital.id", max_length=32)
    product: str = Field(max_length=64)
    from_version: str = Field(default="", max_length=64)
    to_version: str = Field(max_length=64)
    #: The upgrade-window notice announcing it, if any (its 已升级 receipts are shown).
    notice_id: int | None = Field(default=None, foreign_key="notice.id")
    created_by: str = Field(foreign_key="engineer.id", max_length=32)
    created_at: dt.datetime = utc_field()
    #: The last stage done (None: planned, nothing done yet).
    stage: str | None = Field(default=None, max_length=16)


class UpgradeStep(SQLModel, table=True):
    """A stage of an upgrade as recorded: on which date, by whom, with what notes."""

    __tablename__ = "upgrade_step"
    __table_args__ = (
        UniqueConstraint("upgrade_id", "stage", name="uq_upgrade_step"),
        CheckConstraint(_in("stage", tuple(Stage)), name="ck_upgrade_step_stage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    upgrade_id: int = Field(foreign_key="upgrade.id", index=True)
    stage: str = Field(max_length=16)
    done_on: dt.date
    engineer_id: str = Field(foreign_key="engineer.id", max_length=32)
    notes: str = ""
    recorded_at: dt.datetime = utc_field()


class HospitalProduct(SQLModel, table=True):
    """The version of a product a hospital runs (set by a verified upgrade, or by hand)."""

    __tablename__ = "hospital_product"

    hospital_id: str = Field(foreign_key="hospital.id", primary_key=True, max_length=32)
    product: str = Field(primary_key=True, max_length=64)
    version: str = Field(max_length=64)
    updated_at: dt.datetime = utc_field()
