"""What every ``hisbot`` command shares: the one-line error, the settings it runs with, the
database it opens and how it prints stored times. Feature packages' commands
(``bot/*/cli.py``) import this, never ``bot.cli.main`` (which imports them)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.infra.config import Settings, load_settings

if TYPE_CHECKING:
    from bot.registry.store import RegistryStore

EXIT_USAGE = 2


class CliError(Exception):
    """An expected failure: printed as one line, exit code 2."""


def require_lead(registry: RegistryStore, actor: str, doing: str) -> None:
    """Refuse unless ``actor`` (``--as``) is a registered engineer with the lead role;
    ``doing`` says what only leads may do (「only leads change the duty roster」)."""
    if registry.get_engineer(actor) is None:
        raise CliError(f"no engineer {actor}")
    if "lead" not in registry.roles_of(actor):
        raise CliError(f"{actor} is not a lead: only leads {doing}")


def settings_from(args: argparse.Namespace) -> Settings:
    """config.toml (``--config`` or the working folder's, else defaults) with the address
    options applied."""
    if args.config:
        settings = load_settings(Path(args.config))
    else:
        default = Path("config.toml")
        settings = load_settings(default if default.is_file() else None)
    return with_web_address(settings, getattr(args, "listen", None), getattr(args, "port", None))


def with_web_address(settings: Settings, listen: str | None, port: int | None) -> Settings:
    """``[web]`` with the environment's and the command line's address applied (so `web demo`
    and `web link create` print the address `run` will serve on)."""
    import dataclasses

    from bot.web.settings import with_address

    try:
        web = with_address(settings.web, os.environ, listen, port)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return dataclasses.replace(settings, web=web)


def local_time(settings: Settings) -> Callable[[dt.datetime], str]:
    """Stored (UTC) times as the console's pages show them, in ``[reports] timezone``: every
    command prints the same wall clock as the pages."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.reports.timezone)

    def local(value: dt.datetime) -> str:
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    return local


def open_db(settings: Settings) -> Engine:
    """The configured database's engine (``[storage] url``)."""
    from bot.infra.db import make_engine

    return make_engine(settings.storage_url)
