"""``[bot.group]``: the time windows of group behaviour."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSettings:
    """How long each conversational window lasts (seconds or minutes, as named)."""

    #: Messages from one person in one chat this close together are one question: a greeting
    #: or a bare screenshot waits (typing shown) for the text it belongs to, and a screenshot
    #: right after a question joins it. 0 turns gathering off.
    gather_seconds: float = 20.0
    #: An engineer who posted in the thread, or answered this person in the chat, this recently
    #: is handling it: the bot stays out (recorded as skipped). 0 turns it off.
    engineer_quiet_minutes: float = 10.0
    #: Outage reports from one hospital within this many minutes of an open P1 join it (one
    #: incident, every reporter on it) instead of opening another P1. 0 turns it off.
    incident_minutes: float = 30.0
    #: 「恢复了吗」 (or 「怎么还没人来」 from someone with no ticket of their own) while the
    #: hospital has a P1 open that was opened this many hours ago or less: told where it
    #: stands; a restoration told meanwhile (「HIS恢复了」) is relayed under that P1's card.
    #: 0 turns both off (such a question is then decided as usual).
    outage_status_hours: float = 12.0
    #: A bare 「还是不行」 refers to the person's answered questions and tickets this recent.
    follow_up_minutes: float = 60.0
    #: How much of a new message must repeat the person's open ticket for it to count as the
    #: same question (share of its character bigrams and words found in the ticket, 0..1).
    same_question_overlap: float = 0.5
    #: 「同问」「我们这边也是」 right after someone else's question joins its ticket if the
    #: ticket was opened this recently (a reply to the ticket's messages joins it at any age).
    #: 0 turns it off.
    same_problem_minutes: float = 30.0
    #: A ticket this many people reported (its reporter and those who said 「我们这边也是」)
    #: becomes a P1 and pages on-call. 0: never.
    same_problem_p1_reporters: int = 3

    def __post_init__(self) -> None:
        for name in (
            "gather_seconds",
            "engineer_quiet_minutes",
            "incident_minutes",
            "outage_status_hours",
            "same_problem_minutes",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"[bot.group] {name} must be ≥ 0")
        if self.follow_up_minutes <= 0:
            raise ValueError("[bot.group] follow_up_minutes must be > 0")
        if not 0 < self.same_question_overlap <= 1:
            raise ValueError("[bot.group] same_question_overlap must be in (0, 1]")
        if self.same_problem_p1_reporters < 0 or self.same_problem_p1_reporters == 1:
            raise ValueError(
                "[bot.group] same_problem_p1_reporters must be 0 (never) or at least 2"
            )
