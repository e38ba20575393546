"""The chat buttons of the service workflows, as typed values: encoded and decoded here only.

``wf:<verb>:<id>`` — the platforms carry a short string (Telegram: 64 bytes); nothing else in
the bot takes these strings apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.workflows.times import parse_number

PREFIX = "wf"


class Verb(StrEnum):
    GRANT = "grant"  # 同意 remote access
    REFUSE = "refuse"  # 拒绝 remote access
    REVOKE = "revoke"  # 撤销 a live grant
    CONFIRM_VISIT = "visit"  # 确认 an on-site visit


@dataclass(frozen=True)
class WorkflowAction:
    verb: Verb
    target: int  # a remote grant's or a visit's id


def encode(action: WorkflowAction) -> str:
    return f"{PREFIX}:{action.verb}:{action.target}"


def decode(data: str) -> WorkflowAction | None:
    """The action of a button, or None if the button is not one of ours (or is malformed)."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != PREFIX or parts[1] not in tuple(Verb):
        return None
    target = parse_number(parts[2])
    return None if target is None else WorkflowAction(Verb(parts[1]), target)
