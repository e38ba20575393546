"""``hisbot service …``: the service workflows from the command line.

The CLI records; it does not talk to chats (the running bot does). A consent given by
telephone is recorded on behalf of the registered hospital admin who gave it
(``remote decide --admin telegram:7001``) — anyone else is refused, as in chat.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from bot.cli.common import CliError, open_db, settings_from
from bot.workflows import ServiceWorkflows, WorkflowError
from bot.workflows.chat import upgrade_line
from bot.workflows.models import LEVEL_ORDER, STAGE_ORDER
from bot.workflows.remote import LEVEL_LABELS
from bot.workflows.times import parse_day, parse_local, shown


def _open(args: argparse.Namespace) -> tuple[ServiceWorkflows, Any, Any]:
    """The workflows, the registry and the phone tickets' writer over the configured database."""
    from zoneinfo import ZoneInfo

    from bot.registry.store import RegistryStore
    from bot.tickets.opening import OfflinePhoneTickets
    from bot.tickets.store import TicketStore

    settings = settings_from(args)
    db = open_db(settings)
    zone = ZoneInfo(settings.reports.timezone)
    phone = OfflinePhoneTickets(db, TicketStore(db, year_zone=zone))
    return ServiceWorkflows.over(db, zone), RegistryStore(db), phone


def _admin(value: str) -> tuple[str, str]:
    platform, sep, user = value.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(
            f"{value!r}: write the account as platform:user (telegram:7001)"
        )
    return platform, user


