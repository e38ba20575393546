"""The broadcaster: one asyncio task that fires due waves and works the outbox.

A round (``process_once``): fire the waves whose time has come (quiet hours and the late
policy decide first), reserve up to ``batch`` due deliveries, and send them — one lane per
platform, each paced by the ``Pacer`` and holding at most ``concurrency`` messages in flight —
through the one durable send path (``bot.inbox.sending``: claimed in ``outbox_message``,
``queued`` while the adapter's limiter holds it, ``sending`` once it leaves, recorded after),
then copy each outcome into the delivery's report (``bot.broadcasts.deliveries``). A crash costs
at most the sends on the wire as 'unknown', never a duplicate. Tests drive rounds directly
with a fake clock; the task only loops them, sleeping until the next retry is due, a poll
interval passes, or ``wake()`` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from adapters.base import ChatRef, Reply
from bot.broadcasts import render
from bot.broadcasts.access import Actor
from bot.broadcasts.desk_messages import DeskMessages
from bot.broadcasts.models import (
    Delivery,
    Notice,
    NoticeWave,
    WaveKind,
    WaveStatus,
    delivery_key,
)
from bot.broadcasts.store import BroadcastStore
from bot.broadcasts.transport import Pacer, Transport
from bot.inbox.sending import KeyedSender, Outcome, SendResult
from bot.infra.clock import as_utc
from bot.infra.gateway import Database
from bot.infra.scheduling import drain

log = logging.getLogger(__name__)

#: Waves that wait out quiet hours and that a late start may mark missed. The test copy goes
#: to engineers; "started"/"completed" report work happening now, so they are never held.
_HELD_KINDS = (WaveKind.MAIN, WaveKind.REMINDER, WaveKind.ACK_REMINDER)
#: How long ``send_test`` waits for a test copy another sender has in flight (a round of this
#: worker's loop, or another worker's, took it first): the engineer is waiting for its outcome.
_TEST_COPY_WAIT_SECONDS = 10.0
_TEST_COPY_LOOK_SECONDS = 0.05


class _Renderer:
    """Notices, items and waves read once per round, not once per delivery."""

    def __init__(self, store: BroadcastStore, db: Database) -> None:
        self._store = store
        self._db = db
        self._notices: dict[int, tuple[Notice, list[str], list[str]]] = {}
        self._waves: dict[int, NoticeWave] = {}

    async def reply(self, d: Delivery) -> Reply:
        if d.notice_id in self._notices and d.wave_id in self._waves:
            return self._render(d)
        return await self._db.read(lambda: self._render(d))

    def _render(self, d: Delivery) -> Reply:
        if d.notice_id not in self._notices:
            self._notices[d.notice_id] = (
                self._store.get(d.notice_id),
                *self._store.items(d.notice_id),
            )
        if d.wave_id not in self._waves:
            found = self._store.waves.wave(d.wave_id)
            assert found is not None
            self._waves[d.wave_id] = found[0]
        notice, modules, services = self._notices[d.notice_id]
        wave = self._waves[d.wave_id]
        return render.delivery_reply(d, notice, wave, modules, services, self._store.settings)


class Broadcaster:
    def __init__(
        self,
        store: BroadcastStore,
        transport: Transport,
        desk_chats: Sequence[ChatRef] = (),
        pacer: Pacer | None = None,
        db: Database | None = None,
        workers: Callable[[], int] = lambda: 1,
    ) -> None:
        """``db``: the bot's database gateway (a gateway of its own over the store's engine
        when the broadcaster runs alone, as in the CLI and tests); ``workers``: how many
        workers send notices at once (reads the database; each takes its share of the
        platform's rate)."""
        self.store = store
        self.db = db or Database(store.engine)
        self.settings = store.settings
        self.transport = transport
        self.desk_chats = tuple(desk_chats)
        self.pacer = pacer or Pacer(self.settings)
        self.sender = KeyedSender(self.db, store.sends)
        #: Alerts and command replies to the engineers' chats, keyed like every durable send.
        self.desk = DeskMessages(
            self.db, store.engine, store.now, transport, self.sender, desk_chats
        )
        self._workers = workers
        #: Called after waves changed in this process (the scheduler re-syncs its jobs).
        self.on_waves_changed: Callable[[], None] = lambda: None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._deferred = float("inf")

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, worker: bool = True) -> int:
        """Settle what a dead process left half-sent, then start the worker task. Returns how
        many sends were found interrupted on the wire (now 'unknown')."""
        self._stopping = False
        unknown = await self.reconcile()
        if worker and self._task is None:
            self._task = asyncio.create_task(self._run(), name="hisbot broadcaster")
        return unknown

    async def reconcile(self) -> int:
        """The outbox's own reconciliation (``OutboxStore.interrupted``): a dead worker's sends
        on the wire become 'unknown', those still in its limiter are forgotten (sent by the
        next reservation). Its deliveries stay queued; the next round copies each outcome and
        tells the engineers of the unknown ones (and any alert a crash left owed)."""
        return await self.db.write(self.store.sends.interrupted)

    async def stop(self) -> None:
        """Stop taking deliveries; let the ones in flight finish (``drain_seconds``)."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        await drain(task, self.settings.drain_seconds)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_sync = 0.0
        while not self._stopping:
            try:
                sent = await self.process_once()
                if loop.time() - last_sync >= self.settings.poll_seconds:
                    last_sync = loop.time()
                    self.on_waves_changed()
            except Exception:  # the loop must survive a bad round (database hiccup, bug)
                log.exception("broadcast round failed")
                sent = 0
            if sent or self._stopping:
                continue
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(await self._idle_seconds()):
                    await self._wake.wait()
            self._wake.clear()

    async def _idle_seconds(self) -> float:
        wait = min(self.settings.poll_seconds, self._deferred)
        try:
            due = await self.db.read(
                lambda: self.store.deliveries.next_attempt_at(self.store.now())
            )
        except SQLAlchemyError:  # the database is away: look again after the usual wait
            log.warning("broadcaster: next attempt unknown (database unavailable)")
            due = None
        if due is not None:
            wait = min(wait, (due - self.store.now()).total_seconds())
        return max(wait, 0.01)

    # -- a round ------------------------------------------------------------------------------

    async def process_once(self) -> int:
        """Fire due waves, send due deliveries; returns how many deliveries were attempted."""
        await self.fire_due()
        now = self.store.now()
        self.pacer.workers = await self.db.read(self._workers)
        rows = await self.db.write(
            lambda: self.store.deliveries.reserve_due(now, self.settings.batch)
        )
        self._deferred = float("inf")
        lanes: dict[str, list[Delivery]] = {}
        for row in rows:
            lanes.setdefault(row.platform, []).append(row)
        renderer = _Renderer(self.store, self.db)
        ended = await asyncio.gather(*(self._lane(p, r, renderer) for p, r in lanes.items()))
        outcomes = [outcome for lane in ended for outcome in lane]
        await self.desk.tell_unknown()
        await self.db.write(lambda: self.store.deliveries.finish_notices(self.store.now()))
        return len(outcomes)

    async def _lane(
        self, platform: str, rows: list[Delivery], renderer: _Renderer
    ) -> list[tuple[Delivery, str]]:
        slots = asyncio.Semaphore(self.settings.pace(platform).concurrency)
        tasks: list[asyncio.Task[tuple[Delivery, str] | None]] = []
        for row in rows:
            if self._stopping:
                break
            wait = self.pacer.chat_wait(platform, row.chat_id)
            if wait > 0:  # this chat had one of ours moments ago: next round
                self._deferred = min(self._deferred, wait)
                continue
            self.pacer.reserve_chat(platform, row.chat_id)
            await slots.acquire()
            tasks.append(asyncio.create_task(self._deliver(row, renderer, slots)))
        return [done for done in await asyncio.gather(*tasks) if done is not None]

    async def _deliver(
        self, row: Delivery, renderer: _Renderer, slots: asyncio.Semaphore | None = None
    ) -> tuple[Delivery, str] | None:
        """Pace → the durable send path (claim → send → record) → copy the outcome into the
        delivery. Returns the row and its new status, or None when nothing was attempted
        (another worker's send, or the outcome recorded already). The message is rendered
        before the claim; a crash or cancellation (not ``Exception``) leaves the outbox row
        as it stands, for ``OutboxStore.interrupted``."""
        row_id = row.id
        assert row_id is not None
        stamp = None
        try:
            if slots is not None:
                stamp = await self.pacer.slot(row.platform)
            reply = await renderer.reply(row)
            last = self.store.deliveries.last_try(row)
            try:
                result = await self.sender.send(
                    self.transport.sender(row_chat(row)),
                    reply,
                    delivery_key(row),
                    retry=lambda exc: not exc.permanent and not last,
                )
            except Exception as exc:  # a bug or the database: retried (unknown if it left)
                log.warning("delivery %s failed unexpectedly: %s", row_id, exc)
                why = f"{type(exc).__name__}: {exc}"
                result = SendResult(Outcome.FAILED if last else Outcome.RETRY, reason=why)
            status = await self.db.write(
                lambda: self.store.deliveries.record(row_id, result, self.store.now())
            )
            if result.outcome is Outcome.ELSEWHERE or status is None:
                return None
            if result.outcome is not Outcome.SENT:
                where = f"{row.platform}:{row.chat_id}"
                log.info("delivery %s to %s: %s (%s)", row_id, where, status, result.reason)
            return row, status
        finally:
            if stamp is not None:
                self.pacer.done(row.platform, stamp)
            if slots is not None:
                slots.release()

    # -- waves --------------------------------------------------------------------------------

    async def fire_due(self) -> int:
        fired = 0
        due = await self.db.read(lambda: self.store.waves.due_waves(self.store.now()))
        for wave in due:
            assert wave.id is not None
            fired += await self.fire_wave(wave.id) == "fired"
        return fired

    async def fire_wave(self, wave_id: int) -> str:
        """Fire one wave if it is due: "fired", "held", "missed", "skipped", "not_due" or
        "done" (already fired or ended — the idempotent case)."""
        outcome, alert = await self.db.write(lambda: self._fire_wave(wave_id))
        if outcome == "missing":
            # told before the wave is closed, keyed by the wave: a crash in between makes the
            # next round decide again and find the alert sent; not told yet (a transient
            # failure, another worker's send): the wave stays for the next round
            if await self.desk.alert(alert, f"notice-missed:{wave_id}"):
                outcome = await self.db.write(lambda: self._close_missed(wave_id))
            else:
                outcome = "missed"
        if outcome in ("held", "fired"):
            self.on_waves_changed()
        if outcome == "fired":
            self.wake()
        return outcome

    def _fire_wave(self, wave_id: int) -> tuple[str, str]:
        """``fire_wave``'s database work (on the gateway's writer): the outcome, and for
        "missing" (a late wave to mark missed once the engineers are told) the alert."""
        now = self.store.now()
        found = self.store.waves.wave(wave_id)
        if found is None:
            return "done", ""
        wave, notice = found
        if wave.status != WaveStatus.SCHEDULED or wave.due_at is None:
            return "done", ""
        due = as_utc(wave.due_at)
        if due > now:
            return "not_due", ""
        kind, s = WaveKind(wave.kind), self.settings
        if kind in _HELD_KINDS and s.late == "mark_missed" and now - due > s.grace:
            return "missing", (
                f"⚠️ 通知 #{notice.id}《{notice.title}》的{_WAVE_NAMES[kind]}原定 "
                f"{s.local(due)} 发送，当时机器人未运行，已标记为“错过”，未发送。"
                f"如仍需发送：/notice send {notice.id}"
            )
        if kind in _HELD_KINDS and not notice.urgent and s.in_quiet_hours(now):
            until = s.quiet_end(now)
            start = as_utc(notice.window_start) if notice.window_start else None
            if kind is WaveKind.REMINDER and start is not None and until >= start:
                return self._skip(wave_id, notice, "quiet hours last until the window starts"), ""
            self.store.waves.hold(wave_id, until, f"held for quiet hours until {s.local(until)}")
            self.store.audit(
                Actor.system(), "held", notice.id, True, f"{kind} until {s.local(until)}"
            )
            return "held", ""
        if kind is WaveKind.REMINDER and notice.window_start and as_utc(notice.window_start) <= now:
            return self._skip(wave_id, notice, "the window has already started"), ""
        count = self.store.waves.fire(wave_id, now)
        if count is None:
            return "done", ""
        self.store.audit(Actor.system(), "fired", notice.id, True, f"{kind}: {count} chats")
        return "fired", ""

    def _close_missed(self, wave_id: int) -> str:
        """Mark a late wave missed (the engineers were told): "missed", or "done" when
        another worker closed it first."""
        found = self.store.waves.wave(wave_id)
        due = found[0].due_at if found else None
        if found is None or due is None:
            return "done"
        wave, notice = found
        s, now = self.settings, self.store.now()
        note = f"due {s.local(as_utc(due))}; the bot was not running until {s.local(now)}"
        if not self.store.waves.close_wave(wave_id, WaveStatus.MISSED, note, now):
            return "done"
        self.store.audit(Actor.system(), "missed", notice.id, True, f"{wave.kind}: {note}")
        return "missed"

    def _skip(self, wave_id: int, notice: Notice, why: str) -> str:
        self.store.waves.close_wave(wave_id, WaveStatus.SKIPPED, why, self.store.now())
        self.store.audit(Actor.system(), "skipped", notice.id, True, f"reminder: {why}")
        return "skipped"

    # -- direct sends -------------------------------------------------------------------------

    async def send_test(self, notice_id: int, by: Actor) -> str:
        """Queue the test copy and deliver it now (the engineer is waiting for it)."""
        await self.db.write(lambda: self.store.request_test(notice_id, by, self.desk_chats))
        renderer = _Renderer(self.store, self.db)
        rows = await self.db.read(lambda: self.store.deliveries.of_notice(notice_id, WaveKind.TEST))
        ended = [await self._deliver(row, renderer) for row in rows if row.status == "queued"]
        if any(d is not None and d[1] == "unknown" for d in ended):
            await self.desk.tell_unknown()
        state = await self.db.read(lambda: self.store.test_state(notice_id))
        if None not in ended:
            return state
        # a copy was sent by another sender — a round of the loop reserved it first — and may
        # still be on its way: its outcome is a moment off ("pending" would tell the engineer
        # it did not arrive while it is arriving)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _TEST_COPY_WAIT_SECONDS
        while state == "pending" and loop.time() < deadline:
            await asyncio.sleep(_TEST_COPY_LOOK_SECONDS)
            state = await self.db.read(lambda: self.store.test_state(notice_id))
        return state


def row_chat(delivery: Delivery) -> ChatRef:
    return ChatRef(delivery.platform, delivery.chat_id)


_WAVE_NAMES = {
    WaveKind.MAIN: "通知",
    WaveKind.REMINDER: "升级提醒",
    WaveKind.ACK_REMINDER: "确认提醒",
}
