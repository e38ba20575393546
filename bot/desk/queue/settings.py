"""``[desk]``: how the card outbox paces non-urgent cards and when it sends a digest (or,
for more P1/P2 cards than the chat sends within seconds, an urgent digest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt, Le


@dataclass(frozen=True)
class DeskSettings:
    #: Non-urgent (P3/P4) cards and digests per minute to one desk chat, and only while the
    #: chat's send budget (declared by its adapter; Telegram: 20 a minute per group, a burst of
    #: 3) keeps room for an urgent message after them, so a P1/P2 card, a page in the desk or an
    #: engineer's answer never queues behind them in the adapter's limiter.
    non_urgent_per_minute: Annotated[float, Gt(0)] = 10.0
    #: The desk is saturated when more non-urgent tickets than this wait for a card …
    digest_after_cards: Annotated[int, Ge(1)] = 5
    #: … or the oldest of them has waited this long (seconds): then ONE digest lists them.
    digest_after_seconds: Annotated[float, Gt(0)] = 60.0
    #: The most tickets one digest lists (the rest go into the next one).
    digest_max_tickets: Annotated[int, Ge(2), Le(40)] = 25
    #: How many of a digest's tickets get a 接单 button (the others: /claim <no>).
    digest_buttons: Annotated[int, Ge(0), Le(10)] = 5
    #: P1/P2 tickets go in the chat's next free slot, all of them in that message: a card each
    #: while the budget lets them all go within this many seconds, else ONE urgent digest
    #: 「🚨 紧急工单汇总」 listing them (with the cards' mentions), so none waits a slot more.
    urgent_digest_within_seconds: Annotated[float, Ge(0), Le(60)] = 1.0
