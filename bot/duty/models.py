"""Roster tables: rotations (who takes a post in turn) and overrides for single days."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


class Post(StrEnum):
    """A duty someone holds. The first four are the shifts of the clock; ``LEAD`` is the lead
    paged with every P1; ``HOSPITAL`` is a hospital group's engineer of the day."""

    DAY = "day"
    NIGHT = "night"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    LEAD = "lead"
    HOSPITAL = "hospital"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Post.DAY: "白班（工作时间）",
    Post.NIGHT: "夜班",
    Post.WEEKEND: "周末值班",
    Post.HOLIDAY: "节假日值班",
    Post.LEAD: "值班组长",
    Post.HOSPITAL: "医院当日工程师",
}

_POSTS = ", ".join(repr(p.value) for p in Post)


class DutyRotation(SQLModel, table=True):
    """Engineers take a post in turn, ``step_days`` each, counted from ``starts_on``.
    ``hospital_id`` "" is the rotation for every hospital (only ``HOSPITAL`` uses others)."""

    __tablename__ = "duty_rotation"
    __table_args__ = (
        UniqueConstraint("post", "hospital_id", name="uq_duty_rotation_post"),
        CheckConstraint(f"post IN ({_POSTS})", name="ck_duty_rotation_post"),
        CheckConstraint("step_days > 0", name="ck_duty_rotation_step"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post: str = Field(max_length=16)
    hospital_id: str = Field(default="", max_length=32)
    step_days: int = 7
    starts_on: dt.date
    updated_by: str = Field(max_length=32)
    updated_at: dt.datetime = utc_field()


class DutyRotationMember(SQLModel, table=True):
    __tablename__ = "duty_rotation_member"

    rotation_id: int = Field(foreign_key="duty_rotation.id", primary_key=True)
    position: int = Field(primary_key=True)
    engineer_id: str = Field(foreign_key="engineer.id", max_length=32)


class DutyOverride(SQLModel, table=True):
    """One duty day's post taken by someone else than the rotation says (a swap, leave)."""

    __tablename__ = "duty_override"
    __table_args__ = (
        UniqueConstraint("day", "post", "hospital_id", name="uq_duty_override_day"),
        CheckConstraint(f"post IN ({_POSTS})", name="ck_duty_override_post"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(index=True)
    post: str = Field(max_length=16)
    hospital_id: str = Field(default="", max_length=32)
    engineer_id: str = Field(foreign_key="engineer.id", max_length=32)
    reason: str = ""
    created_by: str = Field(max_length=32)
    created_at: dt.datetime = utc_field()
