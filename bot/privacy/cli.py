"""``hisbot privacy …``: erase personal data on request, and read the erasure log.

``purge`` shows what a scope covers and erases it only with ``--yes``; it is done as a lead
(``--as``), who is recorded in the ticket trails and the erasure log.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from bot.cli.common import CliError, local_time, open_db, require_lead, settings_from
from bot.privacy.purge import Eraser, PurgeRefused, Scope


def _eraser_and_lead(args: argparse.Namespace) -> Eraser:
    from bot.registry.store import RegistryStore

    settings = settings_from(args)
    db = open_db(settings)
    registry = RegistryStore(db)
    require_lead(registry, args.actor, "erase personal data")
    return Eraser(db, attachments=settings.path(settings.data_dir) / "attachments")


def _scope(args: argparse.Namespace) -> Scope:

    chosen = [
        n
        for n in ("ticket", "hospital", "subject", "older_than", "retention")
        if getattr(args, n) not in (None, False)
    ]
    if len(chosen) != 1:
        raise CliError(
            "say what to erase: one of --ticket, --hospital, --subject, --older-than, --retention"
        )
    now = dt.datetime.now(dt.UTC)
    if args.ticket:
        return Scope.ticket(args.ticket)
    if args.hospital:
        return Scope.hospital(args.hospital)
    if args.subject:
        return Scope.subject(args.subject)
    if args.older_than is not None:
        return Scope.older_than(args.older_than, now)
    days = settings_from(args).privacy.retention_days
    if not days:
        raise CliError("[privacy] retention_days is 0 (keep everything): nothing to apply")
    return Scope.older_than(days, now)


def cmd_purge(args: argparse.Namespace) -> int:

    eraser = _eraser_and_lead(args)
    try:
        scope = _scope(args)
        chosen = eraser.select(scope)
        counts = (
            f"{len(chosen.tickets)} ticket(s), {len(chosen.exchanges)} bot exchange(s), "
            f"{len(chosen.receipts)} notice receipt(s), "
            f"{len(chosen.web_chat)} web chat message(s)"
        )
        if not args.yes:
            print(f"would erase the personal data of {counts}; run again with --yes to erase")
            return 0
        done = eraser.erase(scope, by=args.actor)
    except PurgeRefused as exc:
        raise CliError(str(exc)) from exc
    print(f"erased the personal data of {counts} (erasure #{done.id}, by {done.actor})")
    return 0


def cmd_purge_kb(args: argparse.Namespace) -> int:

    eraser = _eraser_and_lead(args)
    try:
        done = eraser.erase_kb_version(args.article, args.version, by=args.actor)
    except PurgeRefused as exc:
        raise CliError(str(exc)) from exc
    print(f"erased version {args.version} of {args.article} (erasure #{done.id})")
    return 0


def cmd_log(args: argparse.Namespace) -> int:

    settings = settings_from(args)
    local = local_time(settings)
    for row in Eraser(open_db(settings)).log(args.limit):
        counts = ", ".join(
            f"{n} {what}"
            for what, n in (
                ("tickets", row.tickets),
                ("exchanges", row.exchanges),
                ("receipts", row.receipts),
                ("KB versions", row.kb_versions),
                ("web chat messages", row.web_chat_entries),
            )
            if n
        )
        target = f" {row.target}" if row.target else ""
        print(
            f"#{row.id} {local(row.at)[:16]}  {row.actor}  {row.scope}{target}: "
            f"{counts or 'nothing'}"
        )
    return 0


def add_privacy_parser(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="erase personal data; the erasure log").add_subparsers(
        dest="privacy_command", required=True
    )
    s = privacy.add_parser(
        "purge", help="erase personal data by ticket, hospital, phone/ID number or age"
    )
    s.add_argument("--ticket", help="one ticket number")
    s.add_argument("--hospital", help="every ticket and question of a hospital, and its web chat")
    s.add_argument("--subject", help="a phone or ID number, however written")
    s.add_argument("--older-than", type=int, metavar="DAYS", help="finished tickets older than")
    s.add_argument("--retention", action="store_true", help="apply [privacy] retention_days now")
    s.add_argument("--as", dest="actor", required=True, help="the lead doing it (engineer id)")
    s.add_argument("--yes", action="store_true", help="erase (without it: show what would go)")
    s.set_defaults(func=cmd_purge)
    s = privacy.add_parser("purge-kb", help="erase an old version of a KB article")
    s.add_argument("article")
    s.add_argument("version", type=int)
    s.add_argument("--as", dest="actor", required=True, help="the lead doing it (engineer id)")
    s.set_defaults(func=cmd_purge_kb)
    s = privacy.add_parser("log", help="the erasure log: who erased what scope, when")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(func=cmd_log)
