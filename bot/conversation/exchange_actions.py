"""The buttons under the bot's answers, as typed actions (wire forms unchanged: ``ok:<id>``…).

Each names the exchange (the recorded question) by its id; a clarify choice is its position
among the exchange's stored articles, never the article id, which may be 64 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bot.routing.actions import MaxBytes, action


@action("ok")
@dataclass(frozen=True)
class Solved:
    """已解决 under an answer."""

    exchange: int


@action("no")
@dataclass(frozen=True)
class Unsolved:
    """没解决 / 不是 / 都不是: the question goes to an engineer."""

    exchange: int


@action("nq")
@dataclass(frozen=True)
class Declined:
    """不是 / 都不是 under a question the bot asked (是这个问题吗？, the choices): the question
    goes to an engineer, and the asked message (not an answer) is closed."""

    exchange: int


@action("esc")
@dataclass(frozen=True)
class Escalate:
    """转工程师, offered instead of opening a ticket at once (``escalation = "offer"``)."""

    exchange: int


@action("yes")
@dataclass(frozen=True)
class Confirmed:
    """是 under 「是这个问题吗？」: send the article's steps."""

    exchange: int


@action("pick")
@dataclass(frozen=True)
class Pick:
    """One choice of a clarify list: its position among the exchange's articles."""

    exchange: int
    choice: Annotated[int, MaxBytes(2)]


ExchangeAction = Solved | Unsolved | Declined | Escalate | Confirmed | Pick
EXCHANGE_ACTIONS: tuple[type[ExchangeAction], ...] = (
    Solved,
    Unsolved,
    Declined,
    Escalate,
    Confirmed,
    Pick,
)
