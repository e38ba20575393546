"""The broadcast layer's errors; ``str()`` of each is a sentence an engineer can act on."""

from __future__ import annotations


class BroadcastError(Exception):
    """Base of the broadcast errors."""


class NoticeInvalid(BroadcastError, ValueError):
    """A notice or a target list that cannot be sent as given: says what is wrong."""


class NoticeNotFound(BroadcastError, LookupError):
    def __init__(self, notice_id: int) -> None:
        self.notice_id = notice_id
        super().__init__(f"no notice #{notice_id}")


class NotBroadcaster(BroadcastError):
    """Refused: the actor may not do this. The attempt was written to ``notice_audit``."""


class NoticeStateError(BroadcastError):
    """The notice is not in a state that allows this (cancel a sent notice, send it twice...)."""
