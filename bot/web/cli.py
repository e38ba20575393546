"""``hisbot web …``: console accounts, hospital access links and the console's audit log.

Passwords are never taken from the command line (it ends up in shell history and ``ps``): they
are typed at a prompt, read from standard input with ``--password-stdin``, or generated with
``--generate`` and printed once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from bot.cli.common import CliError, local_time, open_db, settings_from
from bot.web.auth import AuthError, ConsoleStore
from bot.web.passwords import MIN_PASSWORD_LENGTH


def _store(args: argparse.Namespace) -> tuple[ConsoleStore, str]:

    settings = settings_from(args)
    return ConsoleStore(open_db(settings)), settings.web.url


def _local(args: argparse.Namespace) -> Callable[[dt.datetime], str]:

    return local_time(settings_from(args))


def _fail(exc: Exception) -> NoReturn:

    raise CliError(str(exc)) from exc


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether it was generated (then it is printed)."""
    if args.generate:
        return secrets.token_urlsafe(12), True
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for a password: use --password-stdin or --generate")
    first = getpass.getpass(f"password (at least {MIN_PASSWORD_LENGTH} characters): ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ")
    return first, False


def cmd_account_set(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    password, generated = _password(args)
    try:
        created = store.set_password(args.engineer, password, by="cli")
    except AuthError as exc:
        _fail(exc)
    print(f"console account {args.engineer} {'created' if created else 'password changed'}")
    if generated:
        print(f"password: {password}")
    return 0


def cmd_account_disable(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        store.disable_account(args.engineer, by="cli")
    except AuthError as exc:
        _fail(exc)
    print(f"console account {args.engineer} disabled (its sessions ended)")
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    local = _local(args)
    for a in store.accounts():
        state = "active" if a.active else "disabled"
        print(
            f"{a.engineer_id:<10} {a.name:<10} {state:<8} password set {local(a.password_changed_at)[:16]}"
        )
    return 0


def cmd_link_create(args: argparse.Namespace) -> int:
    store, base = _store(args)
    try:
        new = store.create_link(args.hospital, label=args.label, by="cli")
    except AuthError as exc:
        _fail(exc)
    print(
        f"access link #{new.link.id} for {args.hospital} (shown once; revoke with `hisbot web link revoke {new.link.id}`):"
    )
    print(f"{base}/h/{new.token}")
    return 0


def cmd_link_list(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    local = _local(args)
    for link in store.links(args.hospital):
        state = f"revoked {local(link.revoked_at)[:10]}" if link.revoked_at else "live"
        print(f"#{link.id:<4} {link.hospital_id:<10} {state:<18} {link.label}")
    return 0


def cmd_link_revoke(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        store.revoke_link(args.id, by="cli")
    except AuthError as exc:
        _fail(exc)
    print(f"access link #{args.id} revoked (its sessions ended)")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """The audit log, times in ``[reports] timezone`` (as on the console's 操作审计 page)."""
    store, _ = _store(args)
    local = _local(args)
    rows = store.audit_search(
        actor=args.actor or "", action=args.action or "", target=args.target or "", limit=args.limit
    )
    for row in reversed(rows):
        print(
            f"{local(row.at)} {row.actor:<24} {row.action:<16} {row.target} {row.detail}".rstrip()
        )
    return 0


DEMO_HOSPITAL = ("demo", "演示医院")
DEMO_ENGINEER = ("demo", "演示工程师")


def _read_demo_login(saved: Path) -> tuple[str, str]:
    """The demo password and hospital-link token kept in ``demo-login.txt`` ("" when absent).
    A file of an older release holds the password alone on its first line."""
    if not saved.is_file():
        return "", ""
    lines = saved.read_text(encoding="utf-8").splitlines()
    password = token = ""
    for line in lines:
        if m := _DEMO_LOGIN.match(line):
            password = m.group(1)
        elif m := _DEMO_LINK.search(line):
            token = m.group(1)
    if not password and lines and ":" not in lines[0]:
        password = lines[0].strip()
    return password, token


def _write_demo_login(saved: Path, password: str, base: str, token: str) -> None:
    """Owner-only (0600): the file holds a password and a hospital's access link."""
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.touch(mode=0o600)
    saved.chmod(0o600)
    saved.write_text(
        f"engineer login:  {DEMO_ENGINEER[0]} / {password}\nhospital link:   {base}/h/{token}\n",
        encoding="utf-8",
    )


_DEMO_LOGIN = re.compile(rf"engineer login:\s+{DEMO_ENGINEER[0]} / (\S+)")
_DEMO_LINK = re.compile(r"hospital link:\s+\S*/h/([A-Za-z0-9_-]+)")


def cmd_demo(args: argparse.Namespace) -> int:
    """Make the embedded demo usable in a browser: a demo hospital and engineer, the
    engineer's console password and an access link for the demo hospital. Idempotent: both
    are generated once and kept in ``<data_dir>/demo-login.txt`` (mode 0600), so a link
    bookmarked or opened in a browser keeps working across demo runs; only a link that no
    longer works (revoked, or another database) is replaced, and other demo links are
    revoked so exactly one is live."""
    from bot.registry.store import RegistryStore

    settings = settings_from(args)
    db = open_db(settings)
    registry = RegistryStore(db)
    store = ConsoleStore(db)
    if registry.get_engineer(DEMO_ENGINEER[0]) is None:
        registry.add_engineer(*DEMO_ENGINEER, roles=["engineer", "lead", "broadcaster"])
    if registry.get_hospital(DEMO_HOSPITAL[0]) is None:
        registry.add_hospital(
            *DEMO_HOSPITAL,
            region="演示",
            modules=["门诊收费", "住院", "医保接口", "LIS", "PACS"],
            dedicated_engineer_id=DEMO_ENGINEER[0],
        )
    saved = settings.path(settings.data_dir) / "demo-login.txt"
    password, token = _read_demo_login(saved)
    if not password or not store.check_password(DEMO_ENGINEER[0], password):
        password = secrets.token_urlsafe(12)
        store.set_password(DEMO_ENGINEER[0], password, by="cli:demo")
    live = store.link_for_token(token) if token else None
    if live is None or live.hospital_id != DEMO_HOSPITAL[0]:
        token = store.create_link(DEMO_HOSPITAL[0], label="demo", by="cli:demo").token
        live = store.link_for_token(token)
    assert live is not None
    for old in store.links(DEMO_HOSPITAL[0]):
        if (
            old.label == "demo"
            and old.revoked_at is None
            and old.id is not None
            and old.id != live.id
        ):
            store.revoke_link(old.id, by="cli:demo")
    base = settings.web.url
    _write_demo_login(saved, password, base, token)
    print(f"web console:     {base}/")
    print(f"engineer login:  {DEMO_ENGINEER[0]} / {password}")
    print(f"hospital link:   {base}/h/{token}   ({DEMO_HOSPITAL[1]}: its tickets and chat)")
    print(f"(kept in {saved})")
    return 0


def add_web_parser(sub: Any) -> None:
    """Register ``web`` under the ``hisbot`` subcommands."""
    web = sub.add_parser("web", help="web console: accounts, hospital links, audit")
    cmds = web.add_subparsers(dest="web_command", required=True)

    account = cmds.add_parser("account", help="engineers' console logins").add_subparsers(
        dest="account_command", required=True
    )
    p = account.add_parser("set", help="create a login for an engineer, or change its password")
    p.add_argument("engineer", help="engineer id (the login name)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument("--generate", action="store_true", help="generate a password and print it")
    p.set_defaults(func=cmd_account_set)
    p = account.add_parser("disable", help="disable a login (ends its sessions)")
    p.add_argument("engineer")
    p.set_defaults(func=cmd_account_disable)
    p = account.add_parser("list", help="list console logins")
    p.set_defaults(func=cmd_account_list)

    link = cmds.add_parser("link", help="per-hospital access links").add_subparsers(
        dest="link_command", required=True
    )
    p = link.add_parser("create", help="create a hospital's access link (printed once)")
    p.add_argument("hospital", help="hospital id")
    p.add_argument("--label", default="", help="who it is for, e.g. 信息科")
    p.set_defaults(func=cmd_link_create)
    p = link.add_parser("list", help="list access links")
    p.add_argument("--hospital", default=None)
    p.set_defaults(func=cmd_link_list)
    p = link.add_parser("revoke", help="revoke an access link (ends its sessions)")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_link_revoke)

    p = cmds.add_parser(
        "demo", help="create the demo hospital, engineer login and access link (idempotent)"
    )
    p.set_defaults(func=cmd_demo)

    p = cmds.add_parser(
        "audit",
        help="recent console actions (logins, accounts, links, edits), in [reports] timezone",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--actor", help="only actors containing this (an engineer id, a hospital)")
    p.add_argument("--action", help="only this action (login_failed, kb_edit, …)")
    p.add_argument("--target", help="only targets containing this (a ticket number, an article)")
    p.set_defaults(func=cmd_audit)
