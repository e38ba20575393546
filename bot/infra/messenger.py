"""Sending through whichever adapter owns a chat's platform, through the outbox.

The core addresses chats as ``ChatRef``s; this routes each reply to the adapter of its platform,
so a ticket raised on Telegram can be carded on Slack and answered back without the core
knowing either. A failed delivery is logged (never with the message text: it may carry patient
data) and reported to the caller as ``None``.

Durable sends are keyed: the n-th message an inbox event's handling sends (``bot.inbox.scope``)
or an explicit key (a desk card), and go through the one durable send path
(``bot.inbox.sending``: claimed in the outbox before the platform call, ``queued`` while the
adapter's limiter holds it, recorded after it), so a replay of the event never sends the same
message twice and a send whose outcome is unknown is never re-sent blindly. There is no retry
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
from bot.inbox.models import OutboxMessage
from bot.inbox.scope import SendDeferred, handling_here
from bot.inbox.sending import KeyedSender, Outcome
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
        self._sender = KeyedSender(db, outbox) if db is not None and outbox is not None else None
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
        if key is None or self._sender is None:
            return await self._send(adapter, reply)
        return await self._send_keyed(adapter, reply, key, retry_later, tuple(carries))

    async def claim(self, keys: Sequence[str], chat: ChatRef) -> dict[str, OutboxMessage | None]:
        """Claim outbox keys for a send to ``chat`` (None: this caller may send it; else the
        earlier row). ``queued`` where the chat's adapter says when its limiter lets a send go
        (``ReleasesSends``): ``sending`` only then (``send(..., carries=keys)``), so a send
        still waiting at a crash is known not sent and the replay sends it."""
        assert self._sender is not None, "claims need the outbox"
        released = isinstance(self._adapters.get(chat.platform), ReleasesSends)
        return await self._sender.claim(keys, chat, queued=released)

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
        assert self._sender is not None
        result = await self._sender.send(
            adapter,
            reply,
            key,
            retry=lambda exc: retry_later or not exc.permanent,
            prepare=self._prepared,
            carries=carries,
        )
        if result.outcome is Outcome.RETRY and not retry_later:
            raise SendDeferred(result.reason)  # the inbox retries the event later
        return result.ref if result.outcome is Outcome.SENT else None

    def _prepared(self, reply: Reply) -> Reply:
        """The reply as it reaches the adapter (observers told first)."""
        self._entering(reply.chat)
        return self._outgoing(reply)

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


def _where(reply: Reply) -> tuple[str, str]:
    return reply.chat.platform, reply.chat.chat_id
