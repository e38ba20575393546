"""The platform-neutral message model and the contract every platform edge speaks.

Adapters translate platform payloads into these objects and ``Reply`` objects back into API
calls — nothing else. They never import the ticket store, the KB index or ``bot/``: the
composition root hands each adapter a ``CoreHandlers`` to call, and the core sends through the
``Adapter`` protocol without knowing which platform is behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

# re-exported: the core imports nothing of adapters/ but this module
from adapters.budget import BudgetMeter as BudgetMeter
from adapters.budget import SendBudget as SendBudget


@dataclass(frozen=True)
class ChatRef:
    """Where a message lives: platform, chat and (for threaded platforms) thread."""

    platform: str
    chat_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class MessageRef:
    """One message the platform can address later (to reply to, edit, or look up)."""

    platform: str
    chat_id: str
    message_id: str


@dataclass(frozen=True)
class Sender:
    user_id: str
    display_name: str
    is_bot: bool = False


@dataclass(frozen=True)
class Attachment:
    """Metadata of a photo/file: the reference is recorded, the content is not fetched."""

    kind: str  # "photo", "document", "voice", "video", "file"
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class IncomingMessage:
    """A chat message as the core sees it, whatever platform it came from."""

    chat: ChatRef
    message_id: str
    sender: Sender
    text: str
    sent_at: dt.datetime
    chat_title: str = ""
    #: The message this one replies to (Telegram reply; in Slack the thread's root).
    reply_to_message_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    forwarded: bool = False
    edited: bool = False
    #: The bot was @-mentioned (or addressed in a private chat).
    mentions_bot: bool = False
    #: Someone other than the bot was @-mentioned: the message is addressed to a person.
    mentions_others: bool = False
    #: A reply to another person's message (not the bot's, not the sender's own): people
    #: talking to each other, which the bot stays out of.
    reply_to_person: bool = False
    #: Who wrote the message replied to, when the platform says (an engineer answering a
    #: person: the bot leaves that person to the engineer for a while).
    reply_to_user_id: str | None = None
    #: Sent by this bot itself (the pipeline drops these first).
    from_self: bool = False

    @property
    def ref(self) -> MessageRef:
        return MessageRef(self.chat.platform, self.chat.chat_id, self.message_id)


@dataclass(frozen=True)
class ButtonPress:
    """A user pressed one of our buttons. ``data`` is what the core put in ``Button.action``."""

    message: MessageRef
    sender: Sender
    action: str
    #: Platform handle to acknowledge the press (Telegram callback query id, Slack trigger).
    press_id: str = ""
    thread_id: str | None = None


class ChatEventKind(StrEnum):
    MIGRATED = "migrated"  # the chat got a new id (Telegram group → supergroup)
    BOT_REMOVED = "bot_removed"
    BOT_ADDED = "bot_added"
    RENAMED = "renamed"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class ChatEvent:
    kind: ChatEventKind
    chat: ChatRef
    new_chat_id: str | None = None
    title: str | None = None
    #: The platform's id of this occurrence (Slack's ``event_id``), when it has one: a
    #: redelivery carries the same id, while a second removal after a re-add is another event.
    event_id: str = ""


@dataclass(frozen=True)
class Button:
    label: str
    #: Opaque to the adapter; at most 64 bytes (Telegram's callback_data limit).
    action: str

    def __post_init__(self) -> None:
        if len(self.action.encode("utf-8")) > 64:
            raise ValueError(f"button action longer than 64 bytes: {self.action!r}")


@dataclass(frozen=True)
class Citation:
    article_id: str
    title: str
    url: str


@dataclass(frozen=True)
class Reply:
    """Something the core wants said. ``reply_to`` makes it a reply in the message's thread."""

    chat: ChatRef
    text: str
    reply_to: str | None = None
    citation: Citation | None = None
    #: Rows of buttons.
    buttons: tuple[tuple[Button, ...], ...] = ()
    #: Platform user ids to mention (e.g. the hospital's dedicated engineer).
    mention_user_ids: tuple[str, ...] = ()
    #: Engineers are waiting on it (a desk message, a page): where the platform's overall
    #: budget is short, it goes before other chats' messages (hospital replies).
    priority: bool = False


class InboxUnavailable(RuntimeError):
    """The core could not store an arriving event (database down, disk full).

    The adapter must then NOT confirm the event to the platform (no next getUpdates offset, no
    HTTP 200, no Socket Mode ack), so the platform delivers it again; nothing is dropped."""


@dataclass
class CoreHandlers:
    """What an adapter calls when something arrives.

    Each returns as soon as the event is durably stored in the core's inbox (handling follows
    from there, in order per chat) and raises ``InboxUnavailable`` when it could not be
    stored. Adapters confirm an event to the platform only after its handler returned.

    ``send_elsewhere`` (several workers only): hands a reply to the worker holding the
    platform's connection and returns its ref, or raises ``DeliveryError`` as ``send`` does —
    what an adapter whose sends ride its single-consumer connection (``SendsOverItsConnection``)
    calls on a worker without that connection."""

    on_message: Callable[[IncomingMessage], Awaitable[None]]
    on_button: Callable[[ButtonPress], Awaitable[None]]
    on_chat_event: Callable[[ChatEvent], Awaitable[None]]
    send_elsewhere: Callable[[Reply], Awaitable[MessageRef]] | None = None


