"""The enforcement of ``bot.infra.gateway``: no SQL statement may run on a thread running an event loop.

A listener on every engine's ``before_cursor_execute`` looks at the thread: when it runs a loop,
the statement is blocking I/O on the loop unless test code itself issued it directly (a test
reading a store to check a result blocks only itself). So a statement on a loop thread fails the
test when, in the callback that issued it (the stack up to the loop's ``Handle._run``), a
coroutine of the bot (``bot/``, ``adapters/``) awaits it, or no test code is there at all (a
loop callback of the bot or a library such as a scheduler). The offending stack is reported.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine, event

REPO = Path(__file__).resolve().parent.parent
_TESTS = str(REPO / "tests") + "/"
_BOT = (str(REPO / "bot") + "/", str(REPO / "adapters") + "/")
_LOOP_BOUNDARY = str(Path(asyncio.__file__).parent / "events.py")

violations: list[str] = []
#: Optional file collecting every offending site (``HISBOT_SQL_GUARD_LOG``): a survey aid.
_LOG = os.environ.get("HISBOT_SQL_GUARD_LOG", "")


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _offence(frame: FrameType | None) -> bool:
    """True when the statement was issued by the bot's own code on the loop."""
    tests_seen = False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == _LOOP_BOUNDARY:
            break  # the callback's start: frames below belong to the loop or the runner
        if filename.startswith(_BOT) and frame.f_code.co_flags & inspect.CO_COROUTINE:
            return True
        if filename.startswith(_TESTS) and filename != __file__:
            tests_seen = True
        frame = frame.f_back
    return not tests_seen


def _check(*_: Any) -> None:
    if not _loop_running_here():
        return
    frame = sys._getframe(1)
    if _offence(frame):
        stack = [
            f"{f.filename}:{f.lineno} {f.name}"
            for f in traceback.extract_stack(frame)
            if f.filename.startswith(str(REPO)) and "/.venv/" not in f.filename
        ]
        violations.append("\n    ".join(stack[-8:]))
        if _LOG:
            with open(_LOG, "a", encoding="utf-8") as out:
                out.write(stack[-1] + "\n")


def install() -> None:
    event.listen(Engine, "before_cursor_execute", _check)
