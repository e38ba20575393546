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

from bot.registry.errors import RegistryConflict as RegistryConflict
from bot.registry.errors import RegistryError as RegistryError
from bot.registry.errors import RegistryNotFound as RegistryNotFound
from bot.registry.models import (
    PLATFORMS,
    ROLES,
    Engineer,
    EngineerIdentity,
    Hospital,
    HospitalAdmin,
    HospitalChat,
)
from bot.registry.reading import RegistryReader, chat_row, identity_row
from bot.registry.sessions import write_session
from bot.registry.specs import EngineerSpec, HospitalSpec, check_unique
from bot.registry.writing import SyncReport, sync, write_engineer, write_hospital


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


class RegistryStore(RegistryReader):
    """The registry's writes over its reads (``RegistryReader``); every call is one
    transaction."""

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
            row = write_hospital(s, spec, self._clock())
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
            row = chat_row(s, platform, chat_id)
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
            old_row = chat_row(s, platform, old)
            new_row = chat_row(s, platform, new)
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
            row = chat_row(s, platform, str(chat_id))
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
            row = write_engineer(s, spec, self._clock())
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
            row = identity_row(s, platform, user)
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

    # -- config.toml ---------------------------------------------------------------------------

    def sync_from_config(
        self, hospitals: Sequence[HospitalSpec], engineers: Sequence[EngineerSpec]
    ) -> SyncReport:
        """Write config.toml's entries (see the module docstring for the rule), in one
        transaction: a bad entry (a dedicated engineer nobody registered) changes nothing."""
        check_unique(hospitals, engineers)
        with write_session(self._engine) as s:
            return sync(s, hospitals, engineers, self._clock)
