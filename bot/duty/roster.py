"""The roster: rotations and overrides in the database, resolved against the work calendar.

A duty day runs from ``day_start`` to the next ``day_start`` (local time), so the night shift
that starts on Friday evening and the small hours of Saturday belong to Friday. On a working
day ``day_start``–``day_end`` is the day shift and the rest the night shift; a weekend or a
public holiday is one shift from ``day_start`` to ``day_start``. Calls are synchronous
database work: coroutines run them in an executor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from bot.duty.calendar import DayInfo, DayKind, WorkCalendar
from bot.duty.models import DutyOverride, DutyRotation, DutyRotationMember, Post
from bot.duty.settings import DutySettings
from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.models import Engineer, EngineerRole, Hospital
from bot.registry.sessions import read_session, write_session

#: Where to look when a post has no rotation: a holiday is covered like a weekend, a weekend
#: like a night.
_FALLBACK = {Post.HOLIDAY: Post.WEEKEND, Post.WEEKEND: Post.NIGHT, Post.HOSPITAL: Post.DAY}


class RosterError(ValueError):
    """A roster change that cannot be made; the message says why."""


@dataclass(frozen=True)
class DutyNow:
    """Who is on duty at one instant."""

    at: dt.datetime
    duty_day: DayInfo
    shift: Post
    #: The engineer on call for this shift (None: nobody is rostered).
    on_call: str | None
    #: The lead(s) paged with every P1.
    leads: tuple[str, ...]

    @property
    def working_hours(self) -> bool:
        return self.shift == Post.DAY


@dataclass(frozen=True)
class Routing:
    """Whom a new ticket goes to: ``mention`` on the desk card, ``page`` by direct message."""

    mention: tuple[str, ...]
    page: tuple[str, ...]
    duty: DutyNow


class Roster:
    def __init__(
        self,
        engine: Engine,
        settings: DutySettings | None = None,
        calendar: WorkCalendar | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self.settings = settings or DutySettings()
        self.calendar = calendar or WorkCalendar()
        self._clock = clock

    # -- time --------------------------------------------------------------------------------

    def local(self, at: dt.datetime) -> dt.datetime:
        """``at`` (a naive value is taken as UTC) on the hospitals' wall clock."""
        return as_utc(at).replace(tzinfo=dt.UTC).astimezone(self.settings.zone)

    def shift_at(self, at: dt.datetime) -> tuple[DayInfo, Post]:
        local = self.local(at)
        day = local.date()
        if local.time() < self.settings.start:
            day -= dt.timedelta(days=1)
        info = self.calendar.day(day)
        if info.kind == DayKind.HOLIDAY:
            return info, Post.HOLIDAY
        if not info.kind.working:
            return info, Post.WEEKEND
        in_hours = local.date() == day and local.time() < self.settings.end
        return info, Post.DAY if in_hours else Post.NIGHT

    # -- who ---------------------------------------------------------------------------------

    def now(self, at: dt.datetime | None = None) -> DutyNow:
        at = as_utc(at or self._clock())
        info, shift = self.shift_at(at)
        with read_session(self._engine) as s:
            on_call = self._holder(s, shift, info.date, "")
            lead = self._holder(s, Post.LEAD, info.date, "")
            leads: tuple[str, ...] = (lead,) if lead else self._role_leads(s)
        return DutyNow(at, info, shift, on_call, leads)

    def engineer_of_the_day(self, hospital_id: str, day: dt.date) -> str | None:
        """The hospital group's engineer of the day: its own rotation, else the rotation for
        every hospital, else the day shift's engineer."""
        with read_session(self._engine) as s:
            return self._holder(s, Post.HOSPITAL, day, hospital_id) or self._holder(
                s, Post.HOSPITAL, day, ""
            )

    def routing(self, hospital: Hospital, urgency: str, at: dt.datetime | None = None) -> Routing:
        """Working hours → the hospital's dedicated engineer and its engineer of the day;
        otherwise the on-call engineer. A P1 also pages the on-call engineer and the lead, and
        its card always mentions the dedicated engineer."""
        duty = self.now(at)
        mention: list[str] = []
        if duty.working_hours:
            today = self.engineer_of_the_day(hospital.id, duty.duty_day.date)
            mention = [e for e in (hospital.dedicated_engineer_id, today) if e]
        elif duty.on_call:
            mention = [duty.on_call]
        page: list[str] = []
        if urgency == "P1":
            page = [e for e in (duty.on_call, *duty.leads) if e]
            if hospital.dedicated_engineer_id:  # the contract's first contact sees every P1
                mention.append(hospital.dedicated_engineer_id)
        return Routing(tuple(dict.fromkeys(mention)), tuple(dict.fromkeys(page)), duty)

    def holder(self, post: Post, day: dt.date, hospital_id: str = "") -> str | None:
        with read_session(self._engine) as s:
            return self._holder(s, post, day, hospital_id)

    def _holder(self, s: Session, post: Post, day: dt.date, hospital_id: str) -> str | None:
        override = _override(s, day, post, hospital_id)
        if override is not None:
            return override.engineer_id
        rotation = s.exec(
            select(DutyRotation).where(
                DutyRotation.post == post.value, DutyRotation.hospital_id == hospital_id
            )
        ).first()
        if rotation is not None and rotation.id is not None:
            members = s.exec(
                select(DutyRotationMember.engineer_id)
                .where(DutyRotationMember.rotation_id == rotation.id)
                .order_by(col(DutyRotationMember.position))
            ).all()
            if members:
                turn = (day - rotation.starts_on).days // rotation.step_days
                return members[turn % len(members)]
        fallback = _FALLBACK.get(post)
        if fallback is not None and not hospital_id:
            return self._holder(s, fallback, day, "")
        return None

    @staticmethod
    def _role_leads(s: Session) -> tuple[str, ...]:
        rows = s.exec(
            select(EngineerRole.engineer_id)
            .where(EngineerRole.role == "lead")
            .order_by(col(EngineerRole.engineer_id))
        ).all()
        return tuple(rows)

    def week(self, first: dt.date, hospital_ids: Sequence[str] = ()) -> list[WeekRow]:
        """Seven duty days from ``first``: the day's kind and every post's holder."""
        rows = []
        with read_session(self._engine) as s:
            for offset in range(7):
                day = first + dt.timedelta(days=offset)
                info = self.calendar.day(day)
                posts = {
                    p: self._holder(s, p, day, "")
                    for p in (Post.DAY, Post.NIGHT, Post.WEEKEND, Post.HOLIDAY, Post.LEAD)
                }
                hospitals = {
                    h: self._holder(s, Post.HOSPITAL, day, h)
                    or self._holder(s, Post.HOSPITAL, day, "")
                    for h in hospital_ids
                }
                rows.append(WeekRow(info, posts, hospitals))
        return rows

    # -- changes -----------------------------------------------------------------------------

    def set_rotation(
        self,
        post: Post,
        engineer_ids: Sequence[str],
        by: str,
        *,
        hospital_id: str = "",
        step_days: int | None = None,
        starts_on: dt.date | None = None,
    ) -> DutyRotation:
        """Replace a post's rotation. Weekly by default (daily for a hospital's engineer of
        the day), starting this week's Monday unless told otherwise."""
        if not engineer_ids:
            raise RosterError("a rotation needs at least one engineer")
        if hospital_id and post != Post.HOSPITAL:
            raise RosterError("only the engineer of the day (hospital) is set per hospital")
        step = step_days or (1 if post == Post.HOSPITAL else 7)
        if step <= 0:
            raise RosterError("the rotation step must be at least one day")
        today = self.local(self._clock()).date()
        start = starts_on or today - dt.timedelta(days=today.weekday())
        now = as_utc(self._clock())
        with write_session(self._engine) as s:
            self._check_engineers(s, [*engineer_ids, by])
            if hospital_id and s.get(Hospital, hospital_id) is None:
                raise RosterError(f"no hospital {hospital_id}")
            rotation = s.exec(
                select(DutyRotation).where(
                    DutyRotation.post == post.value, DutyRotation.hospital_id == hospital_id
                )
            ).first()
            if rotation is None:
                rotation = DutyRotation(
                    post=post.value,
                    hospital_id=hospital_id,
                    starts_on=start,
                    updated_by=by,
                    updated_at=now,
                    step_days=step,
                )
                s.add(rotation)
                s.flush()
            else:
                rotation.step_days, rotation.starts_on = step, start
                rotation.updated_by, rotation.updated_at = by, now
                s.execute(
                    delete(DutyRotationMember).where(
                        col(DutyRotationMember.rotation_id) == rotation.id
                    )
                )
            assert rotation.id is not None
            for position, engineer_id in enumerate(engineer_ids):
                s.add(
                    DutyRotationMember(
                        rotation_id=rotation.id, position=position, engineer_id=engineer_id
                    )
                )
            return rotation

    def set_override(
        self,
        day: dt.date,
        post: Post,
        engineer_id: str,
        by: str,
        *,
        reason: str = "",
        hospital_id: str = "",
    ) -> DutyOverride:
        """``engineer_id`` holds ``post`` on duty day ``day`` whatever the rotation says."""
        now = as_utc(self._clock())
        with write_session(self._engine) as s:
            self._check_engineers(s, [engineer_id, by])
            row = _override(s, day, post, hospital_id)
            if row is None:
                row = DutyOverride(
                    day=day,
                    post=post.value,
                    hospital_id=hospital_id,
                    engineer_id=engineer_id,
                    created_by=by,
                    created_at=now,
                )
            row.engineer_id, row.reason, row.created_by, row.created_at = (
                engineer_id,
                reason,
                by,
                now,
            )
            s.add(row)
            return row

    def swap(
        self, post: Post, first: dt.date, second: dt.date, by: str, reason: str = ""
    ) -> tuple[str, str]:
        """The holders of ``post`` on two duty days trade; returns (new first, new second)."""
        a, b = self.holder(post, first), self.holder(post, second)
        if a is None or b is None:
            raise RosterError(f"nobody is rostered for {post.label} on one of those days")
        if a == b:
            raise RosterError(f"{a} holds {post.label} on both days: nothing to swap")
        why = reason or f"换班 {first:%m-%d} ⇄ {second:%m-%d}"
        self.set_override(first, post, b, by, reason=why)
        self.set_override(second, post, a, by, reason=why)
        return b, a

    @staticmethod
    def _check_engineers(s: Session, ids: Sequence[str]) -> None:
        for engineer_id in ids:
            if s.get(Engineer, engineer_id) is None:
                raise RosterError(f"no engineer {engineer_id}")


def _override(s: Session, day: dt.date, post: Post, hospital_id: str) -> DutyOverride | None:
    return s.exec(
        select(DutyOverride).where(
            DutyOverride.day == day,
            DutyOverride.post == post.value,
            DutyOverride.hospital_id == hospital_id,
        )
    ).first()


@dataclass(frozen=True)
class WeekRow:
    day: DayInfo
    posts: dict[Post, str | None]
    hospitals: dict[str, str | None]
