"""(skeleton, to be replaced) The web chat adapter behind the console's playground."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request

from adapters.base import ButtonPress, CoreHandlers, MessageRef, Reply, Sender

ChatAuthorizer = Callable[[Request, str, bool], Awaitable[Sender]]


class WebAdapter:
    platform = "web"

    def __init__(self) -> None:
        self._handlers: CoreHandlers | None = None
        self._next = 0

    async def start(self, handlers: CoreHandlers) -> None:
        self._handlers = handlers

    async def stop(self) -> None:
        self._handlers = None

    async def send(self, reply: Reply) -> MessageRef:
        self._next += 1
        return MessageRef(self.platform, reply.chat.chat_id, f"b{self._next}")

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        return None

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        return None

    def router(self, authorize: ChatAuthorizer) -> APIRouter:
        return APIRouter()
