"""The card outbox: what each desk chat gets next, and when.

A desk chat takes only so many messages (Telegram: 20 a minute in a group; every adapter
declares its chats' budget, ``adapters.base.DeclaresSendBudget``), and a message handed to the
adapter waits there for its turn in arrival order: a P1 card handed over behind twenty P3 cards
waits a minute. So the order is decided here, before the adapter, on a model of the chat's
budget (``adapters.budget.BudgetMeter``, counting every message the messenger hands that
chat's adapter):

* P1/P2 tickets go in the chat's next free slot, and that message carries ALL of them then: a
  card when the budget lets each go at once (``urgent_digest_within_seconds``), else ONE urgent
  digest listing them with the mentions their cards would carry; non-urgent sends are held
  back entirely while an urgent one waits for its slot;
* a P3/P4 card or a digest only when ``[desk] non_urgent_per_minute`` allows and the budget
  keeps room for an urgent message right after it;
* when more non-urgent tickets wait than that rate clears (``digest_after_cards``, or the
  oldest waited ``digest_after_seconds``), ONE digest lists them instead of a card each;
* a card changed while the chat had no room (an incident joined, a claim) is re-rendered when
  the budget has room again: an edit spends it like a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from functools import partial

from adapters.base import BudgetMeter, ChatRef, SendBudget
from bot.desk.posting import DeskCards
from bot.desk.queue.digest import digest_reply
from bot.desk.queue.models import DeskDigest
from bot.desk.queue.settings import DeskSettings
from bot.desk.queue.store import DigestStore, cards_of_unknown_outcome
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.infra.scheduling import drain
from bot.tickets.models import URGENT, Ticket
from bot.tickets.store import TicketStore

log = logging.getLogger(__name__)


class DeskPace:
    """When the next message may go to a desk chat, on the services' clock. ``budget_of``: the
    chat's send budget as its adapter declares it (None: no limit known, only the non-urgent
    rate applies). The budget is modelled from every message the messenger hands the chat's
    adapter (cards, digests, relays, warnings, answers, edits) — per process."""

    def __init__(
        self,
        per_minute: float,
        budget_of: Callable[[ChatRef], SendBudget | None],
        clock: Clock,
    ) -> None:
        self._gap = dt.timedelta(seconds=60.0 / per_minute)
        self._budget_of = budget_of
        self._clock = clock
        self._last: dict[tuple[str, str], dt.datetime] = {}  # the last non-urgent send
        self._meters: dict[tuple[str, str], BudgetMeter] = {}

    def _now(self) -> float:
        return self._clock().timestamp()

    def _meter(self, chat: ChatRef) -> BudgetMeter | None:
        budget = self._budget_of(chat)
        if budget is None:
            return None
        key = (chat.platform, chat.chat_id)
        meter = self._meters.get(key)
        if meter is None or meter.budget != budget:
            meter = self._meters[key] = BudgetMeter(budget)
        return meter

    def entering(self, chat: ChatRef) -> None:
        """A message is about to reach the chat's adapter (a ``Messenger`` observer)."""
        meter = self._meter(chat)
        if meter is not None:
            meter.take_next(self._now())

    def non_urgent_sent(self, desk: ChatRef) -> None:
        self._last[(desk.platform, desk.chat_id)] = self._clock()

    def _free_in(self, desk: ChatRef, reserve: int) -> float:
        meter = self._meter(desk)
        if meter is None:
            return 0.0
        now = self._now()
        return max(0.0, meter.free_at(now, reserve) - now)

    def slot(self, desk: ChatRef) -> float:
        """Seconds until the chat's next message leaves at once (0: now)."""
        return self._free_in(desk, 0)

    def room(self, desk: ChatRef) -> float:
        """Seconds until one more message leaves room for an urgent one (0: now)."""
        return self._free_in(desk, 1)

    def passing_within(self, desk: ChatRef, seconds: float) -> int | None:
        """How many messages handed to the chat's adapter now leave within ``seconds``
        (None: no declared budget on this platform)."""
        meter = self._meter(desk)
        return None if meter is None else meter.passing_within(self._now(), seconds)

    def wait(self, desk: ChatRef) -> float:
        """Seconds until a non-urgent card or digest may go (0: now)."""
        last = self._last.get((desk.platform, desk.chat_id))
        gap = 0.0 if last is None else (last + self._gap - self._clock()).total_seconds()
        return max(0.0, gap, self.room(desk))


