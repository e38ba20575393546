"""A recording stand-in for ``bot/``: what every adapter test hands its adapter as the core.

It speaks only ``CoreHandlers`` (adapters/base.py), so it holds whether a handler's return
means "handled" or "stored in the inbox": either way the adapter confirms after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from adapters.base import (
    Adapter,
    ButtonPress,
    ChatEvent,
    CoreHandlers,
    InboxUnavailable,
    IncomingMessage,
    Reply,
)

T = TypeVar("T")


class Changes:
    """ "Something changed" for tests to wait on, event-driven: no polling, no sleeps."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], T | None], timeout: float, failure: Callable[[], str]
    ) -> T:
        """``predicate``'s value once it is truthy; ``timeout`` only guards against a hang."""

        async def check() -> T | None:
            return predicate()

        return await self.wait_until_checked(check, timeout, failure)

    async def wait_until_checked(
        self,
        check: Callable[[], Awaitable[T | None]],
        timeout: float,
        failure: Callable[[], str],
    ) -> T:
        """``wait_until`` for a check that must await (a read through the database gateway):
        it runs once now and again after every change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = await check()
            if value:
                return value
            if loop.time() >= deadline:
                raise AssertionError(failure())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), deadline - loop.time())


class RecordingCore:
    """Collects messages, presses and chat events.

    ``echo`` answers every message through ``adapter.send``; a text in ``gates`` waits for its
    event before finishing; ``delay`` sleeps in every handler; a text containing "boom" makes
    ``on_message`` raise, quoting the text unless ``quiet_errors`` (no adapter may log it).
    ``log`` records
    ("start"|"end", text) around each message, ``finished`` the texts whose handling ended.
    ``unavailable`` maps a text to how many more times storing it fails (``InboxUnavailable``,
    as the core's inbox raises while the database is down); ``refused`` lists those refusals.

    ``handle_later`` models the core's inbox: a handler returns as soon as the event is
    recorded ("stored") and its handling (gate, delay, echo) runs in a task afterwards, so the
    adapter confirms it before the handling ends; "boom" still makes the handler itself raise.
    ``close()`` cancels what is still being handled.
    """

    def __init__(self, *, handle_later: bool = False) -> None:
        self.adapter: Adapter | None = None
        self.handle_later = handle_later
        self.echo = False
        self.delay = 0.0
        self.quiet_errors = False
        self.gates: dict[str, asyncio.Event] = {}
        self.messages: list[IncomingMessage] = []
        self.presses: list[ButtonPress] = []
        self.events: list[ChatEvent] = []
        self.log: list[tuple[str, str]] = []
        self.finished: list[str] = []
        self.unavailable: dict[str, int] = {}
        self.refused: list[str] = []
        self.changes = Changes()
        self._tasks: set[asyncio.Task[None]] = set()

    def handlers(self) -> CoreHandlers:
        return CoreHandlers(self.on_message, self.on_button, self.on_chat_event)

    async def on_message(self, message: IncomingMessage) -> None:
        if self.unavailable.get(message.text, 0) > 0:
            self.unavailable[message.text] -= 1
            self.refused.append(message.text)
            self.changes.bump()
            raise InboxUnavailable("database down")
        self.messages.append(message)
        self.log.append(("start", message.text))
        self.changes.bump()
        if self.handle_later and "boom" not in message.text:
            self._later(self._handle(message))
        else:
            await self._handle(message)

    def _later(self, handling: Awaitable[None]) -> None:
        async def run() -> None:
            await handling

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel the handling still running (``handle_later``)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, message: IncomingMessage) -> None:
        try:
            gate = self.gates.get(message.text)
            if gate is not None:
                await gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            if "boom" in message.text:
                raise RuntimeError(
                    "core failed" if self.quiet_errors else f"core failed on {message.text}"
                )
            if self.echo and self.adapter is not None:
                await self.adapter.send(
                    Reply(message.chat, f"收到：{message.text}", reply_to=message.message_id)
                )
        finally:
            self.log.append(("end", message.text))
            self.finished.append(message.text)
            self.changes.bump()

    async def on_button(self, press: ButtonPress) -> None:
        self.presses.append(press)
        self.changes.bump()
        if self.delay:
            if self.handle_later:
                self._later(asyncio.sleep(self.delay))
            else:
                await asyncio.sleep(self.delay)

    async def on_chat_event(self, event: ChatEvent) -> None:
        self.events.append(event)
        self.changes.bump()

    async def wait_until(
        self, predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
    ) -> T:
        """Wait for ``predicate`` to hold; the timeout only guards against a hang."""
        return await self.changes.wait_until(
            predicate,
            timeout,
            lambda: (
                f"core: timed out waiting for {what}; got messages="
                f"{[m.text for m in self.messages]} presses={self.presses} events={self.events}"
            ),
        )

    async def message(
        self, message_id: str, *, chat_id: str | None = None, edited: bool = False
    ) -> IncomingMessage:
        """The message ``message_id`` (in ``chat_id``, where ids are per chat) once it came."""
        return await self.wait_until(
            lambda: next(
                (
                    m
                    for m in self.messages
                    if m.message_id == message_id
                    and (chat_id is None or m.chat.chat_id == chat_id)
                    and m.edited == edited
                ),
                None,
            ),
            what=f"message {message_id}",
        )

    async def ended(self, text: str) -> None:
        await self.wait_until(lambda: text in self.finished, what=f"end of {text!r}")
