"""Bot tests wait until the bot has recorded which ticket its message belongs to before a
user quotes (replies to) that message.

The fakes show a bot message the moment the adapter's send lands; the bot links the message
to its ticket (``LinkStore.link``) only after the send returned. A person needs seconds to
read and reply, a test needs microseconds: quoting before the link is written makes the bot
take the reply for a new question (the flake of the WeCom and DingTalk relay tests). So a
test quotes only what ``until_linked`` returned for.

``watch_links(app)`` goes between ``build_app`` and ``app.start()``: it records what the
messenger sent and wakes waiters whenever a database write finished (committed), so waiting
is event-driven: the link is read through the gateway once now and again after each write.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from adapters.base import MessageRef, Reply
from bot.app import App
from bot.infra.gateway import Database
from bot.tickets.services import Services
from tests.contract.core import Changes

T = TypeVar("T")


class _Watch:
    def __init__(self, services: Services) -> None:
        self.sent: list[tuple[Reply, MessageRef]] = []
        self.changes = Changes()
        send, write = services.messenger.send, services.db.write

        async def sending(reply: Reply, **options: Any) -> MessageRef | None:
            ref = await send(reply, **options)
            if ref is not None:
                self.sent.append((reply, ref))
                self.changes.bump()
            return ref

        async def writing(fn: Callable[[], T]) -> T:
            try:
                return await write(fn)
            finally:
                self.changes.bump()

        services.messenger.send = sending  # type: ignore[method-assign]
        services.db.write = writing  # type: ignore[method-assign]


#: keyed by the app's gateway, the object whose writes the watch wraps
_watches: weakref.WeakKeyDictionary[Database, _Watch] = weakref.WeakKeyDictionary()


def watch_links(app: App) -> App:
    """Watch ``app``'s sends and writes (before ``app.start()``, so no send is missed)."""
    if app.services.db not in _watches:
        _watches[app.services.db] = _Watch(app.services)
    return app


async def until_linked(
    app: App, text: str, *, chat_id: str | None = None, timeout: float = 10.0
) -> str:
    """The ticket number of the bot's latest message containing ``text`` (in ``chat_id``, as
    the bot names chats), once the bot has recorded the message's link: a quote of it now
    continues that ticket."""
    watch = _watches.get(app.services.db)
    assert watch is not None, "call watch_links(app) before app.start()"
    services = app.services

    async def linked() -> str | None:
        refs = [
            ref
            for reply, ref in watch.sent
            if text in reply.text and chat_id in (None, ref.chat_id)
        ]
        if not refs:
            return None
        ref = refs[-1]
        link = await services.db.read(
            lambda: services.links.ticket_for(ref.platform, ref.chat_id, ref.message_id)
        )
        return link.ticket_number if link is not None else None

    return await watch.changes.wait_until_checked(
        linked,
        timeout,
        lambda: (
            f"no recorded link for a bot message with {text!r} in {chat_id}; sent: "
            f"{[reply.text[:40] for reply, _ in watch.sent]}"
        ),
    )
