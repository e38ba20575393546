"""The watch: starts a new ticket's clocks, pages for P1s and breaches, warns the desk, and
runs the clock worker. Every step lands in the ticket's audit trail.

Database work goes through the gateway; the worker's ``tick()`` is what tests call with a
fake clock (``run()`` only repeats it every ``[sla] tick_seconds`` or when woken).

Every step is an ``sla_step`` row (``bot.sla.steps``) and every send of it is keyed in the
outbox by the step and its recipient: a step interrupted by a crash or a leader change is
carried out again by the next round that takes it over, sending only what was not sent (a
send whose outcome is unknown is audited, not repeated); a replayed step whose clock was
acknowledged or stopped meanwhile sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from adapters.base import ChatRef, Reply
from bot.duty.roster import Roster
from bot.infra.clock import Clock, as_utc
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Hospital
from bot.registry.store import RegistryStore
from bot.sla import texts
from bot.sla.clocks import Firing, SlaClocks
from bot.sla.models import SlaClock, Step
from bot.sla.paging import Page, Pager, PageResult
from bot.sla.pulse import Pulse
from bot.sla.steps import SlaSteps
from bot.tickets.flow import SystemNotes
from bot.tickets.models import Ticket
from bot.tickets.store import TicketStore

log = logging.getLogger(__name__)

_STEP_NAMES = {
    Step.WARN: "预警",
    Step.BREACH: "超时呼叫",
    Step.REPAGE: "重复呼叫",
    Step.P1: "P1 呼叫",
}


class SlaWatch:
    def __init__(
        self,
        clocks: SlaClocks,
        roster: Roster,
        pager: Pager,
        tickets: TicketStore,
        registry: RegistryStore,
        messenger: Messenger,
        desk_chats: Sequence[ChatRef],
        clock: Clock,
        db: Database,
        steps: SlaSteps,
        pulse: Pulse | None = None,
    ) -> None:
        self.clocks = clocks
        self.steps = steps
        self._db = db
        self.roster = roster
        self._pager = pager
        self._tickets = tickets
        #: the SLA's audit notes on tickets, written as the ticket flow's (``SystemNotes``)
        self._notes = SystemNotes(db, tickets, "SLA")
        self._registry = registry
        self._messenger = messenger
        self._desks = tuple(desk_chats)
        self._clock = clock
        self.pulse = pulse or Pulse()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._paging: set[asyncio.Task[None]] = set()
        #: P1 tickets whose opening notice is on its way: their page's outcome waits for it
        self._notices: dict[str, asyncio.Event] = {}
        #: Steps of this worker whose release or completion could not be written (the
        #: database away): carried out again at its next round, their sends skipped.
        self._stranded: list[Firing] = []

    def now(self) -> dt.datetime:
        return as_utc(self._clock())

    # -- new tickets ---------------------------------------------------------------------------

    async def ticket_opened(
        self, ticket: Ticket, hospital: Hospital, told: asyncio.Event | None = None
    ) -> str:
        """Start the clocks; a P1 pages the on-call engineer and the lead at once, in the
        background (a storm must not hold the hospital's chat on the paging sends), and the
        hospital is told who was reached when the page is done — after ``told`` is set, when
        given: the caller sets it once it has sent what this returns, so 「已呼叫…」 never
        arrives before 「正在呼叫…」. Returns what the hospital may truthfully be told now."""
        now, clocks = self.now(), self.clocks
        await self._db.write(lambda: clocks.start(ticket.number, now))
        self.pulse.beat()
        self.notify()
        if ticket.urgency != "P1":
            return texts.ticket_queued(ticket.number)
        await self._open_page(ticket, now, told)
        return texts.p1_paging(ticket.number)

    async def urgency_changed(self, ticket: Ticket) -> None:
        """An engineer changed the ticket's urgency: its clocks take the new targets
        (``SlaClocks.retarget``); nobody is paged — the engineer who changed it knows."""
        now, clocks = self.now(), self.clocks
        await self._db.write(lambda: clocks.retarget(ticket.number, now))
        self.notify()

    async def raised_to_p1(self, ticket: Ticket, told: asyncio.Event | None = None) -> str:
        """An open ticket became a P1 (several people reported it): its clocks fall due by
        the P1 targets from now, and the on-call engineer and the lead are paged as for a P1
        opened now (keyed: a replay pages once). Returns what the hospital may be told."""
        await self.urgency_changed(ticket)
        await self._open_page(ticket, self.now(), told)
        return texts.p1_paging(ticket.number)

    async def _open_page(
        self, ticket: Ticket, now: dt.datetime, told: asyncio.Event | None
    ) -> None:
        """Claim the P1's opening page and carry it out in the background."""
        steps = self.steps
        firing = await self._db.write(lambda: steps.open_page(ticket.number, now))
        if firing is None:  # a replayed opening: the page is under way, or done
            return
        if told is not None:
            self._notices[ticket.number] = told
        task = asyncio.create_task(self._carry_out(firing), name=f"page-{ticket.number}")
        self._paging.add(task)
        task.add_done_callback(self._paging.discard)

    async def _page_p1(self, firing: Firing, ticket: Ticket, hospital: Hospital | None) -> None:
        """The opening page, then the hospital is told who was reached (keyed: once)."""
        notice_sent = self._notices.pop(ticket.number, None)
        roster, now = self.roster, self.now()
        if hospital is not None:
            routing = await self._db.read(lambda: roster.routing(hospital, "P1", now))
            engineers, name = routing.page, hospital.name
        else:  # a hospital removed since: the on-call engineer and the lead
            engineers, name = tuple(await self._on_duty()), ticket.hospital_id
        result = await self._page(ticket, name, engineers, texts.p1_page(ticket, name), firing)
        if notice_sent is not None:  # the page went at once; its outcome follows the notice
            await notice_sent.wait()
        if result.reached:
            local = self.roster.local(result.at)
            told = texts.p1_paged(ticket.number, result.reached_names, local)
        else:
            told = texts.p1_queued(ticket.number)
        chat = ChatRef(ticket.source_platform, ticket.source_chat_id, ticket.source_thread_id)
        reply = Reply(chat=chat, text=told, reply_to=ticket.source_message_id)
        await self._messenger.send(reply, key=f"{firing.key}:told")

    async def settled(self) -> None:
        """Wait until every P1 page in flight is done (tests, shutdown)."""
        while self._paging:
            await asyncio.gather(*self._paging, return_exceptions=True)

    def mentions(self, ticket: Ticket, hospital: Hospital) -> tuple[str, ...]:
        """Engineers to mention on the ticket's desk card (routing at the time it opened)."""
        return self.roster.routing(hospital, ticket.urgency, ticket.created_at).mention

    async def _page(
        self,
        ticket: Ticket,
        hospital_name: str,
        engineer_ids: Sequence[str],
        text: str,
        firing: Firing,
    ) -> PageResult:
        page = Page(
            ticket.number, ticket.urgency, hospital_name, text, tuple(engineer_ids), firing.key
        )
        result = await self._pager.page(page)
        await self._audit(
            ticket.number,
            f"SLA 呼叫：{result.summary()}" if engineer_ids else "SLA 呼叫：值班表无人可呼叫",
        )
        self.pulse.beat()
        return result

    # -- the worker ----------------------------------------------------------------------------

    async def tick(self) -> list[Firing]:
        """Carry out every step that is due now, and every step a dead worker left (or that
        failed before); returns what was done."""
        now, clocks, steps = self.now(), self.clocks, self.steps
        firings, self._stranded = self._stranded, []
        firings += await self._db.write(lambda: clocks.claim_due(now))
        firings += await self._db.write(lambda: steps.take_over(now))
        for firing in firings:
            await self._carry_out(firing)
        if firings:
            self.pulse.beat()
        return firings

    async def _carry_out(self, firing: Firing) -> None:
        """One step: its sends, then the step marked done; a failure releases it for the
        next round (its sends already recorded are skipped then)."""
        steps, now = self.steps, self.now()
        try:
            try:
                await self._fire(firing)
            except Exception:  # one ticket's failure must not stop the others' pages
                log.exception("SLA step %s of %s failed", firing.step, firing.ticket_number)
                if await self._db.write(lambda: steps.release(firing.step_id, now)):
                    await self._audit(
                        firing.ticket_number, f"SLA 步骤多次失败，已放弃：{firing.key}"
                    )
                return
            await self._db.write(lambda: steps.finish(firing.step_id, now))
        except Exception:  # the database is away: the step stays this worker's, pending
            log.exception("SLA step %s of %s not recorded", firing.step, firing.ticket_number)
            self._stranded.append(dataclasses.replace(firing, replay=True))

    async def _fire(self, firing: Firing) -> None:
        tickets, registry = self._tickets, self._registry
        ticket = await self._db.read(lambda: tickets.get(firing.ticket_number))
        hospital = await self._db.read(lambda: registry.get_hospital(ticket.hospital_id))
        if firing.replay and await self._settled_meanwhile(firing):
            await self._audit(
                ticket.number, f"SLA：中断的{_STEP_NAMES[firing.step]}不再补发（已接单或已确认）"
            )
            return
        if firing.step == Step.P1:
            await self._page_p1(firing, ticket, hospital)
            return
        name = hospital.name if hospital else ticket.hospital_id
        due = self.roster.local(firing.due_at)
        again = "，接续中断的一轮" if firing.replay else ""
        if firing.step == Step.WARN:
            text = texts.desk_warning(ticket, firing.kind, due)
            await self._audit(
                ticket.number,
                f"SLA 预警：{firing.kind.label}时限已过 80%（{due:%m-%d %H:%M} 到期{again}）",
            )
            await self._tell_desks(text, firing)
            return
        await self._audit(
            ticket.number,
            f"SLA 超时：{firing.kind.label}时限 {due:%m-%d %H:%M} 已过"
            f"（第 {firing.page_no} 次呼叫{again}）",
        )
        result = await self._page(
            ticket,
            name,
            await self._on_duty(),
            texts.breach_page(ticket, name, firing, due),
            firing,
        )
        await self._tell_desks(texts.desk_breach(ticket, firing, result), firing)

    async def _on_duty(self) -> list[str]:
        """The on-call engineer and the leads, now."""
        roster, now = self.roster, self.now()
        duty = await self._db.read(lambda: roster.now(now))
        return [e for e in (duty.on_call, *duty.leads) if e]

    async def _settled_meanwhile(self, firing: Firing) -> bool:
        """A replayed step whose clock stopped (claimed, resolved) or whose pages were
        acknowledged since it was claimed: nothing to send any more."""
        clocks, number = self.clocks, firing.ticket_number
        rows = await self._db.read(lambda: clocks.for_ticket(number))
        clock = next((c for c in rows if c.kind == firing.kind), None)
        if clock is None or clock.stopped_at is not None:
            return True
        return firing.step != Step.WARN and clock.acknowledged_at is not None

    async def _tell_desks(self, text: str, firing: Firing) -> None:
        for desk in self._desks:
            key = f"{firing.key}:desk:{desk.platform}:{desk.chat_id}"
            await self._messenger.send(Reply(chat=desk, text=text), key=key)

    async def _audit(self, number: str, text: str) -> None:
        await self._notes.note(number, text)

    # -- engineers' actions --------------------------------------------------------------------

    async def pause(self, number: str, engineer_id: str, reason: str) -> list[SlaClock]:
        store, now = self.clocks, self.now()
        clocks = await self._db.write(lambda: store.pause(number, now))
        if clocks:
            await self._audit(number, f"SLA 暂停（等待医院）：{engineer_id} {reason}".rstrip())
            self.pulse.beat()
        return clocks

    async def resume(self, number: str, by: str) -> list[SlaClock]:
        store, now = self.clocks, self.now()
        clocks = await self._db.write(lambda: store.resume(number, now))
        if clocks:
            await self._audit(number, f"SLA 继续计时：{by}")
            self.pulse.beat()
            self.notify()
        return clocks

    async def acknowledge(self, number: str, engineer_id: str) -> list[SlaClock]:
        store, now = self.clocks, self.now()
        clocks = await self._db.write(lambda: store.acknowledge(number, engineer_id, now))
        if clocks:
            await self._audit(number, f"SLA 呼叫已确认：{engineer_id}，停止重复呼叫")
            self.pulse.beat()
        return clocks

    # -- running -------------------------------------------------------------------------------

    def notify(self) -> None:
        self._wake.set()

    def start(self, interval: float) -> None:
        self._task = asyncio.create_task(self._run(interval), name="sla-watch")

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):  # pages in flight get a moment to go out
            async with asyncio.timeout(5):
                await self.settled()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, interval: float) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # the database may be briefly unreachable: try again next round
                log.exception("SLA clock worker failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
