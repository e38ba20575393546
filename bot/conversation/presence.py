"""Engineers already talking in a hospital group: the bot stays out of their conversation.

An engineer (a registry identity) who posts in a hospital chat is remembered for a few
minutes with the thread they posted in and the person they replied to. A message in that
thread, or from that person in that chat, is then theirs to answer: the bot neither answers
nor opens a ticket, and records that it stayed out (``SkipStore``) so the reports can count
it. Memory only: after a restart the bot may speak once where an engineer is talking.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], dt.datetime]

#: The most remembered engineer messages per chat (the window, not this, normally bounds it).
_PER_CHAT = 64


@dataclass(frozen=True)
class _Spoke:
    at: dt.datetime
    engineer_id: str
    thread: str
    to_user: str | None


class Presence:
    """Who of the engineers spoke where, for ``minutes`` (0: never stay out)."""

    def __init__(self, minutes: float, clock: Clock) -> None:
        self._window = dt.timedelta(minutes=minutes)
        self._clock = clock
        self._chats: dict[tuple[str, str], deque[_Spoke]] = {}

    def engineer_spoke(
        self, platform: str, chat_id: str, engineer_id: str, thread: str, to_user: str | None
    ) -> None:
        if self._window <= dt.timedelta(0):
            return
        spoken = self._chats.setdefault((platform, chat_id), deque(maxlen=_PER_CHAT))
        spoken.append(_Spoke(self._clock(), engineer_id, thread, to_user))

    def talking(self, platform: str, chat_id: str, thread: str, user_id: str) -> str | None:
        """The engineer handling this person or thread right now, if any."""
        spoken = self._chats.get((platform, chat_id))
        if not spoken:
            return None
        since = self._clock() - self._window
        for s in reversed(spoken):
            if s.at < since:
                break
            if s.thread == thread or s.to_user == user_id:
                return s.engineer_id
        return None
