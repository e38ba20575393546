"""One question sent in pieces: 「在吗」, then the problem, then a screenshot.

People in a group type the way they talk. The pieces that cannot stand alone — a greeting, a
screenshot without a caption — wait for the text they belong to (the bot shows it is typing)
and are decided together with it; a screenshot right after a question joins that question
instead of being a new one. Everything is in memory and keyed by person and chat: a restart
forgets at most a held 「在吗」 (a held screenshot's reference goes into the joined question
once the text arrives, so nothing is stored before then).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.base import Attachment, IncomingMessage
from bot.conversation.phrases import is_greeting

Clock = Callable[[], dt.datetime]
#: Who is speaking where: (platform, chat, thread, user).
Speaker = tuple[str, str, str, str]

#: Beyond this many people waiting, the stale entries are swept (memory stays bounded).
_SWEEP_AT = 512


def speaker(msg: IncomingMessage) -> Speaker:
    return (msg.chat.platform, msg.chat.chat_id, msg.chat.thread_id or "", msg.sender.user_id)


def describe(attachments: tuple[Attachment, ...]) -> str:
    """Attachments as one line of the question's record (names only; content is not fetched)."""
    kinds = {"photo": "截图", "document": "文件", "file": "文件", "voice": "语音", "video": "视频"}
    return " ".join(
        f"[{kinds.get(a.kind, a.kind)}: {a.file_name or a.file_id}]" for a in attachments
    )


@dataclass(frozen=True)
class Question:
    """The pieces of one question, decided once."""

    #: Every message of the question, oldest first; the last one is answered.
    messages: tuple[IncomingMessage, ...]
    #: What the answer engine decides on: the pieces' text, greetings left out.
    text: str
    #: What is recorded (and carried by a ticket): the text and the attachments' names.
    record: str


@dataclass
class _Waiting:
    pieces: list[tuple[IncomingMessage, str]] = field(default_factory=list)
    last_at: dt.datetime | None = None
    #: When 「请直接描述问题」 was last said to this person (once per window).
    nudged_at: dt.datetime | None = None
    #: The exchange of the question just decided, and when (a screenshot after it joins it).
    decided: int | None = None
    decided_at: dt.datetime | None = None


class Pieces:
    """Gathers each person's pieces for ``window`` seconds (0: every message stands alone)."""

    def __init__(self, window: float, clock: Clock) -> None:
        self._window = dt.timedelta(seconds=window)
        self._clock = clock
        self._waiting: dict[Speaker, _Waiting] = {}

    @property
    def enabled(self) -> bool:
        return self._window > dt.timedelta(0)

    def _recent(self, at: dt.datetime | None, now: dt.datetime) -> bool:
        return at is not None and now - at <= self._window

    def _state(self, who: Speaker, now: dt.datetime) -> _Waiting:
        if len(self._waiting) >= _SWEEP_AT:
            self._waiting = {
                k: w
                for k, w in self._waiting.items()
                if self._recent(w.last_at, now) or self._recent(w.decided_at, now)
            }
        return self._waiting.setdefault(who, _Waiting())

    def follows_question(self, msg: IncomingMessage, text: str) -> int | None:
        """The exchange a caption-less attachment belongs to: the question this person had
        decided within the window (None: it is not a follow-on piece)."""
        if not self.enabled or text or not msg.attachments:
            return None
        now = self._clock()
        state = self._state(speaker(msg), now)
        return state.decided if self._recent(state.decided_at, now) else None

    def gather(self, msg: IncomingMessage, text: str) -> Question | None:
        """The question this message completes, or None while it waits for more (a greeting,
        a screenshot without a caption)."""
        now = self._clock()
        if not self.enabled:
            return Question((msg,), text, _record(text, msg.attachments))
        state = self._state(speaker(msg), now)
        if not self._recent(state.last_at, now):
            state.pieces = []
        state.pieces.append((msg, text))
        state.last_at = now
        if (not text and msg.attachments) or is_greeting(text):
            return None
        pieces, state.pieces, state.last_at = state.pieces, [], None
        said = "\n".join(t for _, t in pieces if t and not is_greeting(t))
        shown = tuple(a for m, _ in pieces for a in m.attachments)
        return Question(tuple(m for m, _ in pieces), said, _record(said, shown))

    def decided(self, msg: IncomingMessage, exchange_id: int) -> None:
        """Remember the question just decided for this person (a screenshot may follow)."""
        now = self._clock()
        state = self._state(speaker(msg), now)
        state.decided, state.decided_at = exchange_id, now

    def may_nudge(self, msg: IncomingMessage) -> bool:
        """Whether to say 「请直接描述问题」 now: once per person per window."""
        now = self._clock()
        state = self._state(speaker(msg), now)
        if self._recent(state.nudged_at, now):
            return False
        state.nudged_at = now
        return True


def _record(text: str, attachments: tuple[Attachment, ...]) -> str:
    return "\n".join(p for p in (text, describe(attachments)) if p)