class DeskQueue:
    """One pass over every desk chat: urgent cards, then what the pace allows."""

    def __init__(
        self,
        *,
        db: Database,
        tickets: TicketStore,
        cards: DeskCards,
        messenger: Messenger,
        desk_chats: Sequence[ChatRef],
        clock: Clock,
        settings: DeskSettings,
    ) -> None:
        """``cards``: posts and re-renders the tickets' cards (and renders a digest's lines);
        ``desk_chats``: every engineers' desk chat."""
        self._db = db
        self._tickets = tickets
        self._cards = cards
        self._messenger = messenger
        self._desk_chats = tuple(desk_chats)
        self._clock = clock
        self._settings = settings
        self._digests = DigestStore(db.engine, clock)
        self.pace = DeskPace(settings.non_urgent_per_minute, messenger.send_budget, clock)
        self._desks = {(d.platform, d.chat_id) for d in self._desk_chats}
        #: The desk chats this worker posts to (None: all). With several workers each desk
        #: chat's queue is claimed by one of them (``CardOutbox.serve``), because what goes
        #: when is decided from that chat's modelled limiter, which lives in one process.
        self.serving: set[tuple[str, str]] | None = None
        #: per desk chat: tickets whose card (or digest line) changed while it had no room
        self._stale: dict[tuple[str, str], dict[str, None]] = {}
        messenger.observe(self._entering)

    def refresh_later(self, number: str, desk: ChatRef) -> None:
        """Re-render the ticket's card in ``desk`` when its rate has room (an edit spends it
        like a message; per process: a restart forgets it, the card stays as it was)."""
        self._stale.setdefault((desk.platform, desk.chat_id), {})[number] = None

    def _entering(self, chat: ChatRef) -> None:
        """Every message about to reach an adapter; only the desk chats' are modelled."""
        if (chat.platform, chat.chat_id) in self._desks:
            self.pace.entering(chat)

    def has_room(self, desk: ChatRef) -> bool:
        """A non-urgent message may go to this desk chat now without filling its limiter."""
        return self.pace.room(desk) == 0

    async def run_once(self, stopping: Callable[[], bool] = lambda: False) -> float | None:
        """Send what may go now; returns the seconds until the next non-urgent send may go
        (None: nothing waits). ``stopping``: checked between sends (one being sent is
        finished, never cut off)."""
        desks = [
            d
            for d in self._desk_chats
            if self.serving is None or (d.platform, d.chat_id) in self.serving
        ]
        waits = [await self._serve(desk, stopping) for desk in desks]
        pending = [w for w in waits if w is not None]
        return min(pending) if pending else None

    def _waiting(self, desk: ChatRef) -> tuple[list[Ticket], set[int]]:
        """Open tickets with neither a card nor a digest line in this desk (a card whose send
        went out with no answer counts as shown), and those a non-urgent digest listed but
        raised to P1/P2 since (they get a card of their own); and the ids of the latter (reads
        the db)."""
        covered = self._digests.covered_in(desk.platform, desk.chat_id)
        went = cards_of_unknown_outcome(self._db.engine, desk.platform, desk.chat_id)
        waiting = [
            t
            for t in self._tickets.tickets_without_card_in(desk.platform, desk.chat_id)
            if t.number not in went
        ]
        raised = {
            t.id for t in waiting if t.id in covered and not covered[t.id] and t.urgency in URGENT
        }
        return [t for t in waiting if t.id not in covered or t.id in raised], raised

    async def _serve(self, desk: ChatRef, stopping: Callable[[], bool]) -> float | None:
        failed: set[str] = set()  # a send that failed is retried at the next pass, not now
        while not stopping():
            waiting, raised = await self._db.read(partial(self._waiting, desk))
            waiting = [t for t in waiting if t.number not in failed]
            unsent = await self._db.read(partial(self._digests.unsent, desk.platform, desk.chat_id))
            unsent = [d for d in unsent if f"digest:{d.id}" not in failed]
            urgent = [t for t in waiting if t.urgency in URGENT]
            again = next((d for d in unsent if d.urgent), None)  # a crash or a failed send
            if (again is not None or urgent) and (slot := self.pace.slot(desk)) > 0:
                return slot  # its turn: whatever urgent waits then goes into that message
            if again is not None:
                if not await self._send_digest(again, desk):
                    failed.add(f"digest:{again.id}")
                continue
            if urgent:
                failed |= await self._send_urgent(desk, urgent, raised)
                continue
            stale = self._stale.get((desk.platform, desk.chat_id))
            if stale and self.pace.room(desk) == 0:  # before new non-urgent cards: claims show
                number = next(iter(stale))
                del stale[number]
                await self._cards.refresh(number, (desk,))
                continue
            if not waiting and not unsent:
                return self.pace.room(desk) if stale else None
            wait = self.pace.wait(desk)
            if wait > 0:
                return wait
            if unsent:  # written before a crash or a failed send: the same digest again
                sent = await self._send_digest(unsent[0], desk)
            elif len(waiting) > 1 and self._saturated(waiting):
                digest = await self._db.write(
                    partial(
                        self._digests.plan,
                        desk.platform,
                        desk.chat_id,
                        waiting[: self._settings.digest_max_tickets],
                    )
                )
                sent = digest is None or await self._send_digest(digest, desk)
                unsent = [digest] if digest is not None else []
            else:
                sent = await self._cards.post(waiting[0], desk)
            if sent:
                self.pace.non_urgent_sent(desk)
            else:
                failed.add(f"digest:{unsent[0].id}" if unsent else waiting[0].number)
        return None

    async def _send_urgent(self, desk: ChatRef, urgent: list[Ticket], raised: set[int]) -> set[str]:
        """The most urgent card, or ONE urgent digest listing every waiting P1/P2 when more
        wait than the chat's budget lets go within ``urgent_digest_within_seconds``; returns
        the keys of a failed send."""
        passing = self.pace.passing_within(desk, self._settings.urgent_digest_within_seconds)
        listable = [t for t in urgent if t.id not in raised][: self._settings.digest_max_tickets]
        if passing is not None and len(urgent) > passing and len(listable) > 1:
            digest = await self._db.write(
                partial(self._digests.plan, desk.platform, desk.chat_id, listable, urgent=True)
            )
            if digest is not None:
                sent = await self._send_digest(digest, desk)
                return set() if sent else {f"digest:{digest.id}"}
        return set() if await self._cards.post(urgent[0], desk) else {urgent[0].number}

    def _saturated(self, waiting: list[Ticket]) -> bool:
        """More non-urgent tickets wait than the pace clears soon, or one waited too long."""
        if len(waiting) > self._settings.digest_after_cards:
            return True
        oldest = min(t.created_at for t in waiting)
        age = (self._clock() - oldest).total_seconds()
        return age > self._settings.digest_after_seconds

    async def _send_digest(self, digest: DeskDigest, desk: ChatRef) -> bool:
        """Send a written digest, keyed ``digest:<id>`` (a restart never re-posts it)."""
        assert digest.id is not None
        digest_id = digest.id

        reply = await self._db.read(
            lambda: digest_reply(
                self._cards,
                self._digests.tickets_of(digest_id),
                desk,
                self._settings.digest_buttons,
                urgent=digest.urgent,
            )
        )
        sent = await self._messenger.send(reply, key=f"digest:{digest_id}", retry_later=True)
        if sent is None:
            return False
        await self._db.write(partial(self._digests.record, digest_id, sent.message_id))
        kind = "urgent digest" if digest.urgent else "digest"
        log.info("%s %d posted to %s:%s", kind, digest_id, desk.platform, desk.chat_id)
        return True


