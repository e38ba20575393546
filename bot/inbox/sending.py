"""The one durable send path: claim → send → record, one ``outbox_message`` row per key.

Every durable message — an inbox event's replies, ticket notices, desk cards, relays, SLA
pages (through ``bot.infra.messenger.Messenger``), broadcast notices and the broadcaster's
alerts and answers to the engineers (``bot.broadcasts.service``, ``.desk_messages``) — is sent here, so one state machine decides what a
crash, a timeout or a refusal means:

* the key is claimed before the platform call: ``queued`` while the adapter's rate limiter
  holds the send (``adapters.base.ReleasesSends``), ``sending`` from the moment it lets the
  request go (at once for adapters that cannot say). A send still queued at a crash is known
  not sent: the row is forgotten (``OutboxStore.interrupted``) or taken over, and sent once
  by whoever retries its cause;
* after the call the outcome is recorded: ``sent`` with the platform's message id, ``failed``
  with the reason, or ``unknown`` when the request went out and no answer came (never
  re-sent). A failure proven not to have delivered releases the key when the caller will try
  again (``retry``);
* a key seen before is not sent again: its recorded outcome is returned (``earlier``).

The caller learns why a send did not happen (``SendResult``): the inbox turns a retry into
``SendDeferred``, the broadcaster into ``next_attempt_at``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from adapters.base import ChatRef, DeliveryError, MessageRef, ReleasesSends, Reply
from bot.inbox.models import OutboxMessage, OutboxState
from bot.inbox.store import OutboxStore
from bot.infra.gateway import Database

log = logging.getLogger(__name__)


class SendsReplies(Protocol):
    """What the send path needs of an adapter (``adapters.base.Adapter`` is one); one that
    also ``ReleasesSends`` keeps its sends ``queued`` while its limiter holds them."""

    async def send(self, reply: Reply) -> MessageRef: ...


class Outcome(StrEnum):
    SENT = "sent"  # now, or before (``earlier``): ``ref`` says where
    FAILED = "failed"  # the platform refused it (recorded with the reason): not sent
    UNKNOWN = "unknown"  # the request went out, no answer came: recorded, never re-sent
    RETRY = "retry"  # proven not delivered, the key released: the caller tries again later
    ELSEWHERE = "elsewhere"  # another worker's send under way (or taken over): not sent here


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    ref: MessageRef | None = None
    reason: str = ""
    #: FAILED: the platform said retrying will not help (bot removed, chat gone); a failure
    #: that is not permanent ends as FAILED only when the caller stops retrying.
    permanent: bool = False
    #: The outcome was recorded before this call (a replay, or another worker's send).
    earlier: bool = False


def _transient(exc: DeliveryError) -> bool:
    return not exc.permanent


class KeyedSender:
    """Sends through ``outbox_message`` on the database gateway ``db``."""

    def __init__(self, db: Database, outbox: OutboxStore) -> None:
        self._db = db
        self._outbox = outbox

    async def claim(
        self, keys: Sequence[str], chat: ChatRef, *, queued: bool
    ) -> dict[str, OutboxMessage | None]:
        """Claim several keys in one transaction (None: this caller may send it; else the
        earlier row); ``queued`` where the adapter says when its limiter lets a send go."""
        outbox = self._outbox
        return await self._db.write(
            lambda: outbox.claim_each(keys, chat.platform, chat.chat_id, queued=queued)
        )

    async def send(
        self,
        adapter: SendsReplies,
        reply: Reply,
        key: str,
        *,
        retry: Callable[[DeliveryError], bool] = _transient,
        prepare: Callable[[Reply], Reply] = lambda reply: reply,
        carries: Sequence[str] = (),
    ) -> SendResult:
        """Send ``reply`` once under ``key``. ``retry``: whether a failure proven not to have
        delivered is tried again by the caller (the key is released) rather than recorded
        ``failed``; ``prepare``: the reply as it goes out, called only once the claim is
        this caller's (if it raises, the key is released); ``carries``: keys the caller
        claimed (``claim``) for what this message carries (a batch of pages), made
        ``sending`` with ``key``. Exceptions other than ``DeliveryError`` propagate: one
        raised after the request may have left records the send ``unknown`` first; a crash
        (cancellation) leaves the row as it stands, for ``OutboxStore.interrupted``."""
        outbox, db, chat = self._outbox, self._db, reply.chat
        releases = isinstance(adapter, ReleasesSends)
        prior = await db.write(
            lambda: outbox.claim(key, chat.platform, chat.chat_id, queued=releases)
        )
        if prior is not None:
            return _recorded(prior)
        try:
            outgoing = prepare(reply)
        except Exception:  # nothing left: forgotten, or the claim would read as under way
            await db.write(lambda: outbox.release(key))
            raise
        left = not releases

        async def sending() -> None:
            """The limiter lets it go: from here on the outcome may be unknown."""
            nonlocal left
            if not await db.write(lambda: outbox.mark_sending([key, *carries])):
                raise _TakenOver(key)
            left = True

        try:
            if isinstance(adapter, ReleasesSends):
                sent = await adapter.send_released(outgoing, sending)
            else:
                sent = await adapter.send(outgoing)
        except _TakenOver:
            log.warning("send %s was taken over by another worker: not sent here", key)
            return SendResult(Outcome.ELSEWHERE)
        except DeliveryError as exc:
            return await self._failed(key, chat.platform, chat.chat_id, exc, retry(exc))
        except Exception as exc:
            if left:  # the request may have reached the platform: never sent again
                why = f"{type(exc).__name__}: {exc}"
                await db.write(lambda: outbox.record(key, OutboxState.UNKNOWN, None, why))
            raise
        await db.write(lambda: outbox.record(key, OutboxState.SENT, sent.message_id))
        return SendResult(Outcome.SENT, sent)

    async def _failed(
        self, key: str, platform: str, chat_id: str, exc: DeliveryError, again: bool
    ) -> SendResult:
        log.warning("delivery to %s:%s failed: %s", platform, chat_id, exc.reason)
        outbox, reason = self._outbox, exc.reason
        if exc.outcome_unknown:
            await self._db.write(lambda: outbox.record(key, OutboxState.UNKNOWN, None, reason))
            return SendResult(Outcome.UNKNOWN, reason=reason)
        if again:
            await self._db.write(lambda: outbox.release(key))
            return SendResult(Outcome.RETRY, reason=reason, permanent=exc.permanent)
        await self._db.write(lambda: outbox.record(key, OutboxState.FAILED, None, reason))
        return SendResult(Outcome.FAILED, reason=reason, permanent=exc.permanent)


def _recorded(row: OutboxMessage) -> SendResult:
    """What an earlier claim of the key came to."""
    if row.state == OutboxState.SENT:
        ref = MessageRef(row.platform, row.chat_id, row.message_id) if row.message_id else None
        return SendResult(Outcome.SENT, ref, earlier=True)
    if row.state == OutboxState.FAILED:
        return SendResult(Outcome.FAILED, reason=row.error, permanent=True, earlier=True)
    if row.state == OutboxState.UNKNOWN:
        return SendResult(Outcome.UNKNOWN, reason=row.error, earlier=True)
    return SendResult(Outcome.ELSEWHERE, earlier=True)  # queued or sending elsewhere


class _TakenOver(RuntimeError):
    """A queued send's row is no longer this worker's (it was thought dead and its row taken
    over) when the adapter would let it go: it is not sent from here."""
