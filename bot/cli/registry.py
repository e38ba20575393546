"""``hisbot hospital …`` and ``hisbot engineer …``: the registry from the command line.

The chats and accounts of the many-tenant platforms (DingTalk, WeCom: one robot per hospital
tenant) are written ``<tenant>/<id>`` and checked as config.toml checks them — the form, and
that the tenant is a configured ``[[<platform>.tenants]]`` — before anything is written, so a
refused option leaves the registry as it was.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bot.cli.common import CliError, open_db, settings_from
from bot.infra.config import Settings

if TYPE_CHECKING:
    from bot.registry.store import RegistryStore


def _registry(settings: Settings) -> RegistryStore:
    from bot.registry.store import RegistryStore

    return RegistryStore(open_db(settings))


def tenant_ids(
    settings: Settings, given: Iterable[tuple[str, str]], kind: str, group: bool
) -> list[tuple[str, str]]:
    """The ``--<platform>-<kind>`` options of DingTalk and WeCom as (platform, ``<tenant>/<id>``),
    each checked like config.toml's entries: its form, and a configured tenant."""
    from bot.registry.specs import dingtalk_id, wecom_id

    checked: list[tuple[str, str]] = []
    for platform, value in given:
        option = f"--{platform}-{kind}"
        if platform == "dingtalk":
            value = dingtalk_id(option, value, group=group)
        else:
            value = wecom_id(option, value)
        tenant = value.partition("/")[0]
        if tenant not in (settings.tenant_names(platform) or set()):
            raise ValueError(f"{option} {value}: no [[{platform}.tenants]] named {tenant!r}")
        checked.append((platform, value))
    return checked


def cmd_hospital_add(args: argparse.Namespace) -> int:
    from bot.registry.store import RegistryError

    settings = settings_from(args)
    registry = _registry(settings)
    try:
        # checked before anything is written
        groups = tenant_ids(
            settings,
            [("dingtalk", g) for g in args.dingtalk_group or []]
            + [("wecom", g) for g in args.wecom_group or []],
            "group",
            group=True,
        )
        registry.add_hospital(
            args.id,
            args.name,
            region=args.region,
            his_version=args.his_version,
            modules=args.module or [],
            dedicated_engineer_id=args.engineer,
        )
        for chat in args.telegram_chat or []:
            registry.add_chat("telegram", chat, args.id)
        for channel in args.slack_channel or []:
            registry.add_chat("slack", channel, args.id)
        for platform, group in groups:
            registry.add_chat(platform, group, args.id)
    except (RegistryError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    print(f"hospital {args.id} added")
    return 0


def cmd_hospital_list(args: argparse.Namespace) -> int:
    registry = _registry(settings_from(args))
    for h in registry.list_hospitals():
        chats = ", ".join(
            f"{c.platform}:{c.chat_id}{'' if c.active else ' (inactive)'}"
            for c in registry.chats_of_hospital(h.id, active_only=False)
        )
        print(
            f"{h.id:<8} {h.name:<16} region={h.region or '-'} his={h.his_version or '-'} engineer={h.dedicated_engineer_id or '-'} chats=[{chats}]"
        )
    return 0


def cmd_engineer_add(args: argparse.Namespace) -> int:
    from bot.registry.store import RegistryError

    settings = settings_from(args)
    registry = _registry(settings)
    try:
        # checked before anything is written
        given = (("dingtalk", args.dingtalk_user), ("wecom", args.wecom_user))
        tenant_accounts = tenant_ids(
            settings, [(p, user) for p, user in given if user], "user", group=False
        )
        registry.add_engineer(args.id, args.name, roles=args.role or ["engineer"])
        if args.telegram_user:
            registry.add_identity("telegram", args.telegram_user, args.id)
        if args.slack_user:
            registry.add_identity("slack", args.slack_user, args.id)
        for platform, account in tenant_accounts:
            registry.add_identity(platform, account, args.id)
    except (RegistryError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    print(f"engineer {args.id} added")
    return 0


def cmd_engineer_list(args: argparse.Namespace) -> int:
    registry = _registry(settings_from(args))
    for e in registry.list_engineers():
        ids = ", ".join(f"{i.platform}:{i.platform_user_id}" for i in registry.identities_of(e.id))
        print(
            f"{e.id:<8} {e.name:<10} roles={','.join(sorted(registry.roles_of(e.id)))} accounts=[{ids}]"
        )
    return 0


def add_registry_parser(sub: Any) -> None:
    hospital = sub.add_parser("hospital", help="the hospital registry").add_subparsers(
        dest="hospital_command", required=True
    )
    s = hospital.add_parser(
        "add", help="register a hospital (config.toml entries win on the same id)"
    )
    s.add_argument("id")
    s.add_argument("name")
    s.add_argument("--region", default="")
    s.add_argument("--his-version", default="")
    s.add_argument("--module", action="append", help="HIS module (repeatable)")
    s.add_argument("--engineer", help="dedicated engineer id")
    s.add_argument("--telegram-chat", action="append", help="Telegram chat id (repeatable)")
    s.add_argument("--slack-channel", action="append", help="Slack channel id (repeatable)")
    s.add_argument(
        "--dingtalk-group",
        action="append",
        help="DingTalk group as <tenant>/<openConversationId> (repeatable)",
    )
    s.add_argument(
        "--wecom-group",
        action="append",
        help="WeCom group as <tenant>/<chatid> (repeatable)",
    )
    s.set_defaults(func=cmd_hospital_add)
    s = hospital.add_parser("list", help="list hospitals and their chats")
    s.set_defaults(func=cmd_hospital_list)

    engineer = sub.add_parser("engineer", help="the engineer registry").add_subparsers(
        dest="engineer_command", required=True
    )
    s = engineer.add_parser("add", help="register an engineer")
    s.add_argument("id")
    s.add_argument("name")
    s.add_argument("--role", action="append", help="engineer, lead or broadcaster (repeatable)")
    s.add_argument("--telegram-user", help="Telegram user id")
    s.add_argument("--slack-user", help="Slack user id")
    s.add_argument("--dingtalk-user", help="DingTalk user as <tenant>/<userId>")
    s.add_argument("--wecom-user", help="WeCom user as <tenant>/<userid>")
    s.set_defaults(func=cmd_engineer_add)
    s = engineer.add_parser("list", help="list engineers and their accounts")
    s.set_defaults(func=cmd_engineer_list)
