"""``Broadcasts``: the one object of this package the rest of the bot holds — passed by name
to the ticket flow (``link_ticket``), registered with the router by the composition root
(``bot.wiring.conversation.register_features``), read by the console's notice pages.

It wires the broadcaster (the delivery worker), the scheduler and the ``/notice`` commands, and
registers with the router (``register``): the notices' buttons, ``/notice`` in the desk, a
``/notice`` typed in a hospital group (refused), and replies to notices (recorded when one
arrives; ``link_ticket`` when its thread became a ticket), plus ``notice_for_message``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from adapters.base import ButtonPress, ChatRef, IncomingMessage, Reply
from bot.broadcasts import render
from bot.broadcasts.actions import AbortNotice, Acknowledged, Applied, ConfirmNotice
from bot.broadcasts.commands import NoticeCommands
from bot.broadcasts.models import Notice, ReceiptKind
from bot.broadcasts.receipts import Press, PressResult
from bot.broadcasts.scheduler import NoticeScheduler
from bot.broadcasts.service import Broadcaster
from bot.broadcasts.store import BroadcastStore
from bot.broadcasts.transport import Pacer, Transport
from bot.infra.gateway import Database
from bot.registry.models import Hospital
from bot.routing import CommandCall, Router, Scope

log = logging.getLogger(__name__)

_TOASTS = {
    "test": "测试消息：按钮正常（未记录）。",
    "invalid": "这个按钮已失效。",
}


class Broadcasts:
    def __init__(
        self,
        store: BroadcastStore,
        transport: Transport,
        desk_chats: Sequence[ChatRef] = (),
        *,
        engine: Engine | None = None,
        scheduler_name: str = "hisbot",
        pacer: Pacer | None = None,
        db: Database | None = None,
        workers: Callable[[], int] = lambda: 1,
    ) -> None:
        """``engine``: where APScheduler keeps its jobs (the bot's database); None runs
        without APScheduler (the worker's poll alone fires due waves). ``db``: the bot's
        database gateway (one over the store's engine if not given); ``workers``: how many
        workers send notices at once (``Broadcaster``)."""
        self.store = store
        self.broadcaster = Broadcaster(store, transport, desk_chats, pacer, db, workers)
        self.db = self.broadcaster.db
        self.commands = NoticeCommands(self.broadcaster)
        self.scheduler = (
            NoticeScheduler(self.broadcaster, engine, scheduler_name)
            if engine is not None
            else None
        )

    async def start(self) -> None:
        await self.broadcaster.start()
        await self.start_scheduler()

    async def stop(self) -> None:
        await self.stop_scheduler()
        await self.broadcaster.stop()

    async def start_scheduler(self) -> None:
        """APScheduler's wave jobs: on one worker (the leader); the outbox runs on every one."""
        if self.scheduler is not None:
            await self.scheduler.start()

    async def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()

    # -- pipeline hooks -----------------------------------------------------------------------

    async def on_desk_command(self, msg: IncomingMessage, args: str) -> None:
        await self.commands.on_command(msg, args)

    async def on_hospital_command(self, msg: IncomingMessage) -> None:
        await self.commands.refuse_outside_desk(msg)

    def notice_for_message(self, platform: str, chat_id: str, message_id: str) -> Notice | None:
        return self.store.receipts.notice_for_message(platform, chat_id, message_id)

    async def on_hospital_reply(self, msg: IncomingMessage, hospital_id: str) -> Notice | None:
        """A hospital message replying to a notice is recorded against it; returns the notice
        (the pipeline then handles the message as usual: answer, or a ticket)."""
        replied_to = msg.reply_to_message_id
        if not replied_to:
            return None

        def record() -> Notice | None:
            notice = self.notice_for_message(msg.chat.platform, msg.chat.chat_id, replied_to)
            if notice is not None and notice.id is not None:
                self.store.receipts.record_reply(
                    notice.id, hospital_id, msg.chat.platform, msg.chat.chat_id, msg.message_id
                )
            return notice

        return await self.db.write(record)

    def link_ticket(
        self, ticket_number: str, platform: str, chat_id: str, message_ids: Sequence[str]
    ) -> Notice | None:
        """A ticket was opened for a thread: if it began as a reply to a notice, link them.
        Database work, run inside the ticket's opening transaction (``bot.tickets.opening``)."""
        notice_id = self.store.receipts.link_ticket(
            platform, chat_id, list(message_ids), ticket_number
        )
        return self.store.get(notice_id) if notice_id is not None else None

    def register(self, router: Router) -> None:
        """``/notice`` (desk; refused and audited in hospital groups), replies to notices
        (a message hook that records and lets the message go on), the notices' buttons."""
        router.command("notice", Scope.DESK, self._desk_command, engineers_only=False)
        router.command("notice", Scope.HOSPITAL, self._hospital_command)
        router.hook("notice-replies", self._reply_hook)
        router.action(Acknowledged, self.on_receipt)
        router.action(Applied, self.on_receipt)
        router.action(ConfirmNotice, self.commands.on_button)
        router.action(AbortNotice, self.commands.on_button)

    async def _desk_command(self, call: CommandCall) -> None:
        await self.on_desk_command(call.msg, call.args)

    async def _hospital_command(self, call: CommandCall) -> None:
        await self.on_hospital_command(call.msg)

    async def _reply_hook(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        await self.on_hospital_reply(msg, hospital.id)
        return False  # recorded; the message is then handled as usual (answer, or a ticket)

    async def on_receipt(self, press: ButtonPress, action: Acknowledged | Applied) -> None:
        """已知悉 / 已升级 under a delivered notice."""
        kind = ReceiptKind.ACK if isinstance(action, Acknowledged) else ReceiptKind.APPLIED
        transport = self.broadcaster.transport
        m = press.message

        def record() -> PressResult:
            hospital = self.store.registry.hospital_for_chat(m.platform, m.chat_id)
            return self.store.receipts.press(
                action.delivery,
                kind,
                Press(
                    m.platform,
                    m.chat_id,
                    m.message_id,
                    press.sender.user_id,
                    press.sender.display_name,
                    hospital.id if hospital else None,
                ),
            )

        result = await self.db.write(record)
        await transport.acknowledge(press, self._toast(kind, result))
        if result.outcome == "recorded":
            await self._refresh(press, result)

    def _toast(self, kind: ReceiptKind, result: PressResult) -> str:
        label = render.ACK if kind is ReceiptKind.ACK else render.APPLIED
        if result.outcome == "recorded":
            return f"已记录：本院{label}，谢谢！"
        if result.outcome == "already" and result.receipt is not None:
            r = result.receipt
            return f"本院已由 {r.user_name or r.user_id} 于 {self.store.settings.local(r.at)} 确认{label}。"
        return _TOASTS.get(result.outcome, _TOASTS["invalid"])

    async def _refresh(self, press: ButtonPress, result: PressResult) -> None:
        """Show who pressed under the message, and drop the buttons already used."""
        d, notice = result.delivery, result.notice
        if d is None or notice is None or notice.id is None or d.hospital_id is None:
            return
        notice_id, hospital_id = notice.id, d.hospital_id

        def render_it() -> Reply | None:
            found = self.store.waves.wave(d.wave_id)
            if found is None:
                return None
            modules, services = self.store.items(notice_id)
            receipts = self.store.receipts.receipts(notice_id, hospital_id)
            return render.delivery_reply(
                d, notice, found[0], modules, services, self.store.settings, receipts
            )

        reply = await self.db.read(render_it)
        if reply is None:
            return
        try:
            await self.broadcaster.transport.edit(press.message, reply)
        except Exception as exc:  # the receipt is recorded; the edit is cosmetic
            log.info("could not update notice message %s: %s", press.message.message_id, exc)
