"""The Telegram edge: python-telegram-bot 22 underneath, ``adapters.base.Adapter`` on top.

Inbound (``inbound.Inbound``), updates arrive by long polling (our own ``getUpdates`` loop through PTB's ``Bot``) or
on our webhook endpoint, and each goes to the core: callback queries → ``on_button``; bot
membership, migration and rename service messages → ``on_chat_event``; user messages (new or
edited: text, captions, photos, files, voice; commands included, as text) → ``on_message``.
Everything else is ignored. The core's handlers return once the update is stored, and only
then is it confirmed (a batch is stored chat by chat in order, the chats side by side):
polling asks for the next offset only past stored updates (PTB's
``Updater`` confirms a batch as soon as it has queued it, hence our loop), the webhook answers
200 only after storage. When the core cannot store (``InboxUnavailable``), polling waits and
asks for the same updates again; the webhook answers 503 so Telegram re-sends. Errors are
logged with the update id — never the update or its text, which may carry patient data.

Outbound, ``send``/``edit``/``acknowledge`` turn ``Reply`` objects into Bot API calls through
our ``ChatRateLimiter`` (``limiter.py``: each chat's budget, the overall one with desk messages
and pages first; a 429 pauses only its chat, and is the one failure retried there), follow group →
supergroup migration, and retry only failures that prove the request was not delivered
(connection refused, pool timeout, a 5xx answer). A read timeout or a dropped connection
after a send went out is ``DeliveryError(outcome_unknown=True)``: Telegram has usually
delivered it, so it is never re-sent. Edits and button answers are idempotent and retried
on any network error. ``send_released`` tells the core when a send leaves the rate limiter
(``ReleasesSends``), so the outbox does not count a message waiting there as in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from telegram import Message
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder

from adapters.base import (
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    MessageRef,
    OnRelease,
    Reply,
)
from adapters.budget import SendBudget
from adapters.release import releasing
from adapters.retry import NetworkRetry

from .inbound import ALLOWED_UPDATES, Inbound
from .limiter import PRIORITY, ChatRateLimiter
from .messages import render, render_parts
from .settings import TelegramSettings
from .updates import PLATFORM

__all__ = ["ALLOWED_UPDATES", "TelegramAdapter"]

T = TypeVar("T")


class TelegramAdapter:
    """``adapters.base.Adapter`` for Telegram (platform ``"telegram"``).

    ``token`` and ``webhook_secret`` come from the environment (HISBOT_TELEGRAM_TOKEN,
    HISBOT_TELEGRAM_WEBHOOK_SECRET) via the composition root. Webhook mode refuses to run
    without a secret: an unauthenticated endpoint would let anyone inject messages.
    """

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        settings: TelegramSettings,
        logger: logging.Logger | None = None,
        *,
        webhook_secret: str | None = None,
        receive_on_start: bool = True,
    ) -> None:
        """``receive_on_start=False``: in polling mode, ``start`` only readies sending; polling
        runs between ``start_receiving`` and ``stop_receiving`` (one worker of several, under
        the platform's lease — ``adapters.base.LeasedReceiver``)."""
        if settings.mode == "webhook" and not webhook_secret:
            raise ValueError("telegram webhook mode needs a webhook secret token")
        self.settings = settings
        self._log = logger or logging.getLogger("hisbot.adapters.telegram")
        self._retry = NetworkRetry(
            settings.network_retries, settings.network_backoff, self._log, "telegram", "chat"
        )
        self._moved: dict[str, str] = {}  # old chat id → new chat id (supergroup migration)
        self._started = False
        self._receive_on_start = receive_on_start

        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(settings.base_url)
            .base_file_url(settings.base_file_url)
            .rate_limiter(
                ChatRateLimiter(settings.chat_budget, settings.overall_budget, settings.max_retries)
            )
            .job_queue(None)
            .updater(None)  # our own polling loop / webhook endpoint: see the module docstring
        )
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        #: Polling or the webhook, handing each update to the core.
        self.inbound = Inbound(
            self.application,
            settings,
            self._log,
            webhook_secret=webhook_secret,
            remember_move=self._moved.__setitem__,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handlers: CoreHandlers) -> None:
        if self._started:
            raise RuntimeError("TelegramAdapter already started")
        self.inbound.attach(handlers)
        self._started = True
        try:
            try:
                await self.application.initialize()  # getMe: the bot's id and username
            except InvalidToken:
                # PTB's message quotes the token; keep it out of the logs and tracebacks
                raise RuntimeError(
                    "Telegram rejected the bot token (HISBOT_TELEGRAM_TOKEN)"
                ) from None
            await self.application.start()
            if self.settings.mode == "webhook":
                await self.inbound.start_webhook()
            elif self._receive_on_start:
                await self.start_receiving()
        except BaseException:
            await self.stop()
            raise
        self._log.info(
            "telegram adapter started (%s) as @%s",
            self.settings.mode,
            self.application.bot.username,
        )

    @property
    def waits_for_lease(self) -> bool:
        """Polling allows one poller per bot: with several workers, only the lease's holder."""
        return self.settings.mode == "polling" and not self._receive_on_start

    async def start_receiving(self) -> None:
        """Start long polling (after ``start``). Updates fetched but not confirmed by a
        poller that died are fetched again by the next one."""
        await self.inbound.start_polling()

    async def stop_receiving(self) -> None:
        """Stop long polling (the lease went to another worker); sending goes on. Updates
        not yet confirmed are simply delivered again to the next poller."""
        await self.inbound.stop_polling()

    async def stop(self) -> None:
        """Stop receiving, let in-flight updates finish, close the HTTP clients. Idempotent."""
        if not self._started:
            return
        self._started = False
        app = self.application
        await self.inbound.stop()  # unconfirmed updates are simply delivered again
        if app.running:
            await app.stop()
        await app.shutdown()

    # ------------------------------------------------------------------ outbound

    async def send(self, reply: Reply) -> MessageRef:
        """Send ``reply`` (several messages when longer than 4096); returns the ref of the last
        one, which carries the buttons. A chat that became a supergroup is followed: the core
        gets a MIGRATED event and the message goes to the new chat."""
        ref: MessageRef | None = None
        priority = PRIORITY.set(reply.priority)
        try:
            for kwargs in render_parts(reply):
                message = await self._send_one(reply.chat, kwargs)
                ref = MessageRef(PLATFORM, str(message.chat_id), str(message.message_id))
        finally:
            PRIORITY.reset(priority)
        assert ref is not None  # render_parts returns at least one part
        return ref

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        """``adapters.base.ReleasesSends``: ``send``, awaiting ``on_release`` when the rate
        limiter lets the first part go, right before its HTTP request."""
        with releasing(on_release):
            return await self.send(reply)

    def send_budget(self, chat: ChatRef) -> SendBudget:
        """``adapters.base.DeclaresSendBudget``: what Telegram lets the bot post into a chat."""
        return self.settings.chat_budget(self._current_chat_id(chat.chat_id))

    async def _send_one(self, chat: ChatRef, kwargs: dict[str, Any]) -> Message:
        kwargs = {**kwargs, "chat_id": self._current_chat_id(kwargs["chat_id"])}
        for attempt in range(2):
            try:
                return await self._retrying(
                    chat, "send", lambda: self.application.bot.send_message(**kwargs)
                )
            except ChatMigrated as exc:
                if attempt:
                    raise DeliveryError(chat, "chat migrated twice", permanent=False) from exc
                await self._chat_moved(str(kwargs["chat_id"]), str(exc.new_chat_id))
                kwargs["chat_id"] = exc.new_chat_id
            except TelegramError as exc:
                raise self._delivery_error(chat, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        """Replace the text and buttons of one of our messages (no buttons: keyboard removed).
        An edit that changes nothing is not an error."""
        kwargs = render(reply)
        for key in ("chat_id", "reply_parameters", "message_thread_id"):
            kwargs.pop(key, None)
        chat = ChatRef(PLATFORM, message.chat_id)
        chat_id = self._current_chat_id(message.chat_id)
        priority = PRIORITY.set(reply.priority)
        try:
            await self._retrying(
                chat,
                "edit",
                lambda: self.application.bot.edit_message_text(
                    chat_id=chat_id, message_id=int(message.message_id), **kwargs
                ),
                idempotent=True,
            )
        except BadRequest as exc:
            if "message is not modified" in exc.message.lower():
                return
            raise self._delivery_error(chat, exc) from exc
        except ChatMigrated as exc:
            # messages of the old group are not addressable through the new supergroup id
            await self._chat_moved(str(chat_id), str(exc.new_chat_id))
            raise DeliveryError(
                chat, f"chat migrated to {exc.new_chat_id}; the message cannot be edited"
            ) from exc
        except TelegramError as exc:
            raise self._delivery_error(chat, exc) from exc
        finally:
            PRIORITY.reset(priority)

    async def typing(self, chat: ChatRef) -> None:
        """``sendChatAction typing`` (shown for 5 s or until the next message); best effort."""
        try:
            await self.application.bot.send_chat_action(
                chat_id=self._current_chat_id(chat.chat_id),
                action=ChatAction.TYPING,
                message_thread_id=int(chat.thread_id) if chat.thread_id else None,
            )
        except TelegramError as exc:
            self._log.info("telegram: typing in chat %s not shown: %s", chat.chat_id, exc)

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """Answer the callback query (stops the spinner; ``text`` shows as a toast, cut to 200
        characters). Best effort: an expired query or a network failure is logged, not
        raised — the press itself was already handled."""
        chat = ChatRef(PLATFORM, press.message.chat_id)
        try:
            await self._retrying(
                chat,
                "acknowledge",
                lambda: self.application.bot.answer_callback_query(
                    press.press_id, text=text[:200] or None
                ),
                idempotent=True,
            )
        except (TelegramError, DeliveryError) as exc:
            self._log.warning(
                "telegram: could not answer button press in chat %s: %s",
                press.message.chat_id,
                type(exc).__name__,
            )

    # ------------------------------------------------------------------ delivery helpers

    def _current_chat_id(self, chat_id: int | str) -> int | str:
        key = str(chat_id)
        seen = {key}
        while key in self._moved and self._moved[key] not in seen:
            key = self._moved[key]
            seen.add(key)
        try:
            return int(key)
        except ValueError:
            return key

    async def _chat_moved(self, old: str, new: str) -> None:
        if self._moved.get(old) == new:
            return
        self._moved[old] = new
        self._log.info("telegram chat %s migrated to %s", old, new)
        event = ChatEvent(ChatEventKind.MIGRATED, ChatRef(PLATFORM, old), new_chat_id=new)
        try:
            await self.inbound.core().on_chat_event(event)
        except Exception:
            self._log.exception("telegram: core failed on MIGRATED event of chat %s", old)

    async def _retrying(
        self,
        chat: ChatRef,
        what: str,
        call: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = False,
    ) -> T:
        """Retry, with exponential backoff, the network failures that prove the request did
        not reach Telegram (and, for ``idempotent`` calls, every network failure); 429s were
        retried by the rate limiter (in their chat only). A send that may have arrived raises
        ``DeliveryError(outcome_unknown=True)``. Other Telegram errors pass through."""
        attempt = 0
        while True:
            try:
                return await call()
            except BadRequest:
                raise
            except NetworkError as exc:  # incl. TimedOut and 5xx answers
                if not idempotent and not _not_delivered(exc):
                    raise DeliveryError(
                        chat,
                        f"{what}: no answer after the request went out ({type(exc).__name__}); "
                        "not re-sent",
                        permanent=False,
                        outcome_unknown=True,
                    ) from exc
                reason = f"{type(exc).__name__}: {exc.message}"
                await self._retry.wait(chat, what, attempt, reason, exc)
                attempt += 1

    @staticmethod
    def _delivery_error(chat: ChatRef, exc: TelegramError) -> DeliveryError:
        reason = f"{type(exc).__name__}: {exc.message}"
        if isinstance(exc, Forbidden | BadRequest):
            # kicked / left / blocked by the user / chat not found / a message Telegram
            # refuses: sending the same thing again will not help
            return DeliveryError(chat, reason, permanent=True)
        if isinstance(exc, RetryAfter):
            return DeliveryError(chat, f"flood control, gave up: {reason}", permanent=False)
        return DeliveryError(chat, reason, permanent=False)


def _not_delivered(exc: NetworkError) -> bool:
    """The failure proves Telegram never got the request: the connection was not made (or no
    pooled connection was free), or Telegram answered with a server error (an answer, not a
    message). A read timeout or a connection dropped mid-answer proves nothing."""
    cause = exc.__cause__
    if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return cause is None and not isinstance(exc, TimedOut)
