"""``hisbot duty now|week|set|swap`` and ``hisbot sla target``: the roster from a terminal.

Changes are made as a lead (``--as``), who is recorded on the rotation or override.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from bot.cli.common import CliError, open_db, require_lead, settings_from
from bot.duty.commands import duty_lines
from bot.duty.models import Post
from bot.duty.roster import Roster, RosterError
from bot.registry.store import RegistryStore

_POSTS = [p.value for p in Post]


def _open(args: argparse.Namespace) -> tuple[Roster, RegistryStore]:

    settings = settings_from(args)
    db = open_db(settings)
    return Roster(db, settings.duty), RegistryStore(db)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _when(value: str) -> dt.datetime:
    """A local date-time as typed (``2026-10-01T09:00``)."""
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date and time: {value!r}") from None


def cmd_now(args: argparse.Namespace) -> int:
    roster, registry = _open(args)
    at = args.at.replace(tzinfo=roster.settings.zone) if args.at else dt.datetime.now(dt.UTC)
    duty = roster.now(at)
    for line in duty_lines(roster, registry, duty):
        print(line)
    for hospital in registry.list_hospitals():
        today = roster.engineer_of_the_day(hospital.id, duty.duty_day.date)
        print(
            f"  {hospital.id} {hospital.name}: 当日工程师 {today or '-'}，专属 {hospital.dedicated_engineer_id or '-'}"
        )
    for year in roster.calendar.unknown_years():
        print(f"warning: chinesecalendar has no holiday schedule for {year}: upgrade the package")
    return 0


def cmd_week(args: argparse.Namespace) -> int:
    roster, registry = _open(args)
    first = args.start or roster.local(dt.datetime.now(dt.UTC)).date()
    hospitals = [h.id for h in registry.list_hospitals()]
    print(
        "date        kind        "
        + "  ".join(f"{p.value:<8}" for p in Post if p != Post.HOSPITAL)
        + "  hospitals"
    )
    for row in roster.week(first, hospitals):
        posts = "  ".join(f"{row.posts[p] or '-':<8}" for p in Post if p != Post.HOSPITAL)
        per = " ".join(f"{h}={e or '-'}" for h, e in row.hospitals.items())
        name = f" {row.day.holiday}" if row.day.holiday else ""
        unknown = " (calendar unknown)" if not row.day.known else ""
        print(f"{row.day.date} {row.day.kind.value:<11} {posts}  {per}{name}{unknown}")
    for year in roster.calendar.unknown_years():
        print(f"warning: chinesecalendar has no holiday schedule for {year}: weekends only")
    return 0


def cmd_set(args: argparse.Namespace) -> int:

    roster, registry = _open(args)
    require_lead(registry, args.actor, "change the duty roster")
    post = Post(args.post)
    try:
        if args.date is not None:
            if len(args.engineers) != 1:
                raise CliError("one engineer holds a post on one day")
            roster.set_override(
                args.date,
                post,
                args.engineers[0],
                args.actor,
                reason=args.reason,
                hospital_id=args.hospital,
            )
            print(f"{args.date} {post.label}: {args.engineers[0]}")
            return 0
        rotation = roster.set_rotation(
            post,
            args.engineers,
            args.actor,
            hospital_id=args.hospital,
            step_days=args.every,
            starts_on=args.starting,
        )
    except RosterError as exc:
        raise CliError(str(exc)) from exc
    print(
        f"{post.label}{' ' + args.hospital if args.hospital else ''}: "
        f"{' → '.join(args.engineers)}, every {rotation.step_days} day(s) from {rotation.starts_on}"
    )
    return 0


def cmd_swap(args: argparse.Namespace) -> int:

    roster, registry = _open(args)
    require_lead(registry, args.actor, "change the duty roster")
    try:
        first, second = roster.swap(
            Post(args.post), args.first, args.second, args.actor, args.reason
        )
    except RosterError as exc:
        raise CliError(str(exc)) from exc
    print(f"{args.first}: {first}; {args.second}: {second}")
    return 0


def add_duty_parser(sub: Any) -> None:
    duty = sub.add_parser("duty", help="the duty roster: who is on call").add_subparsers(
        dest="duty_command", required=True
    )
    s = duty.add_parser(
        "now", help="the shift, the on-call engineer, the lead, each hospital's engineer of the day"
    )
    s.add_argument("--at", type=_when, help="another local time (YYYY-MM-DDTHH:MM)")
    s.set_defaults(func=cmd_now)
    s = duty.add_parser("week", help="seven duty days: the day's kind and every post's holder")
    s.add_argument("--from", dest="start", type=_date, help="first day (default today)")
    s.set_defaults(func=cmd_week)
    s = duty.add_parser("set", help="a post's rotation, or (with --date) one day's holder")
    s.add_argument("post", choices=_POSTS)
    s.add_argument("engineers", nargs="+", help="engineer ids, in rotation order")
    s.add_argument("--date", type=_date, help="only this duty day (leave, cover)")
    s.add_argument("--hospital", default="", help="a hospital's own engineer of the day")
    s.add_argument("--every", type=int, help="days per turn (default 7; 1 for hospital)")
    s.add_argument(
        "--starting", type=_date, help="the first engineer's first day (default this Monday)"
    )
    s.add_argument("--reason", default="", help="why (with --date)")
    s.add_argument("--as", dest="actor", required=True, help="the lead doing it (engineer id)")
    s.set_defaults(func=cmd_set)
    s = duty.add_parser("swap", help="the holders of a post on two days trade")
    s.add_argument("post", choices=_POSTS)
    s.add_argument("first", type=_date)
    s.add_argument("second", type=_date)
    s.add_argument("--reason", default="")
    s.add_argument("--as", dest="actor", required=True, help="the lead doing it (engineer id)")
    s.set_defaults(func=cmd_swap)