def cmd_service(args: argparse.Namespace) -> int:
    from bot.registry.store import RegistryError
    from bot.tickets.store import TicketError

    w, registry, tickets = _open(args)
    try:
        for line in _run(args, w, registry, tickets):
            print(line)
    except (WorkflowError, TicketError, RegistryError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    return 0


def _run(args: argparse.Namespace, w: ServiceWorkflows, registry: Any, tickets: Any) -> list[str]:
    what = args.service_command
    if what == "team":
        h = registry.get_hospital(args.hospital)
        if h is None:
            raise WorkflowError(f"没有医院 {args.hospital}。")
        admins = [f"{a.platform}:{a.platform_user_id}" for a in registry.admins_of(h.id)]
        return [
            f"{h.id} {h.name}",
            f"dedicated engineer: {h.dedicated_engineer_id or '-'}",
            f"deputy engineer:    {h.deputy_engineer_id or '-'}",
            f"admins:             {', '.join(admins) or '-'}",
        ]
    if what == "admin":
        platform, user = args.account
        registry.set_admin(args.hospital, platform, user, admin=not args.remove)
        return [
            f"{platform}:{user} {'is no longer' if args.remove else 'is now'} an admin of {args.hospital}"
        ]
    if what == "remote":
        return _remote(args, w)
    if what == "level":
        row = w.remote.set_level(args.ticket, args.level, args.by)
        return [f"#{args.ticket}: {LEVEL_LABELS[row.level]}"]
    if what == "visit":
        return _visit(args, w)
    if what == "upgrade":
        return _upgrade(args, w)
    if what == "call":
        from bot.privacy.gate import clean
        from bot.workflows.calls import register_call

        hospital, engineer = registry.get_hospital(args.hospital), registry.get_engineer(args.by)
        if hospital is None or engineer is None:
            raise WorkflowError(f"没有医院 {args.hospital} 或工程师 {args.by}。")
        t = register_call(
            tickets, w.remote, clean, hospital, engineer,
            caller=args.caller, question=args.question, now=dt.datetime.now(dt.UTC),
            category=args.category, urgency=args.urgency,
        )  # fmt: skip
        return [f"phone ticket #{t.number} registered, accepted by {engineer.id}"]
    raise WorkflowError(f"unknown service command {what}")  # argparse prevents this


def _remote(args: argparse.Namespace, w: ServiceWorkflows) -> list[str]:
    z = w.zone
    if args.remote_command == "request":
        g = w.remote.request(args.ticket, args.by, args.tool, args.purpose, args.minutes)
        return [f"remote request {g.id} on #{args.ticket} recorded: the hospital's admins decide"]
    if args.remote_command == "decide":
        platform, user = args.admin
        g = w.remote.decide(args.grant, args.hospital, platform, user, args.name, args.agree)
        return [f"remote request {g.id}: {g.status}, expires {shown(g.expires_at, z)}"]
    if args.remote_command == "revoke":
        platform, user = args.admin
        g = w.remote.revoke(args.grant, args.hospital, platform, user, args.name)
        return [f"remote grant {g.id} revoked"]
    return [
        f"{g.id} {g.status:<9} {g.tool} {g.minutes}min by {g.requested_by} "
        f"asked {shown(g.requested_at, z)} expires {shown(g.expires_at, z)} — {g.purpose}"
        for g in w.remote.for_ticket(args.ticket)
    ] or ["no remote requests"]


def _visit(args: argparse.Namespace, w: ServiceWorkflows) -> list[str]:
    z = w.zone
    if args.visit_command == "plan":
        v = w.visits.plan(args.ticket, args.engineer, parse_local(args.at, z), args.by)
        return [f"visit {v.id} planned: {v.engineer_id} at {shown(v.planned_at, z)}"]
    if args.visit_command in ("arrive", "depart"):
        step = w.visits.arrive if args.visit_command == "arrive" else w.visits.depart
        v = step(args.visit, args.by)
        return [
            f"visit {v.id}: arrived {shown(v.arrived_at, z)}, departed {shown(v.departed_at, z)}"
        ]
    if args.visit_command == "confirm":
        platform, user = args.admin
        v = w.visits.confirm(args.visit, args.hospital, platform, user, args.name)
        return [f"visit {v.id} confirmed by the hospital"]
    return [
        f"{v.id} {v.engineer_id} planned {shown(v.planned_at, z)} arrived {shown(v.arrived_at, z)} "
        f"departed {shown(v.departed_at, z)} {'open' if v.is_open else 'confirmed'}"
        for v in w.visits.for_ticket(args.ticket)
    ] or ["no visits"]


def _upgrade(args: argparse.Namespace, w: ServiceWorkflows) -> list[str]:
    if args.upgrade_command == "start":
        u = w.upgrades.start(args.hospital, args.product, args.version, args.by, args.notice)
        return [f"upgrade {u.id}: {u.product} {u.from_version or '?'} → {u.to_version}"]
    if args.upgrade_command == "stage":
        day = parse_day(args.date) if args.date else dt.datetime.now(w.zone).date()
        w.upgrades.record(args.upgrade, args.stage, args.by, day, args.notes)
        return [upgrade_line(w.upgrades.get(args.upgrade))]
    if args.upgrade_command == "version":
        w.upgrades.set_version(args.hospital, args.product, args.version)
        return [f"{args.hospital} runs {args.product} {args.version}"]
    views = w.upgrades.of_hospital(args.hospital) if args.hospital else w.upgrades.in_progress()
    return [upgrade_line(v) for v in views] or ["no upgrades"]


def add_service_parser(sub: Any) -> None:
    service = sub.add_parser(
        "service", help="contract services: remote consent, visits, upgrades, calls"
    )
    service.set_defaults(func=cmd_service)
    sv = service.add_subparsers(dest="service_command", required=True)
    s = sv.add_parser("team", help="a hospital's dedicated engineer, deputy and admins")
    s.add_argument("hospital")
    s = sv.add_parser("admin", help="make a chat account a hospital admin (or --remove)")
    s.add_argument("hospital")
    s.add_argument("account", type=_admin, help="platform:user, e.g. telegram:7001")
    s.add_argument("--remove", action="store_true")

    remote = sv.add_parser("remote", help="remote access with the hospital's consent")
    rs = remote.add_subparsers(dest="remote_command", required=True)
    s = rs.add_parser("request", help="ask for remote access on a ticket")
    s.add_argument("ticket")
    s.add_argument("--by", required=True, help="engineer id")
    s.add_argument("--tool", required=True)
    s.add_argument("--minutes", type=int, required=True)
    s.add_argument("--purpose", required=True)
    for name, help_ in (
        ("decide", "record an admin's decision given by phone"),
        ("revoke", "revoke a live grant"),
    ):
        s = rs.add_parser(name, help=help_)
        s.add_argument("grant", type=int)
        s.add_argument("--hospital", required=True)
        s.add_argument("--admin", type=_admin, required=True, help="platform:user of the admin")
        s.add_argument("--name", default="", help="the admin's name, for the audit trail")
        if name == "decide":
            s.add_argument("--agree", action=argparse.BooleanOptionalAction, required=True)
    s = rs.add_parser("list", help="a ticket's remote requests and grants")
    s.add_argument("ticket")

    s = sv.add_parser(
        "level", help="how a ticket is handled: phone, remote (needs a live grant), onsite"
    )
    s.add_argument("ticket")
    s.add_argument("level", choices=[str(v) for v in LEVEL_ORDER])
    s.add_argument("--by", required=True)

    visit = sv.add_parser("visit", help="on-site visits").add_subparsers(
        dest="visit_command", required=True
    )
    s = visit.add_parser("plan")
    s.add_argument("ticket")
    s.add_argument("engineer")
    s.add_argument("at", help='local time, "2026-03-02 14:30"')
    s.add_argument("--by", required=True)
    for name in ("arrive", "depart"):
        s = visit.add_parser(name)
        s.add_argument("visit", type=int)
        s.add_argument("--by", required=True)
    s = visit.add_parser("confirm", help="record the hospital admin's confirmation")
    s.add_argument("visit", type=int)
    s.add_argument("--hospital", required=True)
    s.add_argument("--admin", type=_admin, required=True)
    s.add_argument("--name", default="")
    s = visit.add_parser("list")
    s.add_argument("ticket")

    up = sv.add_parser("upgrade", help="the upgrade service").add_subparsers(
        dest="upgrade_command", required=True
    )
    s = up.add_parser("start")
    s.add_argument("hospital")
    s.add_argument("product")
    s.add_argument("version")
    s.add_argument("--by", required=True)
    s.add_argument("--notice", type=int, help="the upgrade-window notice's id")
    s = up.add_parser("stage", help=f"record the next stage ({' → '.join(STAGE_ORDER)})")
    s.add_argument("upgrade", type=int)
    s.add_argument("stage", choices=[str(v) for v in STAGE_ORDER])
    s.add_argument("--by", required=True)
    s.add_argument("--date", help="YYYY-MM-DD (default: today)")
    s.add_argument("--notes", default="")
    s = up.add_parser("version", help="record the version of a product a hospital runs")
    s.add_argument("hospital")
    s.add_argument("product")
    s.add_argument("version")
    s = up.add_parser("list", help="upgrades in progress, or every upgrade of --hospital")
    s.add_argument("--hospital")

    s = sv.add_parser("call", help="register a phone call as a ticket")
    s.add_argument("hospital")
    s.add_argument("question")
    s.add_argument("--by", required=True, help="the engineer who took the call")
    s.add_argument("--caller", default="来电", help="who called (department, name)")
    s.add_argument("--category", default="consult")
    s.add_argument("--urgency", default="P3", choices=["P1", "P2", "P3", "P4"])
