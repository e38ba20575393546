"""The watch: starts a new ticket's clocks, pages for P1s and breaches, warns the desk, and
runs the clock worker. Every step lands in the ticket's audit trail.

Database work runs in executors; the worker's ``tick()`` is what tests call with a fake clock
(``run()`` only repeats it every ``[sla] tick_seconds`` or when woken).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence

from adapters.base import ChatRef, Reply
from bot.duty.roster import Roster
from bot.infra.clock import Clock, as_utc
from bot.infra.messenger import Messenger
from bot.registry.models import Hospital
from bot.registry.store import RegistryStore
from bot.sla import texts
from bot.sla.clocks import Firing, SlaClocks
from bot.sla.models import SlaClock, Step
from bot.sla.paging import Page, Pager, PageResult
from bot.sla.pulse import Pulse
from bot.tickets.models import Ticket
from bot.tickets.store import Actor, TicketStore

log = logging.getLogger(__name__)


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
        pulse: Pulse | None = None,
    ) -> None:
        self.clocks = clocks
        self.roster = roster
        self._pager = pager
        self._tickets = tickets
        self._registry = registry
        self._messenger = messenger
        self._desks = tuple(desk_chats)
        self._clock = clock
        self.pulse = pulse or Pulse()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._paging: set[asyncio.Task[None]] = set()

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
        now = self.now()
        await asyncio.to_thread(self.clocks.start, ticket.number, now)
        self.pulse.beat()
        self.notify()
        if ticket.urgency != "P1":
            return texts.ticket_queued(ticket.number)
        task = asyncio.create_task(
            self._page_p1(ticket, hospital, told), name=f"page-{ticket.number}"
        )
        self._paging.add(task)
        task.add_done_callback(self._paging.discard)
        return texts.p1_paging(ticket.number)

    async def _page_p1(
        self, ticket: Ticket, hospital: Hospital, notice_sent: asyncio.Event | None
    ) -> None:
        try:
            routing = await asyncio.to_thread(self.roster.routing, hospital, "P1", self.now())
            result = await self._page(
                ticket, hospital.name, routing.page, texts.p1_page(ticket, hospital.name)
            )
            if notice_sent is not None:  # the page went at once; its outcome follows the notice
                await notice_sent.wait()
            if result.reached:
                local = self.roster.local(result.at)
                told = texts.p1_paged(ticket.number, result.reached_names, local)
            else:
                told = texts.p1_queued(ticket.number)
            chat = ChatRef(ticket.source_platform, ticket.source_chat_id, ticket.source_thread_id)
            reply = Reply(chat=chat, text=told, reply_to=ticket.source_message_id)
            await self._messenger.send(reply)
        except Exception:  # the clocks still run: the breach pages again
            log.exception("paging for P1 ticket %s failed", ticket.number)

    async def settled(self) -> None:
        """Wait until every P1 page in flight is done (tests, shutdown)."""
        while self._paging:
            await asyncio.gather(*self._paging, return_exceptions=True)

    def mentions(self, ticket: Ticket, hospital: Hospital) -> tuple[str, ...]:
        """Engineers to mention on the ticket's desk card (routing at the time it opened)."""
        return self.roster.routing(hospital, ticket.urgency, ticket.created_at).mention

    async def _page(
        self, ticket: Ticket, hospital_name: str, engineer_ids: Sequence[str], text: str
    ) -> PageResult:
        page = Page(ticket.number, ticket.urgency, hospital_name, text, tuple(engineer_ids))
        result = await self._pager.page(page)
        await self._audit(
            ticket.number,
            f"SLA 呼叫：{result.summary()}" if engineer_ids else "SLA 呼叫：值班表无人可呼叫",
        )
        self.pulse.beat()
        return result

    # -- the worker ----------------------------------------------------------------------------

    async def tick(self) -> list[Firing]:
        """Carry out every step that is due now; returns what was done."""
        firings = await asyncio.to_thread(self.clocks.claim_due, self.now())
        for firing in firings:
            try:
                await self._fire(firing)
            except Exception:  # one ticket's failure must not stop the others' pages
                log.exception("SLA step %s of ticket %s failed", firing.step, firing.ticket_number)
        if firings:
            self.pulse.beat()
        return firings

    async def _fire(self, firing: Firing) -> None:
        ticket = await asyncio.to_thread(self._tickets.get, firing.ticket_number)
        hospital = await asyncio.to_thread(self._registry.get_hospital, ticket.hospital_id)
        name = hospital.name if hospital else ticket.hospital_id
        due = self.roster.local(firing.due_at)
        if firing.step == Step.WARN:
            text = texts.desk_warning(ticket, firing.kind, due)
            await self._audit(
                ticket.number,
                f"SLA 预警：{firing.kind.label}时限已过 80%（{due:%m-%d %H:%M} 到期）",
            )
            await self._tell_desks(text)
            return
        duty = await asyncio.to_thread(self.roster.now, self.now())
        engineers = [e for e in (duty.on_call, *duty.leads) if e]
        await self._audit(
            ticket.number,
            f"SLA 超时：{firing.kind.label}时限 {due:%m-%d %H:%M} 已过（第 {firing.page_no} 次呼叫）",
        )
        result = await self._page(
            ticket, name, engineers, texts.breach_page(ticket, name, firing, due)
        )
        await self._tell_desks(texts.desk_breach(ticket, firing, result))

    async def _tell_desks(self, text: str) -> None:
        for desk in self._desks:
            await self._messenger.send(Reply(chat=desk, text=text))

    async def _audit(self, number: str, text: str) -> None:
        await asyncio.to_thread(self._tickets.add_note, number, Actor.system("SLA"), text)

    # -- engineers' actions --------------------------------------------------------------------

    async def pause(self, number: str, engineer_id: str, reason: str) -> list[SlaClock]:
        clocks = await asyncio.to_thread(self.clocks.pause, number, self.now())
        if clocks:
            await self._audit(number, f"SLA 暂停（等待医院）：{engineer_id} {reason}".rstrip())
            self.pulse.beat()
        return clocks

    async def resume(self, number: str, by: str) -> list[SlaClock]:
        clocks = await asyncio.to_thread(self.clocks.resume, number, self.now())
        if clocks:
            await self._audit(number, f"SLA 继续计时：{by}")
            self.pulse.beat()
            self.notify()
        return clocks

    async def acknowledge(self, number: str, engineer_id: str) -> list[SlaClock]:
        clocks = await asyncio.to_thread(self.clocks.acknowledge, number, engineer_id, self.now())
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
