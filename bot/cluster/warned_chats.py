"""Tell an unregistered chat once that it is not registered — once for every worker.

The warning used to be remembered in memory: with N workers each told the group once, and
every restart once more. The chat's id (never its messages) is now a row, and the worker whose
insert wins says it."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot.cluster.insert_once import insert_once
from bot.cluster.models import WarnedChat
from bot.infra.clock import Clock, as_utc


class WarnedChats:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def first_warning(self, platform: str, chat_id: str) -> bool:
        """True for the first call for this chat (the caller warns), False afterwards."""
        row = {"platform": platform, "chat_id": chat_id, "warned_at": as_utc(self._clock())}
        with Session(self._engine) as s:
            first = insert_once(s, WarnedChat, row)
            s.commit()
        return first
