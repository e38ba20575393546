"""The durable inbox: store every arriving event before the platform is answered, handle it
from there in order per chat, mark it done, replay what was not done after a restart.

Adapters call ``Inbox.handlers()``: each handler returns once the event is committed (or
raises ``InboxUnavailable``, and the adapter does not confirm it, so the platform delivers it
again). Handling runs in lanes, one per chat, so a chat's messages are answered in order while
chats run side by side (at most ``concurrency`` at once); engineers' desk chats have their own
limit, so 接单 and /resolve never wait behind hospital traffic. A lane holds as many events as
arrive: they are stored, nothing is dropped.

A handler that fails on the database (it went away mid-handling) is retried, with backoff, in
its place in the lane, as is one whose send was deferred (``SendDeferred``: proven not
delivered, e.g. a long 429) — at most ``MAX_DEFERRALS`` times; any other exception marks the
event failed (logged, kept) so one bad event does not stop its chat.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.exc import SQLAlchemyError

from adapters.base import (
    ButtonPress,
    ChatEvent,
    ChatRef,
    CoreHandlers,
    InboxUnavailable,
    IncomingMessage,
)
from bot.inbox import codec
from bot.inbox.codec import Event
from bot.inbox.console import ConsoleEvent
from bot.inbox.models import InboxEvent, InboxState
from bot.inbox.scope import Handling, SendDeferred, current
from bot.inbox.store import InboxStore
from bot.infra.gateway import Database

log = logging.getLogger(__name__)

#: Errors that mean "the database is not there right now", not "this event is bad".
STORAGE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError)
#: How often an event whose sends keep being deferred (the platform refusing for minutes) is
#: tried before it is marked failed; database errors are retried without limit.
MAX_DEFERRALS = 20
#: Events claimed per transaction when taking over a dead worker's.
TAKE_OVER_BATCH = 500
RETRYABLE: tuple[type[BaseException], ...] = (*STORAGE_ERRORS, SendDeferred)


@dataclass
class _Job:
    id: int
    key: str
    event: Event
    replay: bool


@dataclass
class _Lane:
    jobs: collections.deque[_Job] = field(default_factory=collections.deque)
    worker: asyncio.Task[None] | None = None


class Inbox:
    """``core``: the handlers that act on an event (the pipeline's); ``is_desk``: whether a
    chat is an engineers' desk; ``incoming``: what every message passes before it is stored
    (the redaction gate: no unmasked text at rest); ``tell_delayed``: says once to a chat whose
    event could not be stored that its answer is delayed; ``console``: tells the chats what a
    console action changed (``record``/``queue``; None: console events are marked failed)."""

    def __init__(
        self,
        db: Database,
        store: InboxStore,
        core: CoreHandlers,
        *,
        is_desk: Callable[[ChatRef], bool],
        incoming: Callable[[IncomingMessage], IncomingMessage],
        tell_delayed: Callable[[ChatRef], Awaitable[None]],
        console: Callable[[ConsoleEvent], Awaitable[None]] | None = None,
        concurrency: int = 16,
        desk_concurrency: int = 4,
        retry_delays: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
    ) -> None:
        self._db = db
        self._store = store
        #: What acts on each stored event (the pipeline's handlers).
        self.core = core
        self._is_desk = is_desk
        self._incoming = incoming
        self._tell_delayed = tell_delayed
        self._console = console
        self._slots = asyncio.Semaphore(concurrency)
        self._desk_slots = asyncio.Semaphore(desk_concurrency)
        self._retry_delays = tuple(retry_delays) or (1.0,)
        self._lanes: dict[tuple[str, str, bool], _Lane] = {}
        #: Chats told their answer is delayed, until an event of theirs is stored again.
        self._delayed: set[tuple[str, str]] = set()
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def handlers(self) -> CoreHandlers:
        return CoreHandlers(self.put, self.put, self.put)

    # ---- storing -----------------------------------------------------------------------------

    async def put(self, event: IncomingMessage | ButtonPress | ChatEvent) -> None:
        """Store the event (idempotent on its platform key) and queue it in its chat's lane;
        raise ``InboxUnavailable`` when it cannot be stored."""
        if isinstance(event, IncomingMessage):
            event = self._incoming(event)
        chat = codec.chat_of(event)
        key = codec.event_key(event)
        desk = self._is_desk(chat)
        kind, payload = codec.kind_of(event), codec.encode(event)
        try:
            row_id = await self._db.write(
                lambda: self._store.put(chat.platform, key, chat.chat_id, kind, desk, payload)
            )
        except STORAGE_ERRORS as exc:
            log.warning(
                "inbox: %s event in chat %s:%s not stored (%s); not confirmed to the platform",
                kind,
                chat.platform,
                chat.chat_id,
                type(exc).__name__,
            )
            await self._say_delayed(chat, event)
            raise InboxUnavailable(f"event not stored: {type(exc).__name__}") from exc
        self._delayed.discard((chat.platform, chat.chat_id))
        if row_id is not None:
            self._enqueue(_Job(row_id, f"{chat.platform}:{key}", event, replay=False), desk)

    def record(self, event: ConsoleEvent) -> int | None:
        """Store a console action's event (on the database's writer, inside the transaction
        that makes the action's change: the change and the intent to tell are one commit);
        returns its row id for ``queue`` (None: stored before)."""
        key, payload = codec.event_key(event), codec.encode(event)
        chat_id = event.chat.chat_id
        return self._store.put(event.chat.platform, key, chat_id, codec.CONSOLE, False, payload)

    def queue(self, row_id: int | None, event: ConsoleEvent) -> None:
        """Handle a console event ``record`` committed, in its ticket's lane."""
        if row_id is not None:
            key = f"{event.chat.platform}:{codec.event_key(event)}"
            self._enqueue(_Job(row_id, key, event, replay=False), False)

    async def _say_delayed(self, chat: ChatRef, event: Event) -> None:
        if not isinstance(event, IncomingMessage) or event.from_self or event.sender.is_bot:
            return
        where = (chat.platform, chat.chat_id)
        if where in self._delayed:
            return
        self._delayed.add(where)
        try:
            await self._tell_delayed(ChatRef(chat.platform, chat.chat_id, chat.thread_id))
        except Exception:  # the notice is a courtesy; the event is not confirmed either way
            log.exception("inbox: could not tell chat %s:%s its answer is delayed", *where)

    # ---- handling ----------------------------------------------------------------------------

    async def start(self) -> int:
        """Queue what dead workers (this process before a crash or a stop, another worker
        killed) left unhandled, in arrival order; returns how many. Call before the adapters
        start, so replayed events go before new ones."""
        self._stopping.clear()
        return await self.take_over()

    async def take_over(self) -> int:
        """Claim and queue the unhandled events of dead workers (at start, and every few
        seconds with several workers: a worker killed mid-handling has its events finished
        by another within seconds, not at its own restart). Events a live worker holds are
        never taken, so none is handled twice at once."""
        taken = 0
        while not self._stopping.is_set():
            rows = await self._db.write(partial(self._store.take_over, TAKE_OVER_BATCH))
            for row in rows:
                await self._replay(row)
            taken += len(rows)
            if len(rows) < TAKE_OVER_BATCH:
                break
        if taken:
            log.info("inbox: replaying %d event(s) a dead worker left unhandled", taken)
        return taken

    async def _replay(self, row: InboxEvent) -> None:
        try:
            event = codec.decode(row.kind, row.payload)
        except (ValueError, TypeError, KeyError) as exc:
            log.error("inbox: event %s unreadable (%s): marked failed", row.id, exc)
            await self._finish(row.id or 0, InboxState.FAILED, row.attempts)
            return
        self._enqueue(_Job(row.id or 0, f"{row.platform}:{row.key}", event, replay=True), row.desk)

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the lanes finish what they hold for up to ``timeout`` seconds, then cancel:
        what is not done stays pending and is replayed at the next start."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        workers = [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._lanes.clear()
        self._idle.set()

    async def drained(self) -> None:
        """Wait until every queued event was handled (tests look only then)."""
        await self._idle.wait()

    def _enqueue(self, job: _Job, desk: bool) -> None:
        chat = codec.chat_of(job.event)
        where = (chat.platform, chat.chat_id, desk)
        if self._stopping.is_set() and where not in self._lanes:
            return  # stored: the next start replays it
        lane = self._lanes.setdefault(where, _Lane())
        lane.jobs.append(job)
        self._idle.clear()
        if lane.worker is None:
            slots = self._desk_slots if desk else self._slots
            lane.worker = asyncio.create_task(
                self._drain(where, lane, slots), name=f"inbox:{where[0]}:{where[1]}"
            )

    async def _drain(
        self, where: tuple[str, str, bool], lane: _Lane, slots: asyncio.Semaphore
    ) -> None:
        try:
            while lane.jobs:
                async with slots:
                    await self._handle(lane.jobs[0])
                lane.jobs.popleft()
        finally:
            lane.worker = None
            if self._lanes.get(where) is lane and not lane.jobs:
                del self._lanes[where]
            if not self._lanes:
                self._idle.set()

    async def _handle(self, job: _Job) -> None:
        """Run the event's handler until it completes or fails for a reason other than the
        database, then mark it done; database failures are retried with backoff."""
        attempts = 0
        while True:
            attempts += 1
            handling = Handling(job.key, job.replay or attempts > 1, asyncio.current_task())
            token = current.set(handling)
            try:
                await self._dispatch(job.event)
                state = InboxState.DONE
            except RETRYABLE as exc:
                deferred = isinstance(exc, SendDeferred)
                if deferred and attempts >= MAX_DEFERRALS:
                    log.error("inbox: event %s: a send kept failing; marked failed", job.id)
                    state = InboxState.FAILED
                else:
                    delay = self._retry_delays[min(attempts, len(self._retry_delays)) - 1]
                    log.warning(
                        "inbox: event %s: %s (%s); retrying in %.1f s",
                        job.id,
                        "a send was deferred" if deferred else "database error",
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
            except Exception:
                log.exception("inbox: handling event %s failed; marked failed", job.id)
                state = InboxState.FAILED
            finally:
                current.reset(token)
            await self._finish(job.id, state, attempts)
            return

    async def _finish(self, event_id: int, state: InboxState, attempts: int) -> None:
        """Mark the event handled; while the database is away, keep trying (the effects are
        keyed to the event, so a replay after a crash meanwhile would repeat none of them)."""
        failures = 0
        while True:
            try:
                await self._db.write(lambda: self._store.finish(event_id, state, attempts))
                return
            except STORAGE_ERRORS as exc:
                failures += 1
                delay = self._retry_delays[min(failures, len(self._retry_delays)) - 1]
                log.warning(
                    "inbox: event %s not marked done (%s); retrying in %.1f s",
                    event_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _dispatch(self, event: Event) -> None:
        if isinstance(event, IncomingMessage):
            await self.core.on_message(event)
        elif isinstance(event, ButtonPress):
            await self.core.on_button(event)
        elif isinstance(event, ConsoleEvent):
            if self._console is None:
                raise RuntimeError("console events need a console handler")
            await self._console(event)
        else:
            await self.core.on_chat_event(event)
