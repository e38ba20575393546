"""The Telegram edge: python-telegram-bot 22 underneath, ``adapters.base.Adapter`` on top.

Inbound, PTB fetches updates (long polling, or our webhook endpoint) and dispatches them to
three ordered handlers (first match wins): callback queries → ``on_button``; bot membership,
migration and rename service messages → ``on_chat_event``; user messages (new or edited: text,
captions, photos, files, voice; commands included, as text) → ``on_message``. Everything else
is ignored. Exceptions end in ONE error handler that logs the update id and the traceback —
never the update or its text, which may carry patient data.

Outbound, ``send``/``edit``/``acknowledge`` turn ``Reply`` objects into Bot API calls through
PTB's ``AIORateLimiter`` (flood limits, 429 retries), and add what the rate limiter does not
do: retries of network errors/5xx, follow-up of group → supergroup migration, and mapping of
the rest to ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.base import (
    CHAT_OVERFLOW_TEXT,
    ButtonPress,
    ChatEvent,
    ChatEventKind,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    MessageRef,
    Reply,
)

from .convert import PLATFORM, render, render_parts, to_button_press, to_chat_event, to_incoming
from .settings import TelegramSettings

__all__ = ["ALLOWED_UPDATES", "ChatOrderedUpdateProcessor", "TelegramAdapter"]

T = TypeVar("T")

#: Update types requested from Telegram (getUpdates / setWebhook ``allowed_updates``): only
#: what the handlers below use. Telegram remembers the last list, so it is always sent.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# What on_message receives: user messages, new or edited, with something the core can use.
_CONTENT = (filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE) & (
    filters.TEXT
    | filters.CAPTION
    | filters.PHOTO
    | filters.Document.ALL
    | filters.VOICE
    | filters.VIDEO
    | filters.AUDIO
)
# Service messages that are chat events. migrate_from_chat_id (the twin in the new supergroup)
# also matches; to_chat_event turns it into None so it is consumed without a second event.
_CHAT_SERVICE = filters.UpdateType.MESSAGE & (
    filters.StatusUpdate.MIGRATE | filters.StatusUpdate.NEW_CHAT_TITLE
)


#: Said once to a group whose updates arrive faster than they can be handled.
OVERFLOW_TEXT = (
    "消息太多，机器人处理不过来：之后的部分消息未被处理。请稍等片刻，再把仍需回答的问题重新发一次。"
)

#: Deeper JSON than this is refused by the webhook (an update is a few levels deep).
MAX_WEBHOOK_DEPTH = 32


@dataclass
class _ChatSlot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    #: The group was told about this flood already.
    told: bool = False


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    """Up to ``concurrency`` updates run at once, but one chat's updates run one after another,
    in the order Telegram delivered them.

    Why the order holds: PTB's fetcher creates one task per update in queue order; each task
    runs without suspending from its start to ``asyncio.Lock.acquire`` on its chat's lock (the
    base class's semaphore, sized ``max_pending``, does not block below that many pending
    updates), and asyncio locks grant in FIFO order. The concurrency limit is taken *inside*
    the chat lock, so a burst in one chat waits on its own lock instead of occupying the slots
    other chats need.
    """

    def __init__(
        self,
        concurrency: int,
        max_pending: int = 4096,
        per_chat: int | None = None,
        on_overflow: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(max(max_pending, 2))
        self._slots = asyncio.Semaphore(concurrency)
        self._chats: dict[int, _ChatSlot] = {}
        self._per_chat = per_chat
        self._on_overflow = on_overflow

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._slots:
                await coroutine
            return
        slot = self._chats.setdefault(chat.id, _ChatSlot())
        if self._per_chat is not None and slot.users >= self._per_chat:
            await self._overflow(chat.id, slot, coroutine)
            return
        slot.users += 1
        try:
            async with slot.lock, self._slots:
                await coroutine
        except asyncio.CancelledError:
            if asyncio.iscoroutine(coroutine):
                coroutine.close()  # cancelled while queued: no "never awaited" warning
            raise
        finally:
            slot.users -= 1
            if slot.users == 0:
                self._chats.pop(chat.id, None)

    async def _overflow(self, chat_id: int, slot: _ChatSlot, coroutine: Awaitable[Any]) -> None:
        """Drop an update of a chat that has ``per_chat`` waiting; tell the chat once (until
        its queue has drained)."""
        if asyncio.iscoroutine(coroutine):
            coroutine.close()
        if slot.told or self._on_overflow is None:
            return
        slot.told = True
        slot.users += 1  # the slot (and its "told") stays while the notice goes out
        try:
            await self._on_overflow(chat_id)
        finally:
            slot.users -= 1
            if slot.users == 0:
                self._chats.pop(chat_id, None)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


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
    ) -> None:
        if settings.mode == "webhook" and not webhook_secret:
            raise ValueError("telegram webhook mode needs a webhook secret token")
        self.settings = settings
        self._log = logger or logging.getLogger("hisbot.adapters.telegram")
        self._secret = webhook_secret
        self._handlers: CoreHandlers | None = None
        self._moved: dict[str, str] = {}  # old chat id → new chat id (supergroup migration)
        self._runner: web.AppRunner | None = None
        self._started = False

        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(settings.base_url)
            .base_file_url(settings.base_file_url)
            .rate_limiter(
                # Leaky buckets with a small burst: AsyncLimiter(20, 60) would let 20 messages out
                # at once and 20 more within the same minute, which Telegram answers with a 429
                # of ~1 min that pauses *every* send of the bot. A burst of `group_burst`, then
                # one every 60/group_per_minute s, never exceeds 20 in any minute by much.
                AIORateLimiter(
                    overall_max_rate=settings.overall_burst,
                    overall_time_period=settings.overall_burst / settings.overall_per_second,
                    group_max_rate=settings.group_burst,
                    group_time_period=settings.group_burst * 60 / settings.group_per_minute,
                    max_retries=settings.max_retries,
                )
            )
            .concurrent_updates(
                ChatOrderedUpdateProcessor(
                    settings.concurrent_updates,
                    per_chat=settings.max_pending_per_chat,
                    on_overflow=self._chat_overflowed,
                )
            )
            .job_queue(None)
        )
        if settings.mode == "webhook":
            builder = builder.updater(None)  # our own endpoint, see _start_webhook
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        app = self.application
        app.add_handler(CallbackQueryHandler(self._on_callback_query))
        app.add_handler(ChatMemberHandler(self._on_chat_event, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_handler(MessageHandler(_CHAT_SERVICE, self._on_chat_event))
        app.add_handler(MessageHandler(_CONTENT, self._on_message))
        app.add_error_handler(self._on_error)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handlers: CoreHandlers) -> None:
        if self._started:
            raise RuntimeError("TelegramAdapter already started")
        self._handlers = handlers
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
            if self.settings.mode == "polling":
                updater = self.application.updater
                assert updater is not None
                await updater.start_polling(
                    poll_interval=0.0,
                    timeout=dt.timedelta(seconds=self.settings.poll_timeout),
                    bootstrap_retries=3,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            else:
                await self._start_webhook()
        except BaseException:
            await self.stop()
            raise
        self._log.info(
            "telegram adapter started (%s) as @%s",
            self.settings.mode,
            self.application.bot.username,
        )

    async def stop(self) -> None:
        """Stop receiving, let in-flight updates finish, close the HTTP clients. Idempotent."""
        if not self._started:
            return
        self._started = False
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if app.running:
            await app.stop()
        await app.shutdown()

    async def _start_webhook(self) -> None:
        """Serve the webhook ourselves (aiohttp) instead of ``Updater.start_webhook``.

        PTB's tornado handler answers a wrong/missing secret with 403 but only logs it at DEBUG
        (together with the guessed token), offers no hook to change that, and at DEBUG also
        dumps every update body. This endpoint — PTB's documented "custom webhook" pattern:
        parse, put on ``application.update_queue`` — compares the secret in constant time and
        logs rejections at WARNING without any body or token.
        """
        s = self.settings
        web_app = web.Application(client_max_size=1024 * 1024)
        web_app.router.add_post("/" + s.webhook_path.strip("/"), self._webhook_post)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, s.webhook_listen, s.webhook_port).start()
        assert s.webhook_url is not None  # TelegramSettings checks this for webhook mode
        await self.application.bot.set_webhook(
            url=s.webhook_url,
            secret_token=self._secret,
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def _webhook_post(self, request: web.Request) -> web.Response:
        token = request.headers.get(SECRET_HEADER)
        expected = (self._secret or "").encode()
        if not token or not hmac.compare_digest(token.encode(), expected):
            self._log.warning(
                "webhook request with wrong secret token rejected (%s, from %s)",
                "no token" if not token else "token mismatch",
                request.remote,
            )
            return web.Response(status=403)
        try:
            data = json.loads(await request.read())
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update object")
            if _depth(data) > MAX_WEBHOOK_DEPTH:
                raise ValueError("nested too deeply")
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            self._log.warning(
                "webhook request with unreadable update rejected: %s", type(exc).__name__
            )
            return web.Response(status=400)
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    # ------------------------------------------------------------------ inbound

    async def _chat_overflowed(self, chat_id: int) -> None:
        self._log.warning("telegram chat %s: too many pending updates, new ones dropped", chat_id)
        try:
            await self.send(Reply(ChatRef(PLATFORM, str(chat_id)), CHAT_OVERFLOW_TEXT))
        except DeliveryError as exc:
            self._log.warning("telegram chat %s: overflow notice not sent: %s", chat_id, exc)

    def _core(self) -> CoreHandlers:
        if self._handlers is None:
            raise RuntimeError("TelegramAdapter.start() was not called")
        return self._handlers

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = context.bot
        message = to_incoming(update, bot.id, bot.username)
        if message is not None:
            await self._core().on_message(message)

    async def _on_callback_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return  # inline-mode button: this bot sends no inline messages
        await self._core().on_button(to_button_press(update))

    async def _on_chat_event(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        event = to_chat_event(update)
        if event is None:
            return
        if event.kind is ChatEventKind.MIGRATED and event.new_chat_id is not None:
            self._moved[event.chat.chat_id] = event.new_chat_id
        await self._core().on_chat_event(event)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one place errors of update processing end up. Logs the update id and the
        exception — never the update itself (message text may be patient data) — and never
        raises."""
        try:
            update_id = update.update_id if isinstance(update, Update) else None
            error = context.error
            self._log.error(
                "telegram update %s failed: %s",
                update_id,
                type(error).__name__,
                exc_info=error,
            )
        except Exception:  # pragma: no cover - logging itself failed
            with contextlib.suppress(Exception):
                self._log.error("telegram error handler failed")

    # ------------------------------------------------------------------ outbound

    async def send(self, reply: Reply) -> MessageRef:
        """Send ``reply`` (several messages when longer than 4096); returns the ref of the last
        one, which carries the buttons. A chat that became a supergroup is followed: the core
        gets a MIGRATED event and the message goes to the new chat."""
        ref: MessageRef | None = None
        for kwargs in render_parts(reply):
            message = await self._send_one(reply.chat, kwargs)
            ref = MessageRef(PLATFORM, str(message.chat_id), str(message.message_id))
        assert ref is not None  # render_parts returns at least one part
        return ref

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
        try:
            await self._retrying(
                chat,
                "edit",
                lambda: self.application.bot.edit_message_text(
                    chat_id=chat_id, message_id=int(message.message_id), **kwargs
                ),
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
            await self._core().on_chat_event(event)
        except Exception:
            self._log.exception("telegram: core failed on MIGRATED event of chat %s", old)

    async def _retrying(self, chat: ChatRef, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry network errors, timeouts and 5xx with exponential backoff; 429s were already
        retried by the rate limiter. Other Telegram errors pass through to the caller."""
        attempt = 0
        while True:
            try:
                return await call()
            except BadRequest:
                raise
            except NetworkError as exc:  # incl. TimedOut and 5xx answers
                if attempt >= self.settings.network_retries:
                    raise DeliveryError(
                        chat,
                        f"{what} failed after {attempt + 1} attempts: {type(exc).__name__}: "
                        f"{exc.message}",
                        permanent=False,
                    ) from exc
                delay = self.settings.network_backoff * (2**attempt)
                attempt += 1
                self._log.warning(
                    "telegram %s to chat %s: %s, retry %d in %.2fs",
                    what,
                    chat.chat_id,
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)

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


def _depth(value: object, limit: int = MAX_WEBHOOK_DEPTH + 1) -> int:
    """How deeply ``value`` nests (counted up to ``limit``, iteratively: no recursion)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level >= limit:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest
