"""What Telegram delivers, handed to the core (``TelegramAdapter``'s inbound half;
``adapters.telegram.adapter`` explains the whole edge): our own ``getUpdates`` loop or our
webhook endpoint, and the conversion of each update to what the core handles.

An update is confirmed only once the core stored it: polling asks for the next offset only
past stored updates, the webhook answers 200 only after storage; when the core cannot store
(``InboxUnavailable``) polling asks for the same updates again and the webhook answers 503.
Errors are logged with the update id — never the update or its text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.error import Forbidden, InvalidToken, TelegramError
from telegram.ext import Application, filters

from adapters.base import ChatEventKind, CoreHandlers, InboxUnavailable

from .settings import TelegramSettings
from .updates import to_button_press, to_chat_event, to_incoming

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


#: Deeper JSON than this is refused by the webhook (an update is a few levels deep).
MAX_WEBHOOK_DEPTH = 32

#: Longest wait between getUpdates attempts while Telegram or the core's storage is failing.
MAX_POLL_BACKOFF = 30.0


class Inbound:
    """Polling or the webhook, and the hand-over of each update to the core.

    ``remember_move(old, new)`` tells the adapter a group became a supergroup, so its sends
    follow the chat."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        settings: TelegramSettings,
        log: logging.Logger,
        *,
        webhook_secret: str | None,
        remember_move: Callable[[str, str], None],
    ) -> None:
        self.application = application
        self.settings = settings
        self._log = log
        self._secret = webhook_secret
        self._remember_move = remember_move
        self._handlers: CoreHandlers | None = None
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        #: The next update to fetch: everything before it was stored by the core.
        self._offset: int | None = None

    def attach(self, handlers: CoreHandlers) -> None:
        self._handlers = handlers

    def core(self) -> CoreHandlers:
        if self._handlers is None:
            raise RuntimeError("TelegramAdapter.start() was not called")
        return self._handlers

    async def stop(self) -> None:
        """Stop polling and the webhook listener (unconfirmed updates are delivered again)."""
        await self.stop_polling()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def start_polling(self) -> None:
        """Start long polling (after the adapter started). Updates fetched but not confirmed
        by a poller that died are fetched again by the next one."""
        if self._poller is not None and not self._poller.done():
            return
        await self.application.bot.delete_webhook()  # getUpdates refuses otherwise
        self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
        self._log.info("telegram: polling started")

    async def stop_polling(self) -> None:
        """Stop long polling (the lease went to another worker); sending goes on. Updates
        not yet confirmed are simply delivered again to the next poller."""
        poller, self._poller = self._poller, None
        if poller is None:
            return
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        # Telegram still holds the cancelled long poll: a short getUpdates ends it (the next
        # poller, maybe another worker, would get 409 Conflict) and confirms only what was
        # stored (what it returns is left for the next poller)
        with contextlib.suppress(TelegramError):
            await self.application.bot.get_updates(
                offset=self._offset, timeout=0, allowed_updates=list(ALLOWED_UPDATES)
            )
        self._log.info("telegram: polling stopped")

    async def start_webhook(self) -> None:
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
        try:
            await self.deliver(update)
        except InboxUnavailable:
            return web.Response(status=503)  # not stored: Telegram sends it again
        return web.Response(status=200)

    async def _poll(self) -> None:
        """Long-poll getUpdates; the offset moves past an update only once the core stored it.
        A batch the core cannot store is asked for again after a backoff (Telegram keeps
        unconfirmed updates for 24 hours)."""
        bot = self.application.bot
        failures = 0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=self._offset,
                    timeout=self.settings.poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                    read_timeout=self.settings.poll_timeout + 10,
                )
            except (InvalidToken, Forbidden):
                self._log.error("telegram polling stopped: the bot token was rejected")
                return
            except TelegramError as exc:  # network, 5xx, 429, conflict: try again later
                failures += 1
                self._log.warning("telegram getUpdates failed: %s", type(exc).__name__)
                await asyncio.sleep(self._backoff(failures))
                continue
            if await self._deliver_batch(updates):
                failures = 0
            else:
                failures += 1
                await asyncio.sleep(self._backoff(failures))

    async def _deliver_batch(self, updates: Sequence[Update]) -> bool:
        """Hand a batch to the core: each chat's updates in order, the chats side by side
        (storing an update is a database write; one after another, a busy bot's polling fell
        seconds behind — 20 updates a second at ~50 ms each). The offset moves past the
        longest run of stored updates; returns whether all were stored."""
        by_chat: dict[int | None, list[Update]] = {}
        for update in updates:
            chat = update.effective_chat
            by_chat.setdefault(chat.id if chat is not None else None, []).append(update)
        unstored: set[int] = set()

        async def in_order(chat_updates: list[Update]) -> None:
            for i, update in enumerate(chat_updates):
                try:
                    await self.deliver(update)
                except InboxUnavailable:
                    unstored.update(u.update_id for u in chat_updates[i:])
                    return
                except Exception as exc:  # a conversion bug must not wedge the chat's updates
                    self._log.error(
                        "telegram update %s failed: %s",
                        update.update_id,
                        type(exc).__name__,
                        exc_info=exc,
                    )

        await asyncio.gather(*(in_order(chat_updates) for chat_updates in by_chat.values()))
        for update in updates:
            if update.update_id in unstored:
                return False  # asked for again from here (the stored ones are stored once)
            self._offset = update.update_id + 1
        return True

    def _backoff(self, failures: int) -> float:
        return float(min(self.settings.network_backoff * 2 ** min(failures, 16), MAX_POLL_BACKOFF))

    async def deliver(self, update: Update) -> None:
        """Convert one update and hand it to the core; returns once the core stored it (or it
        is not something the core handles). Raises ``InboxUnavailable`` from the core."""
        core = self.core()
        query = update.callback_query
        if query is not None:
            if query.message is not None:  # inline-mode buttons: this bot sends none
                await core.on_button(to_button_press(update))
            return
        if update.my_chat_member is not None or _CHAT_SERVICE.check_update(update):
            event = to_chat_event(update)
            if event is None:
                return
            if event.kind is ChatEventKind.MIGRATED and event.new_chat_id is not None:
                self._remember_move(event.chat.chat_id, event.new_chat_id)
            await core.on_chat_event(event)
            return
        if _CONTENT.check_update(update):
            bot = self.application.bot
            message = to_incoming(update, bot.id, bot.username)
            if message is not None:
                await core.on_message(message)


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
