"""Hospitals and engineers as config.toml lists them, before they reach the database.

    [[hospitals]]
    id = "h001"
    name = "市第一人民医院"
    region = "华东"
    his_version = "5.2.1"
    modules = ["门诊", "住院", "LIS"]
    dedicated_engineer = "e01"
    deputy_engineer = "e02"
    telegram_admins = [7001]      # may grant remote access and confirm visits
    slack_admins = ["U777"]
    telegram_chats = [-1001001]
    slack_channels = ["C123"]
    wecom_groups = ["h001/wrkSFfCgAA…"]   # <[[wecom.tenants]] name>/<group chat id>
    dingtalk_groups = ["h001/cidXXXX"]   # <tenant>/<openConversationId>
    dingtalk_admins = ["h001/manager01"] # <tenant>/<userId (staffId)>

    [[engineers]]
    id = "e01"
    name = "张工"
    roles = ["engineer", "lead"]
    telegram_user = 5001
    slack_user = "U123"
    wecom_user = "vendor/zhangsan"   # <[[wecom.tenants]] name>/<userid>
    dingtalk_user = "vendor/0123456"  # <tenant>/<userId (staffId)>

Each spec checks itself when built (``ValueError`` naming the entry and the field), so a typo
fails at start-up, not when the first ticket arrives. ``RegistryStore.sync_from_config`` writes
them to the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from bot.registry.models import ROLES

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def _check_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(
            f"{kind} id {value!r} must be 1-32 letters, digits, '.', '_' or '-' (like 'h001')"
        )
    return value


def _telegram_id(where: str, value: object) -> str:
    """Telegram ids are integers; TOML may give them as numbers or as numeric strings."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{where}: {value!r} is not a Telegram id")
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"{where}: {value!r} is not a Telegram id (an integer)")
    return str(int(text))


def wecom_id(where: str, value: object) -> str:
    """A WeCom group or user with its tenant: ``"h001/<chatid>"``."""
    if not isinstance(value, str) or not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}/[^/\s]{1,64}", value
    ):
        raise ValueError(f"{where}: {value!r} is not '<tenant>/<id>' (like 'h001/wrkSFfCgAA…')")
    if len(value) > 64:  # the registry's chat and user id columns
        raise ValueError(
            f"{where}: {value!r} is longer than 64 characters (use a shorter tenant name)"
        )
    return value


def _slack_id(where: str, value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z0-9]+", value):
        raise ValueError(f"{where}: {value!r} is not a Slack id (like 'C0123ABC' or 'U0123ABC')")
    return value


def dingtalk_id(where: str, value: object, group: bool) -> str:
    """``tenant/openConversationId`` (a group) or ``tenant/userId``; the tenant must be a
    ``[[dingtalk.tenants]]`` name (checked where the tenants are known: bot/infra/config.py)."""
    example = "'h001/cidAbC…'" if group else "'h001/0123456'"
    tenant, _, rest = value.partition("/") if isinstance(value, str) else ("", "", "")
    if not _ID_RE.match(tenant) or not rest or (group and not rest.startswith("cid")):
        raise ValueError(
            f"{where}: {value!r} is not a DingTalk {('group', 'user')[not group]} id like {example}"
        )
    return str(value)


@dataclass(frozen=True)
class HospitalSpec:
    id: str
    name: str
    region: str = ""
    his_version: str = ""
    modules: tuple[str, ...] = ()
    dedicated_engineer: str | None = None
    deputy_engineer: str | None = None
    telegram_chats: tuple[int | str, ...] = ()
    slack_channels: tuple[str, ...] = ()
    telegram_admins: tuple[int | str, ...] = ()
    slack_admins: tuple[str, ...] = ()
    wecom_groups: tuple[str, ...] = ()
    dingtalk_groups: tuple[str, ...] = ()
    dingtalk_admins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_id("hospital", self.id)
        where = f"hospital {self.id}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"{where}: name is required")
        for attr in (
            "modules",
            "telegram_chats",
            "slack_channels",
            "telegram_admins",
            "slack_admins",
            "wecom_groups",
            "dingtalk_groups",
            "dingtalk_admins",
        ):
            value = getattr(self, attr)
            if isinstance(value, list):
                object.__setattr__(self, attr, tuple(value))
            elif not isinstance(value, tuple):
                raise ValueError(f"{where}: {attr} must be a list, not {value!r}")
        if any(not isinstance(m, str) or not m.strip() for m in self.modules):
            raise ValueError(f"{where}: modules must be non-empty strings")
        if len(set(self.modules)) != len(self.modules):
            raise ValueError(f"{where}: modules lists a module twice")
        if self.dedicated_engineer is not None:
            _check_id(f"{where}: dedicated_engineer", self.dedicated_engineer)
        if self.deputy_engineer is not None:
            _check_id(f"{where}: deputy_engineer", self.deputy_engineer)
        for user in self.telegram_admins:
            _telegram_id(f"{where}: telegram_admins", user)
        for user in self.slack_admins:
            _slack_id(f"{where}: slack_admins", user)
        for chat in self.telegram_chats:
            _telegram_id(f"{where}: telegram_chats", chat)
        for channel in self.slack_channels:
            _slack_id(f"{where}: slack_channels", channel)
        for group in self.wecom_groups:
            wecom_id(f"{where}: wecom_groups", group)
        for group in self.dingtalk_groups:
            dingtalk_id(f"{where}: dingtalk_groups", group, group=True)
        for user in self.dingtalk_admins:
            dingtalk_id(f"{where}: dingtalk_admins", user, group=False)

    def chats(self) -> list[tuple[str, str]]:
        """``(platform, chat_id)`` for every chat listed, ids as stored."""
        where = f"hospital {self.id}"
        return (
            [("telegram", _telegram_id(where, c)) for c in self.telegram_chats]
            + [("slack", c) for c in self.slack_channels]
            + [("wecom", g) for g in self.wecom_groups]
            + [("dingtalk", g) for g in self.dingtalk_groups]
        )

    def admins(self) -> list[tuple[str, str]]:
        """``(platform, user id)`` of every hospital admin listed, ids as stored."""
        where = f"hospital {self.id}"
        return (
            [("telegram", _telegram_id(where, u)) for u in self.telegram_admins]
            + [("slack", u) for u in self.slack_admins]
            + [("dingtalk", u) for u in self.dingtalk_admins]
        )


