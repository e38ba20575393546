"""A hospital group's own commands and the events of its chat, outside the question path.

``/ticket <no>`` and ``/tickets`` show the hospital its own tickets (never another's);
``/notice`` is refused outside the engineers' desk (and audited by broadcasts). A migrated
chat keeps its hospital and its ticket links; a chat the bot was removed from is deactivated.
"""

from __future__ import annotations

import logging

from adapters.base import ChatEvent, ChatEventKind, IncomingMessage, Reply
from bot import texts
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Hospital
from bot.registry.store import RegistryStore
from bot.routing import CommandCall, Router, Scope
from bot.tickets.links import LinkStore
from bot.tickets.store import TicketError, TicketNotFound, TicketStore

log = logging.getLogger(__name__)


HELP = (
    "可用命令：/ticket <工单号> 查看本院工单，/tickets 列出本院最近的工单，/duty 今天的值班工程师。"
)


class HospitalSide:
    """A hospital group's commands and its chat's events, over the registry, the tickets and
    the links, through the gateway ``db``."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        tickets: TicketStore,
        links: LinkStore,
        messenger: Messenger,
        router: Router,
    ) -> None:
        self.db = db
        self.registry = registry
        self.tickets = tickets
        self.links = links
        self.messenger = messenger
        self.router = router

    def register(self, router: Router) -> None:
        """A hospital's ``/ticket <no>`` and ``/tickets``."""
        router.command("ticket", Scope.HOSPITAL, self._on_tickets)
        router.command("tickets", Scope.HOSPITAL, self._on_tickets)

    async def _on_tickets(self, call: CommandCall) -> None:
        hospital = call.hospital
        assert hospital is not None  # a hospital-scope command
        await self.messenger.send(call.reply(await self._tickets_text(hospital, call)))

    async def command(self, msg: IncomingMessage, hospital: Hospital, name: str, args: str) -> None:
        """Route a command typed in a hospital's group; an unknown one is answered with help
        only when addressed to us (a Slack /hisbot command, /x@ourbot): other bots share the
        group."""
        route = self.router.find_command(name, Scope.HOSPITAL)
        if route is not None:
            await route.handler(CommandCall(msg, name, args, Scope.HOSPITAL, hospital=hospital))
        elif msg.mentions_bot:
            await self.messenger.send(Reply(chat=msg.chat, text=HELP, reply_to=msg.message_id))

    async def _tickets_text(self, hospital: Hospital, call: CommandCall) -> str:
        """``/ticket <no>``: one of the hospital's tickets; ``/tickets`` (or no number): its
        last ten (never another hospital's)."""
        args, tickets = call.args, self.tickets
        if call.name == "ticket" and args:
            number = args.split()[0]
            try:
                t = await self.db.read(lambda: tickets.get(number, hospital_id=hospital.id))
            except (TicketNotFound, TicketError, ValueError):
                return texts.not_found(number)
            return (
                f"工单 #{t.number}：{texts.STATUS_LABELS.get(t.status, t.status)}\n"
                f"问题：{t.question}" + (f"\n处理方式：{t.resolution}" if t.resolution else "")
            )
        rows = await self.db.read(lambda: tickets.list_for_hospital(hospital.id, limit=10))
        return (
            "\n".join(
                f"#{t.number} {texts.STATUS_LABELS.get(t.status, t.status)} {t.question[:30]}"
                for t in rows
            )
            or "本院暂无工单。"
        )

    async def on_chat_event(self, event: ChatEvent) -> None:
        platform, chat_id = event.chat.platform, event.chat.chat_id
        new_chat_id = event.new_chat_id
        registry = self.registry
        if event.kind is ChatEventKind.MIGRATED and new_chat_id:

            def migrate() -> None:
                if registry.get_chat(platform, chat_id) is not None:
                    registry.move_chat(platform, chat_id, new_chat_id)
                self.links.move_chat(platform, chat_id, new_chat_id)

            await self.db.write(migrate)
            log.info("chat %s:%s migrated to %s", platform, chat_id, new_chat_id)
        elif event.kind in (ChatEventKind.BOT_REMOVED, ChatEventKind.ARCHIVED):
            reason = event.kind.value

            def deactivate() -> None:
                if registry.get_chat(platform, chat_id) is not None:
                    registry.deactivate_chat(platform, chat_id, reason=reason)

            await self.db.write(deactivate)
            log.warning("bot removed from %s:%s (%s)", platform, chat_id, event.kind.value)
        elif event.kind is ChatEventKind.RENAMED:
            log.info("chat %s:%s renamed", platform, chat_id)
