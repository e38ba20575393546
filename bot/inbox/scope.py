"""Which inbox event the running code is handling, so its sends get replay-proof keys.

The dispatcher sets a ``Handling`` around each event's handler; ``Messenger.send`` then keys
the n-th message that handling sends as ``<event>#<n>`` in the outbox. A replay of the event
(after a crash, or after the database came back) sends in the same order, finds those keys
and sends only what was not sent before.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Handling:
    #: The event's outbox key prefix (platform + inbox key).
    key: str
    #: The event was handled before (a crash or a database outage interrupted it): steps that
    #: are not idempotent by themselves check what an earlier attempt already did.
    replay: bool = False
    #: The task handling the event: tasks it starts (a P1 page in the background) inherit the
    #: context but are not part of the event's ordered sends.
    task: asyncio.Task[object] | None = field(default=None, repr=False)
    _sent: int = field(default=0, repr=False)

    def next_key(self) -> str:
        self._sent += 1
        return f"{self.key}#{self._sent}"


class SendDeferred(Exception):
    """A send of the event's handling failed in a way that proves it was not delivered and
    may pass (the platform's rate limit or a server error outlasted the adapter's retries).
    The dispatcher retries the event later; its keyed sends make the retry send only what is
    still missing."""


current: ContextVar[Handling | None] = ContextVar("hisbot_inbox_handling", default=None)


def handling_here() -> Handling | None:
    """The event the current task handles, if any (not one a parent task handles)."""
    handling = current.get()
    if handling is None or handling.task is not asyncio.current_task():
        return None
    return handling


def replaying() -> bool:
    """The running code handles an event a second time (see ``Handling.replay``)."""
    handling = handling_here()
    return handling is not None and handling.replay
