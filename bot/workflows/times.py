"""What people type (chat, CLI, console): times in the reports' zone ↔ stored aware UTC,
days, and ids."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.workflows.errors import WorkflowError


def parse_local(text: str, zone: ZoneInfo) -> dt.datetime:
    """ "2026-03-02 14:30" (or "2026-03-02T14:30") in ``zone`` → aware UTC."""
    try:
        local = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise WorkflowError(f"时间 {text!r} 无法识别：请写成 2026-03-02 14:30。") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(dt.UTC)


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise WorkflowError(f"日期 {text!r} 无法识别：请写成 2026-03-02。") from None


def shown(value: dt.datetime | None, zone: ZoneInfo) -> str:
    """A stored (aware UTC) time as people read it, in ``zone``."""
    if value is None:
        return "—"
    return value.replace(tzinfo=dt.UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def parse_number(text: str) -> int | None:
    """A typed id or count: ASCII digits, at most 9 (an INTEGER column never overflows);
    None for anything else."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None
