"""Registry tables: hospitals, the chats they write from, engineers and their chat identities.

One row per real thing: a hospital is one ``hospital`` row however many chats it uses; an
engineer is one ``engineer`` row however many platforms they are on (``engineer_identity``).
Chat and user ids are stored as strings on every platform (Telegram's are integers, Slack's are
not). Timestamps are aware UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field

#: Platforms the bot speaks on; ids are compared as given, so keep them lower-case.
PLATFORMS: tuple[str, ...] = ("telegram", "slack", "web", "dingtalk", "wecom")

#: What an engineer may do: ``engineer`` takes tickets, ``lead`` also assigns them to others,
#: ``broadcaster`` may send announcements to hospital chats. One engineer may hold several.
ROLES: tuple[str, ...] = ("engineer", "lead", "broadcaster")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Engineer(SQLModel, table=True):
    __tablename__ = "engineer"

    id: str = Field(primary_key=True, max_length=32)
    name: str
    created_at: dt.datetime = utc_field()
    updated_at: dt.datetime = utc_field()


class EngineerRole(SQLModel, table=True):
    __tablename__ = "engineer_role"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_engineer_role_role"),)

    engineer_id: str = Field(foreign_key="engineer.id", primary_key=True, max_length=32)
    role: str = Field(primary_key=True, max_length=16)


class EngineerIdentity(SQLModel, table=True):
    """An engineer's account on one platform; a platform user maps to at most one engineer."""

    __tablename__ = "engineer_identity"
    __table_args__ = (
        UniqueConstraint("platform", "platform_user_id", name="uq_engineer_identity_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    platform_user_id: str = Field(max_length=64)
    engineer_id: str = Field(foreign_key="engineer.id", index=True, max_length=32)
    created_at: dt.datetime = utc_field()


class Hospital(SQLModel, table=True):
    __tablename__ = "hospital"

    id: str = Field(primary_key=True, max_length=32)
    name: str
    region: str = ""
    his_version: str = ""
    #: The engineer named in the contract as this hospital's first contact.
    dedicated_engineer_id: str | None = Field(
        default=None, foreign_key="engineer.id", max_length=32
    )
    #: Stands in for the dedicated engineer (leave, night): shown to the hospital beside them.
    deputy_engineer_id: str | None = Field(default=None, foreign_key="engineer.id", max_length=32)
    created_at: dt.datetime = utc_field()
    updated_at: dt.datetime = utc_field()


class HospitalAdmin(SQLModel, table=True):
    """A hospital user who may decide for the hospital (grant or refuse remote access,
    confirm an on-site visit): its information department, as the contract names them."""

    __tablename__ = "hospital_admin"

    hospital_id: str = Field(foreign_key="hospital.id", primary_key=True, max_length=32)
    platform: str = Field(primary_key=True, max_length=16)
    platform_user_id: str = Field(primary_key=True, max_length=64)
    created_at: dt.datetime = utc_field()


class HospitalModule(SQLModel, table=True):
    """An HIS module the hospital runs (门诊, 住院, LIS, PACS, ...), in the order given."""

    __tablename__ = "hospital_module"

    hospital_id: str = Field(foreign_key="hospital.id", primary_key=True, max_length=32)
    module: str = Field(primary_key=True, max_length=64)
    position: int = 0


class HospitalChat(SQLModel, table=True):
    """A chat (group, channel, web console) whose messages come from one hospital.

    ``active`` is false once the bot was removed or the chat migrated (Telegram group →
    supergroup); the row is kept so old tickets still name the chat they came from.
    """

    __tablename__ = "hospital_chat"
    __table_args__ = (UniqueConstraint("platform", "chat_id", name="uq_hospital_chat_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    hospital_id: str = Field(foreign_key="hospital.id", index=True, max_length=32)
    title: str = ""
    active: bool = True
    #: The chat id this one replaced (Telegram migration), if any.
    migrated_from: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = utc_field()
    deactivated_at: dt.datetime | None = utc_field(default=None, nullable=True)
    deactivated_reason: str | None = None