class CardOutbox:
    """Posts the engineers' cards of new tickets in the background, one at a time.

    Tickets are written before their card; this worker sends every ticket that has none yet —
    right after ``notify()``, at start (cards lost to a crash), when the pace lets the next
    non-urgent card go, and every ``interval`` seconds (cards whose sending failed). A card's
    send is keyed (``card:<ticket>:<desk>``) and claimed by this worker in the outbox before
    the platform call: two senders never post it twice, and a worker that died mid-send leaves
    it ``unknown``, not re-posted. With several workers each runs one, serving the desk chats
    whose lease it holds (``serve``/``unserve``).
    """

    def __init__(self, queue: DeskQueue, interval: float = 60.0, *, by_lease: bool = False) -> None:
        """``by_lease``: one of several workers — post to no desk chat until ``serve``."""
        self.queue = queue
        if by_lease:
            self.queue.serving = set()
        self._interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def refresh_later(self, number: str, desk: ChatRef) -> None:
        """The queue re-renders the card when the desk has room (``DeskNotifier``)."""
        self.queue.refresh_later(number, desk)
        self.notify()

    def has_room(self, desk: ChatRef) -> bool:
        """``DeskNotifier.has_room``: the pace leaves room for a non-urgent message now."""
        return self.queue.has_room(desk)

    def notify(self) -> None:
        """Wake the worker; callable from any thread (a web form's ticket is written on the
        database gateway's writer)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def serve(self, desk: ChatRef) -> None:
        """Post to this desk chat too (its lease was gained); until the first call, to all."""
        serving = self.queue.serving = self.queue.serving or set()
        serving.add((desk.platform, desk.chat_id))
        self.notify()

    def unserve(self, desk: ChatRef) -> None:
        """Stop posting to this desk chat (its lease was lost); a card being sent finishes."""
        serving = self.queue.serving = self.queue.serving or set()
        serving.discard((desk.platform, desk.chat_id))

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False  # started again after a stop (a worker regaining the lead)
        self._task = asyncio.create_task(self._run(), name="card-outbox")

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Stop taking cards; the one being sent finishes (up to ``drain_seconds``, like the
        broadcast outbox), so a stop never leaves a card posted but not recorded."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        await drain(task, drain_seconds)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wait: float | None = None
            try:
                wait = await self.queue.run_once(lambda: self._stopping)
            except Exception:  # a bad row must not stop the outbox for every other ticket
                log.exception("posting ticket cards failed")
            timeout = self._interval if wait is None else min(self._interval, wait)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and the worker would then sleep through stop()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
