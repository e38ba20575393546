"""The moment a send leaves an adapter for the network (``adapters.base.ReleasesSends``).

An adapter's ``send_released`` runs its ordinary ``send`` inside ``releasing(on_release)``;
its limiter or pacer calls ``released()`` where it lets a request go, right before the
request is written. Carried in a context variable so the hook needs no parameter through
every layer between the two (renderers, retries, the HTTP client's own limiter callback)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

Hook = Callable[[], Awaitable[None]]


class _Once:
    """The hook does its work the first time only: a message sent in several parts, or a
    request tried again after a 429, is released once."""

    def __init__(self, hook: Hook) -> None:
        self._hook: Hook | None = hook

    async def __call__(self) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook()


_RELEASE: ContextVar[_Once | None] = ContextVar("adapter_send_release", default=None)


@contextlib.contextmanager
def releasing(on_release: Hook) -> Iterator[None]:
    """Inside: the current send calls ``on_release`` once, at its first ``released()``."""
    token = _RELEASE.set(_Once(on_release))
    try:
        yield
    finally:
        _RELEASE.reset(token)


async def released() -> None:
    """A request of the current send leaves now: tell the core (once). Raises what the hook
    raises (the core could not record it): the caller must then not make the request."""
    hook = _RELEASE.get()
    if hook is not None:
        await hook()
