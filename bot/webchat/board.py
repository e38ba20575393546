"""The web adapter's ``ChatBoard`` port over the database, through the gateway.

Every call is one unit of work on the gateway's threads (never SQL on the event loop); a
database that cannot be reached is ``BoardUnavailable`` to the adapter, which answers 503
(a read or a post) or fails the send (the outbox tries it again).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from adapters.base import Citation
from adapters.chat_board import BoardUnavailable, Buttons, Entry, Since, Toast
from bot.infra.clock import Clock, utc_now
from bot.infra.gateway import Database
from bot.webchat.store import WebChatStore

T = TypeVar("T")


class DatabaseBoard:
    """``clock`` stamps the toasts (their age is what the retention purge looks at)."""

    def __init__(self, db: Database, store: WebChatStore, clock: Clock = utc_now) -> None:
        self._db = db
        self._store = store
        self._clock = clock

    async def append(self, chat_id: str, entry: Entry) -> Entry:
        return await self._write(lambda: self._store.append(chat_id, entry))

    async def edit(
        self, chat_id: str, message_id: str, text: str, buttons: Buttons, citation: Citation | None
    ) -> Entry | None:
        return await self._write(
            lambda: self._store.edit(chat_id, message_id, text, buttons, citation)
        )

    async def toast(self, chat_id: str, toast: Toast) -> Toast:
        at = self._clock()
        return await self._write(lambda: self._store.toast(chat_id, toast, at))

    async def get(self, chat_id: str, message_id: str) -> Entry | None:
        return await self._read(lambda: self._store.get(chat_id, message_id))

    async def since(self, chat_id: str, after: int) -> Since:
        return await self._read(lambda: self._store.since(chat_id, after))

    async def newest(self, chat_ids: Collection[str]) -> dict[str, int]:
        chats = list(chat_ids)
        return await self._read(lambda: self._store.newest(chats))

    async def _read(self, fn: Callable[[], T]) -> T:
        try:
            return await self._db.read(fn)
        except (SQLAlchemyError, OSError) as exc:
            raise BoardUnavailable(type(exc).__name__) from exc

    async def _write(self, fn: Callable[[], T]) -> T:
        try:
            return await self._db.write(fn)
        except (SQLAlchemyError, OSError) as exc:
            raise BoardUnavailable(type(exc).__name__) from exc
