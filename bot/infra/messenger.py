"""Sending through whichever adapter owns a chat's platform, through the outbox.

The core addresses chats as ``ChatRef``s; this routes each reply to the adapter of its platform,
so a ticket raised on Telegram can be carded on Slack and answered back without the core
knowing either. A failed delivery is logged (never with the message text: it may carry patient
data) and reported to the caller as ``None``.

Durable sends are keyed: the n-th message an inbox event's handling sends (``bot.inbox.scope``)
or an explicit key (a desk card). The key is recorded in the outbox (``sending``) before the
platform call — where the adapter says when its rate limiter lets the request go
(``ReleasesSends``), ``queued`` before and ``sending`` only from that moment, so a message still
waiting there at a crash is known not sent and the replay sends it — and the platform's
message id after it, so a replay of the event never sends
the same message twice, and a send whose outcome is unknown (timeout after the request went
out, crash mid-call) is recorded ``unknown`` and never re-sent blindly. There is no retry
loop here: the adapter retries what proves undelivered; when that is not enough (a long 429,
a platform outage) an event's send raises ``SendDeferred`` and the inbox retries the whole
event later (its sent messages are skipped by key); a card is retried by the card outbox.
A permanent failure (bot removed, chat gone) is recorded ``failed``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence

from adapters.base import (
    Adapter,
    ButtonPress,
    ChatRef,
    DeclaresSendBudget,
    DeliveryError,
    MessageRef,
    ReleasesSends,
    Reply,
    SendBudget,
    ShowsTyping,
)
from bot.inbox.models import OutboxMessage, OutboxState
from bot.inbox.scope import SendDeferred, handling_here
from bot.inbox.store import OutboxStore
from bot.infra.gateway import Database
from bot.privacy.gate import RedactionGate

log = logging.getLogger(__name__)


class Messenger:
    """``outbox``: where keyed sends are recorded (None: nothing is recorded, e.g. tools and
    tests without a database). Every text passes the redaction gate on its way out."""

    def __init__(
        self,
        db: Database | None = None,
        outbox: OutboxStore | None = None,
        gate: RedactionGate | None = None,
    ) -> None:
        self._adapters: dict[str, Adapter] = {}
        self._db = db
        self._outbox = outbox
        self._gate = gate or RedactionGate()
        #: Told of every message about to reach an adapter (send or edit): the desk's pace
        #: models each chat's rate limiter from them (``bot.desk.queue``).
        self._observers: list[Callable[[ChatRef], None]] = []
        #: Chats whose messages go first where a platform's overall budget is short.
        self._priority: set[tuple[str, str]] = set()

    def prioritise(self, chats: Iterable[ChatRef]) -> None:
        """Mark every message to these chats (the engineers' desks) ``Reply.priority``."""
        self._priority |= {(c.platform, c.chat_id) for c in chats}

    def send_budget(self, chat: ChatRef) -> SendBudget | None:
        """What the chat's platform lets the bot post there (None: nothing declared)."""
        adapter = self._adapters.get(chat.platform)
        if isinstance(adapter, DeclaresSendBudget):
            return adapter.send_budget(chat)
        return None

    def _outgoing(self, reply: Reply) -> Reply:
        """The text through the redaction gate; a desk's message marked priority."""
        if not reply.priority and (reply.chat.platform, reply.chat.chat_id) in self._priority:
            reply = dataclasses.replace(reply, priority=True)
        return self._gate.outgoing(reply)

    def register(self, adapter: Adapter) -> None:
        self._adapters[adapter.platform] = adapter

    def observe(self, observer: Callable[[ChatRef], None]) -> None:
        """Call ``observer`` with the chat of every send and edit, just before the adapter."""
        self._observers.append(observer)

    def _entering(self, chat: ChatRef) -> None:
        for observer in self._observers:
            observer(chat)

    @property
    def platforms(self) -> frozenset[str]:
        """The platforms a message can be sent on (paging skips an engineer's others)."""
        return frozenset(self._adapters)

    def _adapter(self, platform: str) -> Adapter | None:
        adapter = self._adapters.get(platform)
        if adapter is None:
            log.warning("no adapter for platform %r: message dropped", platform)
        return adapter

    async def send(
        self,
        reply: Reply,
        *,
        key: str | None = None,
        retry_later: bool = False,
        carries: Sequence[str] = (),
    ) -> MessageRef | None:
        """Send once. ``key`` (default: the next key of the inbox event being handled, if
        any) makes the send durable; ``retry_later``: a failure that did not deliver releases
        the key, so the caller (the card outbox) tries again later. ``carries``: keys the
        caller claimed (``claim``) for what this message carries (a batch of pages): they
        become ``sending`` with ``key``, when the adapter lets the message go."""
        adapter = self._adapter(reply.chat.platform)
        if adapter is None:
            return None
        handling = handling_here()
        if key is None and handling is not None:
            key = handling.next_key()
        if key is None or self._db is None or self._outbox is None:
            return await self._send(adapter, reply)
        return await self._send_keyed(adapter, reply, key, retry_later, tuple(carries))

    async def claim(self, keys: Sequence[str], chat: ChatRef) -> dict[str, OutboxMessage | None]:
        """Claim outbox keys for a send to ``chat`` (None: this caller may send it; else the
        earlier row). ``queued`` where the chat's adapter says when its limiter lets a send go
        (``ReleasesSends``): ``sending`` only then (``send(..., carries=keys)``), so a send
        still waiting at a crash is known not sent and the replay sends it."""
        assert self._db is not None and self._outbox is not None, "claims need the outbox"
        outbox = self._outbox
        released = isinstance(self._adapters.get(chat.platform), ReleasesSends)
        return await self._db.write(
            lambda: outbox.claim_each(keys, chat.platform, chat.chat_id, queued=released)
        )

    async def send_now(self, reply: Reply) -> MessageRef | None:
        """Send without recording anything (courtesy notices while the database is away)."""
        adapter = self._adapter(reply.chat.platform)
        return None if adapter is None else await self._send(adapter, reply)

    async def _send(self, adapter: Adapter, reply: Reply) -> MessageRef | None:
        self._entering(reply.chat)
        try:
            return await adapter.send(self._outgoing(reply))
        except DeliveryError as exc:
            log.warning("delivery to %s:%s failed: %s", *_where(reply), exc.reason)
            return None

    async def _send_keyed(
        self, adapter: Adapter, reply: Reply, key: str, retry_later: bool, carries: tuple[str, ...]
    ) -> MessageRef | None:
        assert self._db is not None and self._outbox is not None
        outbox, chat = self._outbox, reply.chat
        prior = (await self.claim([key], chat))[key]
        if prior is not None:  # sent (or tried) before: a replay
            if prior.state == OutboxState.SENT and prior.message_id:
                return MessageRef(prior.platform, prior.chat_id, prior.message_id)
            return None
        self._entering(chat)
        outgoing = self._outgoing(reply)

        async def sending() -> None:
            """The limiter lets it go: from here on the outcome may be unknown."""
            assert self._db is not None and outbox is not None
            if not await self._db.write(lambda: outbox.mark_sending([key, *carries])):
                raise _TakenOver(key)

        try:
            if isinstance(adapter, ReleasesSends):
                sent = await adapter.send_released(outgoing, sending)
            else:
                sent = await adapter.send(outgoing)
        except _TakenOver:
            log.warning("send %s was taken over by another worker: not sent here", key)
            return None
        except DeliveryError as exc:
            log.warning("delivery to %s:%s failed: %s", *_where(reply), exc.reason)
            reason = exc.reason
            if exc.outcome_unknown:
                state = OutboxState.UNKNOWN
            elif retry_later or not exc.permanent:
                await self._db.write(lambda: outbox.release(key))
                if retry_later:
                    return None
                raise SendDeferred(reason) from exc  # the inbox retries the event later
            else:
                state = OutboxState.FAILED
            await self._db.write(lambda: outbox.record(key, state, None, reason))
            return None
        await self._db.write(lambda: outbox.record(key, OutboxState.SENT, sent.message_id))
        return sent

    async def edit(self, message: MessageRef, reply: Reply) -> bool:
        adapter = self._adapter(message.platform)
        if adapter is None:
            return False
        self._entering(ChatRef(message.platform, message.chat_id))
        try:
            await adapter.edit(message, self._outgoing(reply))
            return True
        except DeliveryError as exc:
            log.warning(
                "edit of %s:%s failed: %s", message.platform, message.message_id, exc.reason
            )
            return False

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        adapter = self._adapter(press.message.platform)
        if adapter is None:
            return
        try:
            await adapter.acknowledge(press, self._gate.mask(text))
        except DeliveryError as exc:
            log.info("button acknowledgement failed: %s", exc.reason)

    async def typing(self, chat: ChatRef) -> None:
        """Show "typing…" in a chat where the platform can (best effort, nothing if not)."""
        adapter = self._adapters.get(chat.platform)
        if isinstance(adapter, ShowsTyping):
            await adapter.typing(chat)


class _TakenOver(RuntimeError):
    """A queued send's row is no longer this worker's (it was thought dead and its row taken
    over) when the adapter would let it go: it is not sent from here."""


def _where(reply: Reply) -> tuple[str, str]:
    return reply.chat.platform, reply.chat.chat_id