@dataclass(frozen=True)
class EngineerSpec:
    id: str
    name: str
    roles: tuple[str, ...] = ("engineer",)
    telegram_user: int | str | None = None
    slack_user: str | None = None
    wecom_user: str | None = None
    dingtalk_user: str | None = None

    def __post_init__(self) -> None:
        _check_id("engineer", self.id)
        where = f"engineer {self.id}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"{where}: name is required")
        if isinstance(self.roles, list):
            object.__setattr__(self, "roles", tuple(self.roles))
        if not isinstance(self.roles, tuple) or not self.roles:
            raise ValueError(f"{where}: roles must be a non-empty list")
        unknown = [r for r in self.roles if r not in ROLES]
        if unknown:
            raise ValueError(
                f"{where}: unknown role(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(ROLES)})"
            )
        if self.telegram_user is not None:
            _telegram_id(f"{where}: telegram_user", self.telegram_user)
        if self.slack_user is not None:
            _slack_id(f"{where}: slack_user", self.slack_user)
        if self.wecom_user is not None:
            wecom_id(f"{where}: wecom_user", self.wecom_user)
        if self.dingtalk_user is not None:
            dingtalk_id(f"{where}: dingtalk_user", self.dingtalk_user, group=False)

    def identities(self) -> list[tuple[str, str]]:
        """``(platform, platform_user_id)`` for every account listed, ids as stored."""
        out: list[tuple[str, str]] = []
        if self.telegram_user is not None:
            out.append(("telegram", _telegram_id(f"engineer {self.id}", self.telegram_user)))
        if self.slack_user is not None:
            out.append(("slack", self.slack_user))
        if self.wecom_user is not None:
            out.append(("wecom", self.wecom_user))
        if self.dingtalk_user is not None:
            out.append(("dingtalk", self.dingtalk_user))
        return out


def _from_table(cls: type[Any], raw: object, where: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})"
        )
    try:
        return cls(**raw)
    except TypeError as exc:  # a required key is missing
        raise ValueError(f"{where}: {exc}") from exc


def specs_from_toml(
    raw: Mapping[str, Any],
) -> tuple[tuple[HospitalSpec, ...], tuple[EngineerSpec, ...]]:
    """The ``[[hospitals]]`` and ``[[engineers]]`` arrays of a parsed config.toml.

    Raises ``ValueError`` naming the entry for an unknown key, a bad value or a duplicate id.
    """
    out_h: list[HospitalSpec] = []
    out_e: list[EngineerSpec] = []
    for key, cls, out in (("hospitals", HospitalSpec, out_h), ("engineers", EngineerSpec, out_e)):
        items = raw.get(key, [])
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise ValueError(f"[[{key}]] must be an array of tables")
        for i, item in enumerate(items):
            out.append(_from_table(cls, item, f"[[{key}]] #{i + 1}"))
    check_unique(out_h, out_e)
    return tuple(out_h), tuple(out_e)


def check_unique(hospitals: Sequence[HospitalSpec], engineers: Sequence[EngineerSpec]) -> None:
    """No id, chat or platform account may be listed twice."""
    seen: dict[object, str] = {}

    def once(key: object, owner: str, what: str) -> None:
        if key in seen:
            raise ValueError(f"{what} is listed twice: by {seen[key]} and by {owner}")
        seen[key] = owner

    for h in hospitals:
        once(("hospital", h.id), f"hospital {h.id}", f"hospital id {h.id!r}")
        for platform, chat in h.chats():
            once(("chat", platform, chat), f"hospital {h.id}", f"{platform} chat {chat}")
    for e in engineers:
        once(("engineer", e.id), f"engineer {e.id}", f"engineer id {e.id!r}")
        for platform, user in e.identities():
            once(("user", platform, user), f"engineer {e.id}", f"{platform} user {user}")
