"""A hospital contract's SLA target for one urgency, and the rules every way of setting one
shares (``hisbot sla target`` and the console's SLA 目标 page), so both refuse the same input.

A refusal carries two sentences: the CLI prints the English one, the console the Chinese one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.tickets.models import URGENCIES

#: The longest target accepted: a year of minutes. Longer is a typing mistake, and a
#: working-time clock that long could not be placed on the calendar (``WorkTime.add`` gives
#: up after ten years of days), which would fail the opening of every such ticket.
MAX_TARGET_MINUTES = 365 * 24 * 60


@dataclass(frozen=True)
class Target:
    accept_minutes: int
    resolve_minutes: int
    working_time: bool
    #: The hospital contract's own (``sla_target``); False: the default, ``[reports.targets]``
    #: with ``[sla] working_time``.
    own: bool = False


class TargetError(ValueError):
    """A target that cannot be stored: ``str()`` is the CLI's sentence, ``chinese`` the
    console's."""

    def __init__(self, english: str, chinese: str) -> None:
        super().__init__(english)
        self.chinese = chinese


def check_urgency(urgency: str) -> None:
    if urgency not in URGENCIES:
        raise TargetError(
            f"unknown urgency {urgency!r} (P1–P4)", f"没有这个紧急程度：{urgency}（应为 P1–P4）。"
        )


def check_target(urgency: str, accept: int, resolve: int) -> None:
    """Both targets 1 minute to a year, and resolving never due before accepting: both
    clocks start when the ticket opens, so a shorter resolve target is two numbers swapped."""
    check_urgency(urgency)
    for english, chinese, minutes in (
        ("accept", "受理时限", accept),
        ("resolve", "解决时限", resolve),
    ):
        if not 0 < minutes <= MAX_TARGET_MINUTES:
            raise TargetError(
                f"targets must be positive numbers of minutes, at most {MAX_TARGET_MINUTES} "
                f"(a year): {english} {minutes}",
                f"{chinese}应为 1–{MAX_TARGET_MINUTES} 之间的整数分钟（最长一年），"
                f"不能是 {minutes}。",
            )
    if resolve < accept:
        raise TargetError(
            f"the resolve target ({resolve} min) cannot be shorter than the accept target "
            f"({accept} min)",
            f"解决时限（{resolve} 分钟）不能短于受理时限（{accept} 分钟）：两个时限都从工单创建时开始计。",
        )
