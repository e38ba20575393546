"""The chat buttons of the service workflows, as a typed action (``wf:<verb>:<id>``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.routing.actions import action


class Verb(StrEnum):
    GRANT = "grant"  # 同意 remote access
    REFUSE = "refuse"  # 拒绝 remote access
    REVOKE = "revoke"  # 撤销 a live grant
    CONFIRM_VISIT = "visit"  # 确认 an on-site visit


@action("wf")
@dataclass(frozen=True)
class WorkflowAction:
    verb: Verb
    target: int  # a remote grant's or a visit's id
