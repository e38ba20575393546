"""``[privacy]``: how long personal data is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Gt


@dataclass(frozen=True)
class PrivacySettings:
    #: Days after which the personal text of finished tickets (resolved or closed, untouched
    #: since), of the bot's exchanges and of notice receipts is erased by the daily retention
    #: job; the tickets' records (times, category, engineer) stay for the reports. 0 keeps
    #: everything until erased by hand (``hisbot privacy purge``).
    retention_days: Annotated[int, Ge(0)] = 1095
    #: Hours between two runs of the retention job (the first runs a minute after start).
    retention_interval_hours: Annotated[float, Gt(0)] = 24.0
    #: Days a handled (done or failed) inbox event is kept, by the same job: its row (the
    #: payload is emptied once handled) is what tells a platform's redelivery from a new event,
    #: and platforms redeliver within a day. 0 keeps them.
    inbox_keep_days: Annotated[int, Ge(0)] = 7
    #: Days a finished send (its ``outbox_message`` row: key, chat, state, message id, no
    #: text) and a finished SLA step (``sla_step``) are kept, by the same job. Only rows
    #: nothing will read again go (``bot.privacy.sends``, ``bot.sla.steps``); this is how long
    #: the operator can still see what was sent when someone asks: a month, well past the
    #: inbox's week. 0 keeps them.
    sends_keep_days: Annotated[int, Ge(0)] = 30
    #: Days a send whose outcome is unknown (it may have reached the chat, and was never sent
    #: again) is kept: the only trace of it when someone asks, so longer. 0 keeps them.
    unknown_sends_keep_days: Annotated[int, Ge(0)] = 365
