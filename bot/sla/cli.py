"""``hisbot sla target``: a hospital contract's own SLA targets per urgency (as a lead).

The same store and rules as the console's SLA 目标 page (``bot.sla.targets``). How time is
counted is changed only when asked (``--working-time`` / ``--all-hours``): a lead changing the
minutes keeps it, since silently turning a working-time target around-the-clock would page
people at night."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import CliError, open_db, require_lead, settings_from
from bot.sla.targets import Target
from bot.tickets.models import URGENCIES


def described(t: Target) -> str:
    """A target as the CLI prints it: its minutes and how time is counted."""
    hours = "working time only" if t.working_time else "around the clock"
    return f"accept {t.accept_minutes} min, resolve {t.resolve_minutes} min, {hours}"


def cmd_target(args: argparse.Namespace) -> int:
    from bot.registry.store import RegistryStore
    from bot.wiring.operations import sla_clocks

    settings = settings_from(args)
    db = open_db(settings)
    registry = RegistryStore(db)
    require_lead(registry, args.actor, "see or change SLA targets")
    if registry.get_hospital(args.hospital) is None:
        raise CliError(f"no hospital {args.hospital}")
    clocks = sla_clocks(settings, db)
    where = f"{args.hospital} {args.urgency}"
    if args.reset:
        if args.accept is not None or args.resolve is not None or args.working_time is not None:
            raise CliError("--reset takes no --accept, --resolve, --working-time or --all-hours")
        dropped = clocks.reset_target(args.hospital, args.urgency)
        done = "back to the default targets (new tickets)" if dropped else "already the default"
        print(f"{where}: {done}")
        return 0
    if args.accept is None and args.resolve is None and args.working_time is None:
        t = clocks.target(args.hospital, args.urgency)
        source = "the hospital contract's own" if t.own else "default"
        print(f"{where}: {described(t)} ({source})")
        return 0
    if args.accept is None or args.resolve is None:
        raise CliError("give both --accept and --resolve (minutes)")
    try:
        stored = clocks.set_target(
            args.hospital, args.urgency, args.accept, args.resolve, args.working_time
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    kept = "; how time is counted kept as it was" if args.working_time is None else ""
    print(f"{where}: {described(stored)} (the hospital contract's own, new tickets{kept})")
    return 0


def add_sla_parser(sub: Any) -> None:
    sla = sub.add_parser("sla", help="SLA targets of a hospital contract").add_subparsers(
        dest="sla_command", required=True
    )
    s = sla.add_parser(
        "target",
        help="show, set or reset one urgency's targets for one hospital",
        description="Without options: show the target (the hospital contract's own, or the "
        "default). With --accept and --resolve: set the hospital's own target for tickets "
        "opened from then on; how time is counted stays as it is (the own target's, else the "
        "default's) unless --working-time or --all-hours is given. --reset: back to the default. "
        "设置时限时若不写 --working-time / --all-hours，保持现有的计时方式。",
    )
    s.add_argument("hospital")
    s.add_argument("urgency", choices=URGENCIES)
    s.add_argument("--accept", type=int, help="minutes to accept (受理时限，分钟)")
    s.add_argument("--resolve", type=int, help="minutes to resolve (解决时限，分钟)")
    counted = s.add_mutually_exclusive_group()
    counted.add_argument(
        "--working-time",
        dest="working_time",
        action="store_const",
        const=True,
        help="count working time only: working days, [duty] hours (只计工作时间)",
    )
    counted.add_argument(
        "--all-hours",
        dest="working_time",
        action="store_const",
        const=False,
        help="count every minute, nights, weekends and holidays too (全天计时)",
    )
    s.add_argument(
        "--reset", action="store_true", help="drop the hospital's own target: back to the default"
    )
    s.add_argument("--as", dest="actor", required=True, help="the lead doing it (engineer id)")
    s.set_defaults(func=cmd_target)
