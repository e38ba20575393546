"""The sends nothing will ask for again: which ``outbox_message`` rows the retention job deletes.

A row is what keeps its key from being sent twice (``bot.inbox.sending``), so it goes only
when it is terminal (sent or failed; ``unknown`` on a horizon of its own), older than the
horizon, and its cause can no longer ask for that key — per kind of key:

* ``<platform>:<inbox key>#<n>`` (an event's replies and relays, a console action's telling,
  a ``/notice`` answer): asked for only while its event is pending (a replay), so rows older
  than the oldest pending event go.
* ``sla:<ticket>:<clock>:<step>:<round>…`` (pages, desk lines, the webhook, the hospital's
  「已呼叫」): asked for only while the step is pending — a done step is never carried out
  again (its row stays until its clock stops, and a P1's opening page's row for good:
  ``bot.sla.steps``) — so rows older than the oldest pending step go.
* ``notice:<delivery>[:<resend>]``: asked for only while its delivery is queued (a resend
  is a new key), so rows older than the oldest queued delivery go.
* ``unknown-alert:…``: asked for only while a delivery owes that alert, so rows older than
  the oldest delivery owing one go.
* ``weekly:<week>:…``: asked for only during its week: rows over eight days older than the
  horizon go (eight: a local week with a clock change is 169 hours).
* ``remote-expired:<grant>:…``: asked for only within ``ANNOUNCE_WITHIN`` (a day) of the
  grant's end, which is before the send: rows that much older than the horizon go.
* ``card:<ticket>:<desk>``: once the ticket's card is recorded in that desk (``ticket_card``):
  the card outbox never posts a ticket that has one.
* ``digest:<id>``: once the digest recorded it as its message (an unrecorded one is read by
  the desk queue at every pass).

Kept whatever their age: a card whose send is unknown (it keeps the ticket from being carded
again in that desk, and a ticket can be reopened at any time); a digest never recorded;
``notice-missed:<wave>`` (a missed notice can be sent again, the same wave then found late
again, and this key decides whether the engineers are told twice); any key of a kind not
listed here. A cause's sends are written after its own row, maybe by another worker whose
clock differs a little: ``CLOCK_SKEW`` of margin.

Synchronous: call it through the database gateway's writer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, String, and_, cast, exists, func, literal, or_
from sqlmodel import Session, col, select

from bot.broadcasts.models import Delivery, DeliveryStatus
from bot.desk.queue.models import DeskDigest
from bot.inbox.models import InboxEvent, InboxState, OutboxMessage, OutboxState
from bot.infra.clock import as_utc
from bot.registry.sessions import delete_batch, write_session
from bot.sla.models import SlaStep, StepState
from bot.tickets.models import Ticket, TicketCard
from bot.workflows.expiry import ANNOUNCE_WITHIN

#: How far apart two workers' clocks may be: a cause's sends are trusted to be no older than
#: its own row less this.
CLOCK_SKEW = dt.timedelta(hours=1)
#: A week's post is asked for only in its (local) week.
WEEK_OVER = dt.timedelta(days=8)
#: Keys named by an explicit cause (every other key with ``#`` is an inbox event's n-th send).
CAUSED = ("card:", "digest:", "notice", "unknown-alert:", "weekly:", "sla:", "remote-expired:")


class FinishedSends:
    """The outbox's finished rows, deleted in batches (``bot.privacy.retention``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def purge(self, before: dt.datetime, limit: int) -> int:
        """Delete up to ``limit`` sent or failed sends claimed before ``before`` whose cause
        is finished; returns how many (the retention job calls it until it returns fewer)."""
        return self._delete((OutboxState.SENT, OutboxState.FAILED), before, limit)

    def purge_unknown(self, before: dt.datetime, limit: int) -> int:
        """``purge`` for the sends whose outcome is unknown, kept longer: the only trace of a
        message that may have reached a chat when someone asks about it."""
        return self._delete((OutboxState.UNKNOWN,), before, limit)

    def _delete(self, states: Sequence[OutboxState], before: dt.datetime, limit: int) -> int:
        before = as_utc(before)
        with write_session(self._engine) as s:
            return delete_batch(
                s,
                OutboxMessage,
                limit,
                col(OutboxMessage.state).in_(states),
                col(OutboxMessage.created_at) < before,
                _finished(s, before),
            )


def _finished(s: Session, before: dt.datetime) -> ColumnElement[bool]:
    """SQL: the row's cause will not ask for its key again (see the module's list)."""
    key, made = col(OutboxMessage.key), col(OutboxMessage.created_at)
    pending = InboxEvent.state == InboxState.PENDING
    events = _open_since(s, before, InboxEvent.received_at, pending)
    steps = _open_since(s, before, SlaStep.created_at, SlaStep.state == StepState.PENDING)
    queued = _open_since(s, before, Delivery.created_at, Delivery.status == DeliveryStatus.QUEUED)
    owing = _open_since(s, before, Delivery.created_at, col(Delivery.tell_unknown))
    return or_(
        and_(key.contains("#"), *(~key.startswith(prefix) for prefix in CAUSED), made < events),
        and_(key.startswith("sla:"), made < steps),
        and_(key.startswith("notice:"), made < queued),
        and_(key.startswith("unknown-alert:"), made < owing),
        and_(key.startswith("weekly:"), made < before - WEEK_OVER),
        and_(key.startswith("remote-expired:"), made < before - ANNOUNCE_WITHIN),
        and_(key.startswith("card:"), _card_recorded()),
        and_(key.startswith("digest:"), _digest_recorded()),
    )


def _open_since(s: Session, before: dt.datetime, made: Any, *open_: Any) -> dt.datetime:
    """``before``, or the creation (``made``) of the oldest cause still open (``open_``) less
    ``CLOCK_SKEW`` if that is earlier: no send of an open cause is older."""
    oldest = s.exec(select(func.min(made)).where(*open_)).one()
    return before if oldest is None else min(before, as_utc(oldest) - CLOCK_SKEW)


def _card_recorded() -> ColumnElement[bool]:
    """SQL: the send is the ticket's card recorded in its desk (``ticket_card``, found by its
    message; the key as ``bot.desk.queue.store.card_key`` makes it)."""
    key = (literal("card:") + col(Ticket.number) + ":" + col(TicketCard.platform) + ":") + col(
        TicketCard.chat_id
    )
    return exists().where(
        col(TicketCard.platform) == col(OutboxMessage.platform),
        col(TicketCard.chat_id) == col(OutboxMessage.chat_id),
        col(TicketCard.message_id) == col(OutboxMessage.message_id),
        col(Ticket.id) == col(TicketCard.ticket_id),
        col(OutboxMessage.key) == key,
    )


def _digest_recorded() -> ColumnElement[bool]:
    """SQL: the send is the message its digest recorded (``desk_digest``)."""
    return exists().where(
        col(DeskDigest.platform) == col(OutboxMessage.platform),
        col(DeskDigest.chat_id) == col(OutboxMessage.chat_id),
        col(DeskDigest.message_id) == col(OutboxMessage.message_id),
        col(OutboxMessage.key) == literal("digest:") + cast(col(DeskDigest.id), String),
    )