class DeliveryError(RuntimeError):
    """A message was not delivered. ``permanent``: retrying will not help (bot removed, chat
    gone). ``outcome_unknown``: the request went out and no answer came back (read timeout,
    connection dropped mid-answer): the platform may well have delivered it, so the caller
    must not send it again blindly."""

    def __init__(
        self, chat: ChatRef, reason: str, permanent: bool = True, *, outcome_unknown: bool = False
    ) -> None:
        super().__init__(f"{chat.platform}:{chat.chat_id}: {reason}")
        self.chat = chat
        self.reason = reason
        self.permanent = permanent
        self.outcome_unknown = outcome_unknown


class NotConnectedHere(DeliveryError):
    """Nothing was sent: this worker does not hold the platform connection the send must go
    over (WeCom sends only over the bot's one long connection, which the holder of the
    ``receive:wecom`` lease keeps). Not permanent, outcome known: the holder can send it."""

    def __init__(self, chat: ChatRef, reason: str) -> None:
        super().__init__(chat, reason, permanent=False)


class Adapter(Protocol):
    """A platform edge: transport only. ``send``/``edit`` return once the platform accepted
    the message, or raise ``DeliveryError``. The adapter waits out rate limits and retries only
    failures that prove the request was not delivered (connection refused, 429, 5xx); a
    timeout after the request went out is ``DeliveryError(outcome_unknown=True)``, never
    re-sent."""

    platform: str

    async def start(self, handlers: CoreHandlers) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, reply: Reply) -> MessageRef: ...

    async def edit(self, message: MessageRef, reply: Reply) -> None: ...

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """Answer a button press (stop the client's spinner; optional toast text)."""
        ...


@runtime_checkable
class LeasedReceiver(Protocol):
    """An adapter whose way in allows one live consumer per bot account (Telegram's long
    polling: a second poller gets 409 conflicts; a DingTalk stream; WeCom's one connection
    per bot). Built not to receive on ``start`` (several workers share the bot), it sends
    from ``start`` on but receives only between ``start_receiving`` and ``stop_receiving``,
    which the composition root calls while this worker holds the platform's lease.
    ``waits_for_lease`` is False when it receives by itself (one process, or a webhook that
    every worker serves)."""

    platform: str

    @property
    def waits_for_lease(self) -> bool: ...

    async def start_receiving(self) -> None: ...

    async def stop_receiving(self) -> None: ...


@runtime_checkable
class SendsOverItsConnection(Protocol):
    """A ``LeasedReceiver`` whose sends go over the connection it receives on (WeCom: replies
    by req_id and proactive sends alike ride the bot's one long connection). On a worker
    without the connection its ``send`` goes through ``CoreHandlers.send_elsewhere``;
    ``send_here`` is what the connection's holder runs for such a relayed reply."""

    platform: str

    async def send_here(self, reply: Reply) -> MessageRef:
        """Send over this worker's connection; ``NotConnectedHere`` when it is not here."""
        ...


#: What the core awaits when a send of its is let go to the network (``ReleasesSends``).
OnRelease = Callable[[], Awaitable[None]]


@runtime_checkable
class ReleasesSends(Protocol):
    """Optional part of the contract: a send that tells the core when it leaves for the network.

    ``send_released`` is ``send`` that awaits ``on_release`` exactly once, after the adapter's
    own rate limits let the message's first request go and right before it is written to the
    network (a retry of that request after a 429 or a refused connection does not call it
    again). If ``on_release`` raises, nothing is sent and its exception propagates unchanged.
    Why: the core's keyed outbox marks a send ``sending`` (maybe delivered, never re-sent after a
    crash) only from that moment, so a message still waiting in a limiter when the process dies
    is known not sent and is sent by the replay. Adapters without it: the core marks the send
    before ``send``, and a crash while it waits in a limiter leaves it ``unknown``."""

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef: ...


@runtime_checkable
class ShowsTyping(Protocol):
    """Optional part of the contract: a platform with a "typing…" indicator shows it in a chat
    (the bot is waiting for the rest of a question, or working on it). Platforms without one
    simply do not implement it; it is best effort and never raises."""

    async def typing(self, chat: ChatRef) -> None: ...


@runtime_checkable
class DeclaresSendBudget(Protocol):
    """Optional part of the contract: how fast the platform lets the bot post into a chat
    (sends and edits), from the adapter's own settings. The core's desk queue paces a desk
    chat by it and decides what goes into its next message (urgent tickets first, several at
    once in one urgent digest); a platform without it gets no modelled budget."""

    def send_budget(self, chat: ChatRef) -> SendBudget | None: ...
