"""``hisbot notice …``: the operations of ``/notice``, from a shell.

The CLI writes to the database and nothing else; the running bot (``hisbot run``) sends. It
picks up queued deliveries and due waves within ``[broadcast] poll_seconds`` and schedules
the new waves with APScheduler. Hence the two steps of ``send``/``schedule``: the first queues
the test copy for the engineers' chat, the second (``--confirm``, after checking that copy)
arms the notice. ``--as <engineer id>`` says who acts; only broadcasters may change notices,
and refused attempts are audited like everywhere else. Expected failures raise ``CliError``
(one line, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from adapters.base import ChatRef
from bot.broadcasts import status
from bot.broadcasts.access import Actor
from bot.broadcasts.errors import BroadcastError
from bot.broadcasts.models import WaveKind
from bot.broadcasts.render import notice_line
from bot.broadcasts.settings import BroadcastSettings, parse_local
from bot.broadcasts.specs import draft_from_fields
from bot.broadcasts.store import BroadcastStore
from bot.cli.common import CliError
from bot.infra.config import Settings, load_settings

_FIELDS = (
    "title", "body", "product", "module", "version", "download_url", "checksum", "action",
    "deadline", "window_start", "window_end", "modules", "services",
)  # fmt: skip


def broadcast_settings(settings: Settings) -> BroadcastSettings:
    """``settings.broadcast`` once ``Settings`` has that section, else the defaults."""
    value = getattr(settings, "broadcast", None)
    return value if isinstance(value, BroadcastSettings) else BroadcastSettings()


def desk_chats(settings: Settings) -> tuple[ChatRef, ...]:
    """The engineers' chats the running bot posts test copies to (as ``bot.app`` wires them)."""
    chats: list[ChatRef] = []
    if settings.telegram.engineers_chat is not None:
        chats.append(ChatRef("telegram", str(settings.telegram.engineers_chat)))
    if settings.slack.engineers_channel:
        chats.append(ChatRef("slack", settings.slack.engineers_channel))
    return tuple(chats)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.config:
        return load_settings(Path(args.config))
    default = Path("config.toml")
    return load_settings(default if default.is_file() else None)


def _store(args: argparse.Namespace) -> tuple[BroadcastStore, Settings]:
    from bot.infra.db import make_engine
    from bot.registry.store import RegistryStore

    settings = settings_from(args)
    engine = make_engine(settings.storage_url)
    store = BroadcastStore(engine, RegistryStore(engine), settings=broadcast_settings(settings))
    return store, settings


def _fail(exc: Exception) -> None:

    raise CliError(str(exc)) from exc


