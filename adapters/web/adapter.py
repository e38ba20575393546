"""The web chat edge behind the console's playground: ``adapters.base.Adapter`` for "web".

A browser plays a hospital group: what it posts becomes an ``IncomingMessage`` for the same
core the chat platforms feed, and whatever the core sends into a web chat (answers, ticket
numbers, an engineer's "accepted", replies to tickets registered on the web form) is appended
to that chat's board, which the page long-polls. The board is a port (``ChatBoard``) the
composition root keeps in the database, so every worker serving the console shows the same
chats: a poll waiting on one worker returns when another appends (``Wakeups``).

Like every edge, a post or press is answered (202) only once the core stored it in its inbox
(the core then handles one chat's arrivals in order); when it cannot store it (database
down) the post is refused with 503 and not logged, so the user sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from adapters.base import (
    ButtonPress,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    InboxUnavailable,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from adapters.chat_board import BoardUnavailable, ChatBoard, Entry, Quote, Toast

from .chatlog import Changes, ChatError
from .wakeups import Wakeups

if TYPE_CHECKING:
    from fastapi import APIRouter

    from .api import ChatAuthorizer

__all__ = ["PLATFORM", "WebAdapter"]

PLATFORM = "web"

log = logging.getLogger("hisbot.adapters.web")

#: Said when the core could not store a post or press (its database is unavailable).
NOT_STORED = "机器人暂时无法记录消息，请稍后再发一次。"
#: Said when the chat's board cannot be read or written.
BOARD_AWAY = "对话记录暂时无法读取，请稍后再试。"
#: Seconds between two looks for other workers' messages while long polls wait: a message
#: sent into a chat by another worker reaches a waiting poll within this time, half of it on
#: average (a message this worker sends wakes its polls at once). The cost: one indexed query
#: per interval per worker, for all of its waiting polls, only while any wait.
WATCH_SECONDS = 0.1

T = TypeVar("T")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _message_id() -> str:
    """Unique across workers and restarts (the core keeps message ids in the database)."""
    return secrets.token_hex(8)


class WebAdapter:
    """``board`` keeps the chats (shared by every worker); ``max_text`` is the longest
    message accepted, in characters; ``max_polls`` bounds the long polls one client holds
    open at once on this worker (each holds a task and a connection: 3,000 from one session
    starved the console's other pages). ``mask`` is what the core stores of a text (its
    redaction): the board shows a user's message and name as stored, never as typed, to
    everyone in the chat. ``watch_every``: seconds between two looks for other workers'
    messages while polls wait."""

    platform = PLATFORM

    def __init__(
        self,
        board: ChatBoard,
        *,
        max_text: int = 2000,
        max_polls: int = 4,
        bot_name: str = "小助手",
        clock: Callable[[], dt.datetime] = _utc_now,
        mask: Callable[[str], str] = str,
        watch_every: float = WATCH_SECONDS,
    ) -> None:
        self.board = board
        self.max_text = max_text
        self.bot_name = bot_name
        #: Seconds between a long poll's checks that its browser is still there.
        self.disconnect_check = 2.0
        self.wakeups = Wakeups(board.newest, watch_every)
        self._max_polls = max_polls
        self._polls: dict[str, int] = {}
        self._clock = clock
        self._mask = mask
        self._handlers: CoreHandlers | None = None
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self, handlers: CoreHandlers) -> None:
        if self._handlers is not None:
            raise RuntimeError("WebAdapter already started")
        self._handlers = handlers
        self._closing = False

    async def stop(self) -> None:
        """Refuse new posts and release the long polls. Idempotent."""
        self._handlers = None
        self._closing = True
        await self.wakeups.stop()

    # ------------------------------------------------------------------ outbound (the core)

    async def send(self, reply: Reply) -> MessageRef:
        entry = Entry(
            id=_message_id(),
            kind="bot",
            sender=self.bot_name,
            text=reply.text,
            sent_at=self._clock(),
            reply_to=reply.reply_to,
            citation=reply.citation,
            buttons=reply.buttons,
            mentions=reply.mention_user_ids,
        )
        chat = ChatRef(self.platform, reply.chat.chat_id)
        stored = await self._on_board(self.board.append(chat.chat_id, entry), chat)
        self.wakeups.saw(chat.chat_id, stored.seq)
        return MessageRef(self.platform, chat.chat_id, entry.id)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        chat = ChatRef(self.platform, message.chat_id)
        edit = self.board.edit(
            message.chat_id, message.message_id, reply.text, reply.buttons, reply.citation
        )
        edited = await self._on_board(edit, chat)
        if edited is None:
            raise DeliveryError(chat, "message no longer in the web chat")
        self.wakeups.saw(chat.chat_id, edited.seq)

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        """Nothing spins in a browser; only a text is worth showing (to the presser)."""
        if not text:
            return
        chat = ChatRef(self.platform, press.message.chat_id)
        toast = Toast(press.sender.user_id, press.message.message_id, text)
        stored = await self._on_board(self.board.toast(chat.chat_id, toast), chat)
        self.wakeups.saw(chat.chat_id, stored.seq)

    async def _on_board(self, work: Awaitable[T], chat: ChatRef) -> T:
        """A send's board work; the board away is a failed send (the outbox retries it)."""
        try:
            return await work
        except BoardUnavailable as exc:
            raise DeliveryError(chat, f"web chat board unavailable: {exc}") from exc

    # ------------------------------------------------------------------ inbound (the API)

    def router(self, authorize: ChatAuthorizer) -> APIRouter:
        """The JSON API under ``/playground/api/chats/{chat_id}``; ``authorize`` decides who
        may read and write each chat (it is the console's business, not the adapter's)."""
        from .api import build_router

        return build_router(self, authorize)

    async def post(
        self, chat_id: str, sender: Sender, text: str, reply_to: str | None, badge: str = ""
    ) -> Entry:
        """Hand a user's message to the core and log it once stored; raises ``ChatError``
        (503 when the core could not store it). ``badge`` is shown beside the sender's name
        (who they really are)."""
        handlers = self._running()
        text = text.strip()
        if not text:
            raise ChatError(400, "消息不能为空。")
        if len(text) > self.max_text:
            raise ChatError(400, f"消息过长：最多 {self.max_text} 字。")
        quote = None
        if reply_to is not None:
            quoted = await self._message(chat_id, reply_to)
            quote = Quote(quoted.sender, quoted.text)
        text = self._mask(text)
        sender = dataclasses.replace(sender, display_name=self._mask(sender.display_name))
        entry = Entry(
            id=_message_id(),
            kind="user",
            sender=sender.display_name,
            text=text,
            sent_at=self._clock(),
            reply_to=reply_to,
            badge=badge,
        )
        message = IncomingMessage(
            chat=ChatRef(self.platform, chat_id),
            message_id=entry.id,
            sender=sender,
            text=text,
            sent_at=entry.sent_at,
            reply_to_message_id=reply_to,
            # like a group: the bot is addressed only when named (「@小助手 …」)
            mentions_bot=f"@{self.bot_name}" in text,
        )
        await _stored(handlers.on_message(message))
        # queued on the database the moment the core has stored the message, ahead of any
        # answer (which needs the core's handling, then its own writes, first)
        stored = await _readable(self.board.append(chat_id, entry))
        self.wakeups.saw(chat_id, stored.seq)
        return dataclasses.replace(stored, quote=quote)

    async def press(self, chat_id: str, sender: Sender, message_id: str, action: str) -> None:
        """Hand the core a press of a button the message carries now (an old or forged action
        is refused: the core only ever sees presses of buttons it showed)."""
        handlers = self._running()
        entry = await self._message(chat_id, message_id)
        if action not in entry.actions():
            raise ChatError(409, "这个按钮已失效，请刷新页面。")
        press = ButtonPress(
            message=MessageRef(self.platform, chat_id, message_id),
            sender=sender,
            action=action,
            press_id=_message_id(),
        )
        await _stored(handlers.on_button(press))

    async def _message(self, chat_id: str, message_id: str) -> Entry:
        entry = await _readable(self.board.get(chat_id, message_id))
        if entry is None:
            raise ChatError(404, "消息不存在（可能已过期），请刷新页面。")
        return entry

    async def changes(
        self,
        chat_id: str,
        after: int,
        user_id: str,
        wait: float = 0.0,
        gone: Callable[[], Awaitable[bool]] | None = None,
        client: str = "",
    ) -> Changes:
        """What changed in the chat after ``after``; with ``wait``, a long poll: returns as
        soon as something did (on any worker), or empty-handed after ``wait`` seconds (or
        when ``gone`` says the client left, or the adapter stops). Cancelling it is harmless.
        A client (default: the user) already holding ``max_polls`` long polls on this worker
        gets ``ChatError`` 429; the board away is ``ChatError`` 503."""
        if wait <= 0:
            return await self._changes(chat_id, after, user_id)
        key = client or user_id
        if self._polls.get(key, 0) >= self._max_polls:
            raise ChatError(429, "打开的对话页面太多，请关闭多余的页面后刷新。")
        self._polls[key] = self._polls.get(key, 0) + 1
        try:
            return await self._wait_for_changes(chat_id, after, user_id, wait, gone)
        finally:
            self._polls[key] -= 1
            if not self._polls[key]:
                del self._polls[key]

    async def _changes(self, chat_id: str, after: int, user_id: str) -> Changes:
        """A cursor beyond the chat's newest entry is not from this board (a database put
        back from a backup): the whole chat is sent again."""
        found = await _readable(self.board.since(chat_id, after))
        if after > found.newest:
            after = 0
            found = await _readable(self.board.since(chat_id, 0))
        return Changes.seen_by(found, after, user_id)

    async def _wait_for_changes(
        self,
        chat_id: str,
        after: int,
        user_id: str,
        wait: float,
        gone: Callable[[], Awaitable[bool]] | None,
    ) -> Changes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            found = await self._changes(chat_id, after, user_id)
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self._closing:
                return found
            after = found.seq  # past what this user does not see (others' toasts)
            with (
                self.wakeups.waiting(chat_id, after) as woken,
                contextlib.suppress(TimeoutError),
            ):
                await asyncio.wait_for(woken.wait(), min(remaining, self.disconnect_check))
            if not woken.is_set() and gone is not None and await gone():
                return found

    # ------------------------------------------------------------------ the core

    def _running(self) -> CoreHandlers:
        if self._handlers is None:
            raise ChatError(503, "机器人未运行，请稍后再试。")
        return self._handlers


async def _stored(handing: Awaitable[None]) -> None:
    """Await the core's storing of an arrival; its unavailability is the client's 503."""
    try:
        await handing
    except InboxUnavailable:
        raise ChatError(503, NOT_STORED) from None


async def _readable(work: Awaitable[T]) -> T:
    """Await the board; its unavailability is the client's 503."""
    try:
        return await work
    except BoardUnavailable:
        raise ChatError(503, BOARD_AWAY) from None
