"""``hisbot sla target``: a hospital contract's own SLA targets per urgency (as a lead).

The same store and rules as the console's SLA 目标 page (``bot.sla.targets``)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import CliError, open_db, settings_from
from bot.tickets.models import URGENCIES


def cmd_target(args: argparse.Namespace) -> int:
    from bot.duty.cli import _lead
    from bot.registry.store import RegistryStore
    from bot.wiring.operations import sla_clocks

    settings = settings_from(args)
    db = open_db(settings)
    registry = RegistryStore(db)
    _lead(registry, args.actor)
    if registry.get_hospital(args.hospital) is None:
        raise CliError(f"no hospital {args.hospital}")
    clocks = sla_clocks(settings, db)
    where = f"{args.hospital} {args.urgency}"
    if args.reset:
        if args.accept is not None or args.resolve is not None:
            raise CliError("--reset takes no --accept or --resolve")
        dropped = clocks.reset_target(args.hospital, args.urgency)
        done = "back to the default targets (new tickets)" if dropped else "already the default"
        print(f"{where}: {done}")
        return 0
    if args.accept is None and args.resolve is None:
        t = clocks.target(args.hospital, args.urgency)
        hours = "working time" if t.working_time else "around the clock"
        source = "the hospital contract's own" if t.own else "default"
        print(
            f"{where}: accept {t.accept_minutes} min, resolve {t.resolve_minutes} min, {hours} "
            f"({source})"
        )
        return 0
    if args.accept is None or args.resolve is None:
        raise CliError("give both --accept and --resolve (minutes)")
    try:
        clocks.set_target(args.hospital, args.urgency, args.accept, args.resolve, args.working_time)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"{where}: accept {args.accept} min, resolve {args.resolve} min (new tickets)")
    return 0


def add_sla_parser(sub: Any) -> None:
    sla = sub.add_parser("sla", help="SLA targets of a hospital contract").add_subparsers(
        dest="sla_command", required=True
    )
    s = sla.add_parser("target", help="show, set or reset one urgency's targets for one hospital")
    s.add_argument("hospital")
    s.add_argument("urgency", choices=URGENCIES)
    s.add_argument("--accept", type=int, help="minutes to accept")
    s.add_argument("--resolve", type=int, help="minutes to resolve")
    s.add_argument("--working-time", action="store_true", help="count working time only")
    s.add_argument(
        "--reset", action="store_true", help="drop the hospital's own target: back to the default"
    )
    s.add_argument("--as", dest="actor", required=True, help="the lead doing it (engineer id)")
    s.set_defaults(func=cmd_target)
