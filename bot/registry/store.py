"""The registry: which hospital a chat belongs to, which engineer a chat user is.

Two ways in, one set of tables:

* **config.toml** (``[[hospitals]]`` / ``[[engineers]]``, see ``bot.registry.specs``), written by
  ``sync_from_config`` on every start, and
* **the CLI / the bot itself** (``add_hospital``, ``add_chat``, ``add_engineer``,
  ``add_identity``, ``move_chat``, ``deactivate_chat``).

The rule between them:

1. **config.toml wins for the entries it lists.** A sync overwrites the fields of every hospital
   and engineer it lists (name, region, HIS version, dedicated engineer, the module list; name
   and the role list), on each start. A chat or a platform account it lists is mapped to the
   listed hospital or engineer, even if the CLI had mapped it elsewhere.
2. **Entries added with the CLI that config doesn't list are kept**, and so are chats and
   accounts the CLI added to a hospital or engineer that config does list.
3. **Nothing is deleted.** Removing an entry from config.toml leaves its rows (old tickets refer
   to them). Whether a chat is *active* is the bot's runtime state, not config: a sync creates
   missing chats as active but never re-activates a chat the bot was removed from or that
   migrated (it reports those as warnings so config.toml can be updated); ``add_chat``
   re-activates.

Chat and user ids are strings on every platform. All writes of one call are one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.infra.clock import Clock, utc_now
from bot.registry.models import (
    PLATFORMS,
    ROLES,
    Engineer,
    EngineerIdentity,
    EngineerRole,
    Hospital,
    HospitalAdmin,
    HospitalChat,
    HospitalModule,
)
from bot.registry.sessions import read_session, write_session
from bot.registry.specs import EngineerSpec, HospitalSpec, check_unique


class RegistryError(Exception):
    """A registry change that cannot be made; the message says why."""


class RegistryNotFound(RegistryError, LookupError):
    """The hospital, engineer or chat named does not exist."""


class RegistryConflict(RegistryError):
    """The change would contradict what is registered (an id taken, a chat of another hospital)."""


@dataclass
class SyncReport:
    hospitals_added: list[str] = field(default_factory=list)
    hospitals_updated: list[str] = field(default_factory=list)
    engineers_added: list[str] = field(default_factory=list)
    engineers_updated: list[str] = field(default_factory=list)
    #: Things config.toml should be told about (a listed chat that is no longer active, ...).
    warnings: list[str] = field(default_factory=list)


def _platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    return platform


def _roles(roles: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(roles))
    unknown = [r for r in out if r not in ROLES]
    if unknown or not out:
        raise ValueError(f"roles must be some of {', '.join(ROLES)}, not {list(out)!r}")
    return out


class RegistryStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    # -- lookups -----------------------------------------------------------------------------

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

    def set_admin(self, hospital_id: str, platform: str, user_id: str, admin: bool = True) -> None:
        """Make a chat account a hospital admin, or (``admin=False``) no longer one."""
        _platform(platform)
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise RegistryNotFound(f"no hospital {hospital_id}")
            row = s.get(HospitalAdmin, (hospital_id, platform, str(user_id)))
            if admin and row is None:
                s.add(
                    HospitalAdmin(
                        hospital_id=hospital_id,
                        platform=platform,
                        platform_user_id=str(user_id),
                        created_at=self._clock(),
                    )
                )
            elif not admin and row is not None:
                s.delete(row)

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
            return _chat(s, platform, str(chat_id))

    # -- hospitals and chats -----------------------------------------------------------------

    def add_hospital(
        self,
        id: str,
        name: str,
        region: str = "",
        his_version: str = "",
        modules: Sequence[str] = (),
        dedicated_engineer_id: str | None = None,
    ) -> Hospital:
        """Register a new hospital; an id already taken is a ``RegistryConflict``."""
        spec = HospitalSpec(id, name, region, his_version, tuple(modules), dedicated_engineer_id)
        with write_session(self._engine) as s:
            if s.get(Hospital, id) is not None:
                raise RegistryConflict(f"hospital {id} already exists")
            row = self._write_hospital(s, spec)
        return row

    def add_chat(
        self, platform: str, chat_id: str | int, hospital_id: str, title: str = ""
    ) -> HospitalChat:
        """Map a chat to a hospital (or re-activate it, e.g. the bot was added back).

        An active chat of another hospital is a ``RegistryConflict``: moving a chat between
        hospitals would show one hospital's tickets to another, so it is never implicit.
        """
        _platform(platform)
        chat_id = str(chat_id)
        now = self._clock()
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise RegistryNotFound(f"no hospital {hospital_id}")
            row = _chat(s, platform, chat_id)
            if row is None:
                row = HospitalChat(
                    platform=platform,
                    chat_id=chat_id,
                    hospital_id=hospital_id,
                    title=title,
                    created_at=now,
                )
            elif row.hospital_id != hospital_id and row.active:
                raise RegistryConflict(
                    f"{platform} chat {chat_id} belongs to hospital {row.hospital_id}; "
                    "deactivate it there first"
                )
            else:
                row.hospital_id = hospital_id
                row.active = True
                row.deactivated_at = None
                row.deactivated_reason = None
                if title:
                    row.title = title
            s.add(row)
        return row

    def move_chat(
        self, platform: str, old_chat_id: str | int, new_chat_id: str | int
    ) -> HospitalChat:
        """The chat got a new id (Telegram group → supergroup): the new id keeps the hospital
        and the title, the old one is deactivated ("migrated to …"). Safe to call twice (both
        the old and the new chat announce a Telegram migration)."""
        old, new = str(old_chat_id), str(new_chat_id)
        now = self._clock()
        with write_session(self._engine) as s:
            old_row = _chat(s, platform, old)
            new_row = _chat(s, platform, new)
            if old_row is None:
                if new_row is not None:
                    return new_row
                raise RegistryNotFound(f"no {platform} chat {old}")
            if new_row is not None and new_row.hospital_id != old_row.hospital_id:
                raise RegistryConflict(
                    f"{platform} chat {new} already belongs to hospital {new_row.hospital_id}, "
                    f"not {old_row.hospital_id}"
                )
            if new_row is None:
                new_row = HospitalChat(
                    platform=platform,
                    chat_id=new,
                    hospital_id=old_row.hospital_id,
                    title=old_row.title,
                    migrated_from=old,
                    created_at=now,
                )
            else:
                new_row.active = True
                new_row.deactivated_at = None
                new_row.deactivated_reason = None
                new_row.migrated_from = new_row.migrated_from or old
            if old_row.active:
                old_row.active = False
                old_row.deactivated_at = now
                old_row.deactivated_reason = f"migrated to {new}"
            s.add(old_row)
            s.add(new_row)
        return new_row

    def deactivate_chat(
        self, platform: str, chat_id: str | int, reason: str
    ) -> HospitalChat | None:
        """The bot was removed (or the chat closed): its messages no longer map to the hospital.
        Returns the row, or None for a chat that was never registered."""
        now = self._clock()
        with write_session(self._engine) as s:
            row = _chat(s, platform, str(chat_id))
            if row is None:
                return None
            if row.active:
                row.active = False
                row.deactivated_at = now
                row.deactivated_reason = reason
                s.add(row)
        return row

    # -- engineers ---------------------------------------------------------------------------

    def add_engineer(self, id: str, name: str, roles: Sequence[str] = ("engineer",)) -> Engineer:
        """Register a new engineer; an id already taken is a ``RegistryConflict``."""
        spec = EngineerSpec(id, name, _roles(roles))
        with write_session(self._engine) as s:
            if s.get(Engineer, id) is not None:
                raise RegistryConflict(f"engineer {id} already exists")
            row = self._write_engineer(s, spec)
        return row

    def add_identity(
        self, platform: str, platform_user_id: str | int, engineer_id: str
    ) -> EngineerIdentity:
        """Link a platform account to an engineer (idempotent). An account already linked to
        another engineer is a ``RegistryConflict``."""
        _platform(platform)
        user = str(platform_user_id)
        with write_session(self._engine) as s:
            if s.get(Engineer, engineer_id) is None:
                raise RegistryNotFound(f"no engineer {engineer_id}")
            row = _identity(s, platform, user)
            if row is not None:
                if row.engineer_id != engineer_id:
                    raise RegistryConflict(
                        f"{platform} user {user} is engineer {row.engineer_id}'s account"
                    )
                return row
            row = EngineerIdentity(
                platform=platform,
                platform_user_id=user,
                engineer_id=engineer_id,
                created_at=self._clock(),
            )
            s.add(row)
        return row

    # -- config.toml ---------------------------------------------------------------------------

    def sync_from_config(
        self, hospitals: Sequence[HospitalSpec], engineers: Sequence[EngineerSpec]
    ) -> SyncReport:
        """Write config.toml's entries (see the module docstring for the rule), in one
        transaction: a bad entry (a dedicated engineer nobody registered) changes nothing."""
        check_unique(hospitals, engineers)
        report = SyncReport()
        with write_session(self._engine) as s:
            for e in engineers:
                before = _engineer_state(s, e.id)
                self._write_engineer(s, e)
                s.flush()
                if before is None:
                    report.engineers_added.append(e.id)
                elif before != _engineer_state(s, e.id):
                    report.engineers_updated.append(e.id)
            for h in hospitals:
                before_h = _hospital_state(s, h.id)
                self._write_hospital(s, h, report.warnings)
                s.flush()
                if before_h is None:
                    report.hospitals_added.append(h.id)
                elif before_h != _hospital_state(s, h.id):
                    report.hospitals_updated.append(h.id)
        return report

    # -- writers shared by add_* and the sync ---------------------------------------------------

    def _write_engineer(self, s: Session, spec: EngineerSpec) -> Engineer:
        now = self._clock()
        row = s.get(Engineer, spec.id)
        if row is None:
            row = Engineer(id=spec.id, name=spec.name, created_at=now, updated_at=now)
        elif row.name != spec.name:
            row.name = spec.name
            row.updated_at = now
        s.add(row)
        s.flush()
        have = {
            r.role: r
            for r in s.exec(select(EngineerRole).where(EngineerRole.engineer_id == spec.id))
        }
        for role, r in have.items():
            if role not in spec.roles:
                s.delete(r)
        for role in spec.roles:
            if role not in have:
                s.add(EngineerRole(engineer_id=spec.id, role=role))
        for platform, user in spec.identities():
            ident = _identity(s, platform, user)
            if ident is None:
                s.add(
                    EngineerIdentity(
                        platform=platform,
                        platform_user_id=user,
                        engineer_id=spec.id,
                        created_at=now,
                    )
                )
            elif ident.engineer_id != spec.id:
                ident.engineer_id = spec.id
                s.add(ident)
        return row

    def _write_hospital(
        self, s: Session, spec: HospitalSpec, warnings: list[str] | None = None
    ) -> Hospital:
        now = self._clock()
        for engineer in (spec.dedicated_engineer, spec.deputy_engineer):
            if engineer is not None and s.get(Engineer, engineer) is None:
                raise RegistryNotFound(
                    f"hospital {spec.id}: no engineer {engineer} (register the engineer first)"
                )
        row = s.get(Hospital, spec.id)
        if row is None:
            row = Hospital(id=spec.id, name=spec.name, created_at=now, updated_at=now)
        fields = {
            "name": spec.name,
            "region": spec.region,
            # empty in config: the version a verified upgrade recorded stays (bot.workflows)
            "his_version": spec.his_version or row.his_version,
            "dedicated_engineer_id": spec.dedicated_engineer,
            "deputy_engineer_id": spec.deputy_engineer,
        }
        if any(getattr(row, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = now
        s.add(row)
        s.flush()
        have = {
            m.module: m
            for m in s.exec(select(HospitalModule).where(HospitalModule.hospital_id == spec.id))
        }
        for module, m in have.items():
            if module not in spec.modules:
                s.delete(m)
        for position, module in enumerate(spec.modules):
            m = have.get(module) or HospitalModule(hospital_id=spec.id, module=module)
            m.position = position
            s.add(m)
        for platform, user in spec.admins():
            if s.get(HospitalAdmin, (spec.id, platform, user)) is None:
                s.add(
                    HospitalAdmin(
                        hospital_id=spec.id,
                        platform=platform,
                        platform_user_id=user,
                        created_at=now,
                    )
                )
        for platform, chat_id in spec.chats():
            chat = _chat(s, platform, chat_id)
            if chat is None:
                s.add(
                    HospitalChat(
                        platform=platform, chat_id=chat_id, hospital_id=spec.id, created_at=now
                    )
                )
                continue
            if chat.hospital_id != spec.id:
                chat.hospital_id = spec.id
                s.add(chat)
            if not chat.active and warnings is not None:
                warnings.append(
                    f"hospital {spec.id}: {platform} chat {chat_id} is inactive "
                    f"({chat.deactivated_reason or 'deactivated'}); update config.toml"
                )
        return row


def _chat(s: Session, platform: str, chat_id: str) -> HospitalChat | None:
    stmt = select(HospitalChat).where(
        HospitalChat.platform == platform, HospitalChat.chat_id == chat_id
    )
    return s.exec(stmt).first()


def _identity(s: Session, platform: str, user: str) -> EngineerIdentity | None:
    stmt = select(EngineerIdentity).where(
        EngineerIdentity.platform == platform, EngineerIdentity.platform_user_id == user
    )
    return s.exec(stmt).first()


def _engineer_state(s: Session, engineer_id: str) -> tuple[object, ...] | None:
    row = s.get(Engineer, engineer_id)
    if row is None:
        return None
    roles = sorted(s.exec(select(EngineerRole.role).where(EngineerRole.engineer_id == engineer_id)))
    idents = sorted(
        (i.platform, i.platform_user_id)
        for i in s.exec(select(EngineerIdentity).where(EngineerIdentity.engineer_id == engineer_id))
    )
    return (row.name, tuple(roles), tuple(idents))


def _hospital_state(s: Session, hospital_id: str) -> tuple[object, ...] | None:
    row = s.get(Hospital, hospital_id)
    if row is None:
        return None
    modules = s.exec(
        select(HospitalModule.module, HospitalModule.position).where(
            HospitalModule.hospital_id == hospital_id
        )
    )
    chats = s.exec(
        select(HospitalChat.platform, HospitalChat.chat_id).where(
            HospitalChat.hospital_id == hospital_id
        )
    )
    return (
        row.name,
        row.region,
        row.his_version,
        row.dedicated_engineer_id,
        row.deputy_engineer_id,
        tuple(sorted(modules)),
        tuple(sorted(chats)),
    )