def cmd_create(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    fields = {name: getattr(args, name) for name in _FIELDS if getattr(args, name)}
    fields["targets"] = "all" if args.all else " ".join(args.target or [])
    if args.no_reminders:
        fields["reminders"] = "none"
    elif args.remind:
        fields["reminders"] = ",".join(args.remind)
    if args.urgent:
        fields["urgent"] = "yes"
    try:
        notice = store.create(
            draft_from_fields(args.kind, fields, store.settings.tz), Actor.cli(args.actor)
        )
        assert notice.id is not None
        print(f"notice #{notice.id} created (draft)")
        print(
            status.preview_text(
                notice, store.targets(notice.id).describe(), store.preview(notice.id)
            )
        )
    except BroadcastError as exc:
        _fail(exc)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        notice = store.get(args.id)
        print(
            status.preview_text(notice, store.targets(args.id).describe(), store.preview(args.id))
        )
    except BroadcastError as exc:
        _fail(exc)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """``send`` and ``schedule``: queue the test copy, or (``--confirm``) arm the notice."""
    store, settings = _store(args)
    actor = Actor.cli(args.actor)
    try:
        at = parse_local(args.at, store.settings.tz) if getattr(args, "at", None) else None
        if args.confirm:
            notice = store.confirm(args.id, actor, at, skip_test=args.skip_test)
            groups = len(store.preview(args.id).groups)
            print(
                f"notice #{args.id} confirmed: {groups} groups at {store.settings.local(notice.send_at)} "
                "(the running bot sends it)"
            )
            held = status.quiet_hold(notice, store.waves_of(args.id), store.settings)
            if held is not None:
                print(
                    f"held for quiet hours ({store.settings.quiet_hours}): it goes out at "
                    f"{store.settings.local(held)} ([broadcast] quiet_hours; --urgent notices are not held)"
                )
            return 0
        state = store.test_state(args.id)
        if state != "sent" and not desk_chats(settings):
            again = f"--at '{args.at}' " if at else ""
            raise BroadcastError(
                "no engineers' chat is configured ([telegram] engineers_chat or [slack] "
                "engineers_channel), so there is nowhere to send the test copy: check the "
                f"preview (hisbot notice preview {args.id}) and confirm without one: hisbot notice "
                f"{args.command_name} {args.id} {again}--as {args.actor} --confirm --skip-test"
            )
        if state != "sent":
            store.request_test(args.id, actor, desk_chats(settings))
            print(
                f"test copy of notice #{args.id} queued for the engineers' chat; the running bot "
                f"posts it within {store.settings.poll_seconds:g} s"
            )
        else:
            print(f"the test copy of notice #{args.id} is in the engineers' chat")
        res = store.preview(args.id)
        print(f"it would go to {len(res.groups)} groups of {res.hospitals} hospitals")
        again = f"--at '{args.at}' " if at else ""
        print(
            f"check it there, then: hisbot notice {args.command_name} {args.id} {again}--as {args.actor} --confirm"
        )
    except (BroadcastError, ValueError) as exc:
        _fail(exc)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        notice, cancelled = store.cancel(args.id, Actor.cli(args.actor))
        print(f"notice #{args.id}: {notice.status}; {cancelled} queued deliveries cancelled")
    except BroadcastError as exc:
        _fail(exc)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        print(status.report_text(status.build_report(store, args.id), store.settings))
    except BroadcastError as exc:
        _fail(exc)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    for notice in store.list_notices(args.limit):
        print(notice_line(notice, store.settings))
    return 0


def cmd_follow_up(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        store.follow_up(
            args.id, WaveKind(args.command_name), Actor.cli(args.actor), args.note or ""
        )
        print(f"notice #{args.id}: '{args.command_name}' queued (the running bot sends it)")
    except BroadcastError as exc:
        _fail(exc)
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    store, _ = _store(args)
    try:
        count = store.resend(args.id, Actor.cli(args.actor), args.hospital or [])
        print(f"notice #{args.id}: {count} deliveries queued again")
    except BroadcastError as exc:
        _fail(exc)
    return 0


def add_notice_parser(sub: Any) -> None:
    """Register ``notice`` under the ``hisbot`` subcommands (``sub``: ``add_subparsers()``)."""
    notice = sub.add_parser("notice", help="patch notices, upgrade windows, announcements")
    cmds = notice.add_subparsers(dest="notice_command", required=True)

    def command(name: str, help: str, func: Any, actor: bool = True) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help)
        if name != "create" and name != "list":
            p.add_argument("id", type=int, help="notice number")
        if actor:
            p.add_argument(
                "--as", dest="actor", required=True, help="engineer id (broadcaster role)"
            )
        p.set_defaults(func=func, command_name=name)
        return p

    p = command("create", "create a draft notice", cmd_create)
    p.add_argument("kind", choices=["patch", "upgrade", "announcement"])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="every hospital")
    who.add_argument(
        "--target", action="append", help="'region=华东,华南 his=5.2.* module=住院 hospital=h001'"
    )
    for flag, dest, text in (
        ("--title", "title", "title (announcements; others get one from their fields)"),
        ("--text", "body", "announcement text, or what a patch fixes"),
        ("--product", "product", None), ("--module", "module", None), ("--version", "version", None),
        ("--download", "download_url", "download link"), ("--checksum", "checksum", None),
        ("--action", "action", "what the hospital must do (before the window)"),
        ("--deadline", "deadline", "'YYYY-MM-DD HH:MM' (local time)"),
        ("--start", "window_start", "upgrade window start"), ("--end", "window_end", "upgrade window end"),
        ("--modules", "modules", "affected modules, comma-separated"),
        ("--services", "services", "affected services, comma-separated"),
    ):  # fmt: skip
        p.add_argument(flag, dest=dest, default="", help=text)
    p.add_argument(
        "--remind", action="append", help="reminder before the window, e.g. 24h (repeatable)"
    )
    p.add_argument("--no-reminders", action="store_true")
    p.add_argument("--urgent", action="store_true", help="ignore quiet hours")
    command("preview", "which groups on which platforms would receive it", cmd_preview, False)
    for name, text in (
        ("send", "test copy first; --confirm sends now"),
        ("schedule", "same, at --at"),
    ):
        p = command(name, text, cmd_send)
        p.add_argument("--at", required=name == "schedule", help="'YYYY-MM-DD HH:MM' (local time)")
        p.add_argument("--confirm", action="store_true", help="the test copy was checked: go")
        p.add_argument(
            "--skip-test", action="store_true", help="confirm without a test copy (audited)"
        )
    command("cancel", "cancel what has not gone out yet", cmd_cancel)
    command("status", "delivered / failed / acknowledged / applied per hospital", cmd_status, False)
    p = command("list", "recent notices", cmd_list, False)
    p.add_argument("--limit", type=int, default=20)
    for name in ("started", "completed"):
        p = command(name, f"upgrade window {name}: tell every group", cmd_follow_up)
        p.add_argument("--note", help="a line added to the message")
    p = command("resend", "queue failed / gave-up / unknown groups again", cmd_resend)
    p.add_argument("--hospital", action="append", help="only this hospital (repeatable)")
