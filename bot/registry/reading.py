"""Reading the registry: which hospital a chat belongs to, which engineer a chat user is, and
the rows behind them (``bot.registry.store.RegistryStore`` adds the writes)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.infra.clock import Clock, utc_now
from bot.registry.models import (
    Engineer,
    EngineerIdentity,
    EngineerRole,
    Hospital,
    HospitalAdmin,
    HospitalChat,
)
from bot.registry.sessions import read_session


class RegistryReader:
    """Hospitals, their chats and admins, engineers, their roles and accounts, as stored."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def hospital_for_chat(self, platform: str, chat_id: str | int) -> Hospital | None:
        """The hospital an *active* chat belongs to; None for unknown or deactivated chats."""
        with read_session(self._engine) as s:
            stmt = (
                select(Hospital)
                .join(HospitalChat, col(HospitalChat.hospital_id) == col(Hospital.id))
                .where(
                    HospitalChat.platform == platform,
                    HospitalChat.chat_id == str(chat_id),
                    col(HospitalChat.active).is_(True),
                )
            )
            return s.exec(stmt).first()

    def engineer_for_user(self, platform: str, user_id: str | int) -> Engineer | None:
        """The engineer behind a platform account, or None if the account is not an engineer's."""
        with read_session(self._engine) as s:
            stmt = (
                select(Engineer)
                .join(EngineerIdentity, col(EngineerIdentity.engineer_id) == col(Engineer.id))
                .where(
                    EngineerIdentity.platform == platform,
                    EngineerIdentity.platform_user_id == str(user_id),
                )
            )
            return s.exec(stmt).first()

    def admins_of(self, hospital_id: str) -> list[HospitalAdmin]:
        with read_session(self._engine) as s:
            stmt = select(HospitalAdmin).where(HospitalAdmin.hospital_id == hospital_id)
            return list(s.exec(stmt.order_by(col(HospitalAdmin.platform))).all())

    def get_hospital(self, hospital_id: str) -> Hospital | None:
        with read_session(self._engine) as s:
            return s.get(Hospital, hospital_id)

    def get_engineer(self, engineer_id: str) -> Engineer | None:
        with read_session(self._engine) as s:
            return s.get(Engineer, engineer_id)

    def list_hospitals(self) -> list[Hospital]:
        with read_session(self._engine) as s:
            return list(s.exec(select(Hospital).order_by(col(Hospital.id))).all())

    def list_engineers(self) -> list[Engineer]:
        with read_session(self._engine) as s:
            return list(s.exec(select(Engineer).order_by(col(Engineer.id))).all())

    def roles_of(self, engineer_id: str) -> frozenset[str]:
        with read_session(self._engine) as s:
            stmt = select(EngineerRole.role).where(EngineerRole.engineer_id == engineer_id)
            return frozenset(s.exec(stmt).all())

    def identities_of(self, engineer_id: str) -> list[EngineerIdentity]:
        with read_session(self._engine) as s:
            stmt = (
                select(EngineerIdentity)
                .where(EngineerIdentity.engineer_id == engineer_id)
                .order_by(col(EngineerIdentity.platform), col(EngineerIdentity.platform_user_id))
            )
            return list(s.exec(stmt).all())

    def chats_of_hospital(self, hospital_id: str, active_only: bool = True) -> list[HospitalChat]:
        with read_session(self._engine) as s:
            stmt = select(HospitalChat).where(HospitalChat.hospital_id == hospital_id)
            if active_only:
                stmt = stmt.where(col(HospitalChat.active).is_(True))
            stmt = stmt.order_by(col(HospitalChat.platform), col(HospitalChat.id))
            return list(s.exec(stmt).all())

    def get_chat(self, platform: str, chat_id: str | int) -> HospitalChat | None:
        """The chat row, active or not."""
        with read_session(self._engine) as s:
            return chat_row(s, platform, str(chat_id))


def chat_row(s: Session, platform: str, chat_id: str) -> HospitalChat | None:
    """A chat's row, active or not, inside a session."""
    stmt = select(HospitalChat).where(
        HospitalChat.platform == platform, HospitalChat.chat_id == chat_id
    )
    return s.exec(stmt).first()


def identity_row(s: Session, platform: str, user: str) -> EngineerIdentity | None:
    """A platform account's link to its engineer, inside a session."""
    stmt = select(EngineerIdentity).where(
        EngineerIdentity.platform == platform, EngineerIdentity.platform_user_id == user
    )
    return s.exec(stmt).first()
