"""The engineers' side: ticket cards, "接单", commands, and relaying to the hospital.

Commands (in a desk chat, registered engineers only):

    /ticket <no>                 show a ticket with its recent events
    /claim <no>                  take a new ticket (what 接单 does; a digest lists it per line)
    /tickets                     open tickets
    /resolve <no> <how>          resolve (the resolution is required) and tell the hospital
    /reopen <no> [why]           reopen and tell the hospital
    /assign <no> [engineer id]   hand a ticket to an engineer (default: the hospital's
                                 dedicated engineer, or its deputy)
    /note <no> <text>            internal note, never shown to the hospital
    /duty, /pause, /resume, /ack the 7x24 commands (``bot/duty/commands.py``)

The service workflows' commands (/remote, /level, /visit, /arrive, /depart, /upgrade,
/upgrades, /call) are ``bot.workflows.chat``'s, ``/notice`` is broadcasts'; every feature
registers its commands with the router (``bot/routing``) from ``bot/app.py``.

Replying to a ticket card (or to a relayed hospital message) sends the text to the hospital's
thread; a reply to a digest (``bot.desk.queue``) starting with one of its tickets' numbers
does the same for that ticket. Permissions are the ticket store's: the desk translates its errors into sentences.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from adapters.base import ButtonPress, ChatRef, IncomingMessage, Reply
from bot import texts
from bot.desk.queue.store import DigestStore
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Engineer
from bot.registry.store import RegistryStore
from bot.routing import CommandCall, Router, Scope, parse_command
from bot.tickets import operations
from bot.tickets.actions import Claim
from bot.tickets.flow import TicketFlow
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import Ticket
from bot.tickets.numbering import normalise_number
from bot.tickets.store import TicketError, TicketNotFound, TicketStore

log = logging.getLogger(__name__)


#: The desk's own ticket commands (the others are registered by their features).
TICKET_COMMANDS = ("tickets", "ticket", "claim", "resolve", "reopen", "assign", "note")


#: Asks the engineer who resolved a ticket which article answers it (the KB loop's labels):
#: (desk chat, ticket, what to say first, the message to reply to).
AskLabel = Callable[[ChatRef, Ticket, str, str | None], Awaitable[None]]


class Desk:
    """The engineers' desk chats: their commands, replies to cards and digests, and 接单.
    Reads go through the gateway ``db``; every ticket change is the ticket ``flow``'s."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        tickets: TicketStore,
        links: LinkStore,
        digests: DigestStore,
        flow: TicketFlow,
        messenger: Messenger,
        router: Router,
        ask_label: AskLabel | None = None,
    ) -> None:
        """``ask_label``: None when ``[kbloop] ask_labels`` is off (``/resolve`` just says
        it is done)."""
        self.db = db
        self.registry = registry
        self.tickets = tickets
        self.links = links
        self.digests = digests
        self.flow = flow
        self.messenger = messenger
        self.router = router
        self.ask_label = ask_label

    def register(self, router: Router) -> None:
        """The ticket commands and the card's 接单."""
        for name in TICKET_COMMANDS:
            router.command(name, Scope.DESK, self._ticket_command)
        router.action(Claim, self.on_claim)

    async def _engineer(self, platform: str, user_id: str) -> Engineer | None:
        return await self.db.read(lambda: self.registry.engineer_for_user(platform, user_id))

    async def _say(self, msg: IncomingMessage, text: str) -> None:
        await self.messenger.send(Reply(chat=msg.chat, text=text, reply_to=msg.message_id))

    # ---- messages ---------------------------------------------------------------------------

    async def on_message(self, msg: IncomingMessage) -> None:
        engineer = await self._engineer(msg.chat.platform, msg.sender.user_id)
        text = msg.text.strip()
        command = parse_command(text)
        if command is not None:
            await self._command(msg, engineer, *command)
            return
        replied_to = msg.reply_to_message_id
        if replied_to and engineer is not None:
            link = await self.db.read(
                lambda: self.links.ticket_for(msg.chat.platform, msg.chat.chat_id, replied_to)
            )
            if link is not None and link.side == Side.DESK:
                await self._relay_to_hospital(msg, engineer, link.ticket_number, text)
            elif link is None:
                await self._reply_to_digest(msg, engineer, replied_to, text)

    async def _reply_to_digest(
        self, msg: IncomingMessage, engineer: Engineer, digest_message: str, text: str
    ) -> None:
        """A reply to a digest names its ticket first (「2026-000123 请重启读卡器」)."""

        def listed() -> list[str] | None:
            digest = self.digests.digest_at(msg.chat.platform, msg.chat.chat_id, digest_message)
            if digest is None or digest.id is None:
                return None
            return [t.number for t in self.digests.tickets_of(digest.id)]

        numbers = await self.db.read(listed)
        if numbers is None:
            return
        first, _, rest = text.partition(" ")
        number = normalise_number(first.lstrip("#"))
        if number in numbers and rest.strip():
            await self._relay_to_hospital(msg, engineer, number, rest.strip())
        else:
            await self._say(msg, texts.digest_reply_needs_number(numbers[0]))

    async def _command(
        self, msg: IncomingMessage, engineer: Engineer | None, name: str, args: str
    ) -> None:
        """Route a desk command; a command that checks its callers itself (``/notice``, which
        audits every refused attempt) runs before the engineer check."""
        route = self.router.find_command(name, Scope.DESK)
        if route is not None and route.engineers_only and engineer is None:
            await self._say(msg, texts.only_engineers())
        elif route is not None:
            await route.handler(CommandCall(msg, name, args, Scope.DESK, engineer=engineer))
        elif engineer is None:
            await self._say(msg, texts.only_engineers())
        else:
            known = " ".join(f"/{c}" for c in self.router.commands(Scope.DESK))
            await self._say(msg, f"没有命令 /{name}。可用命令：{known}")

    async def _relay_to_hospital(
        self, msg: IncomingMessage, engineer: Engineer, number: str, text: str
    ) -> None:
        if not text:
            return
        await self.flow.reply_to_hospital(number, engineer, text, source=msg.ref)

    async def _ticket_command(self, call: CommandCall) -> None:
        msg, engineer, name = call.msg, call.engineer, call.name
        assert engineer is not None  # registered engineers_only
        parts = call.args.split(maxsplit=1)
        number = parts[0] if parts else ""
        rest = parts[1].strip() if len(parts) > 1 else ""
        try:
            if name == "tickets":
                rows = await self.db.read(self.tickets.open_tickets)
                await self._say(
                    msg,
                    "\n".join(
                        f"#{t.number} [{t.urgency}] {texts.STATUS_LABELS.get(t.status, t.status)} {t.hospital_id} {t.question[:30]}"
                        for t in rows
                    )
                    or "没有未完成的工单。",
                )
            elif not number:
                await self._say(msg, f"用法：/{name} <工单号> …")
            elif name == "ticket":
                await self._say(msg, await self.db.read(lambda: self._ticket_summary(number)))
            elif name == "claim":
                ticket = await self.flow.claim(number, engineer)
                await self._say(msg, f"已接单 #{ticket.number}")
            elif name == "resolve":
                ticket = await self.flow.resolve(number, engineer, rest)
                done = f"工单 #{ticket.number} 已解决，已通知医院。"
                if self.ask_label is not None:  # the KB loop: one tap labels the question
                    await self.ask_label(msg.chat, ticket, done, msg.message_id)
                else:
                    await self._say(msg, done)
            elif name == "reopen":
                ticket = await self.flow.reopen(number, engineer, rest)
                await self._say(msg, f"工单 #{ticket.number} 已重新打开。")
            elif name == "assign":
                if not rest:
                    rest = await self.db.read(lambda: self._default_assignee(number, engineer))
                target = await self.db.read(lambda: self.registry.get_engineer(rest))
                if target is None:
                    await self._say(msg, f"没有工程师 {rest}。")
                    return
                ticket = await self.flow.assign(number, target, engineer)
                await self._say(msg, f"工单 #{ticket.number} 已指派给 {target.name}。")
            elif name == "note":
                await self.flow.note(number, engineer, rest)
                await self._say(msg, f"已记录内部备注（医院不可见）：#{number}")
        except TicketNotFound:
            await self._say(msg, texts.not_found(number))
        except TicketError as exc:
            await self._say(msg, operations.explain(exc))

    def _default_assignee(self, number: str, engineer: Engineer) -> str:
        """``/assign <no>`` alone: the hospital's dedicated engineer (its deputy when the
        dedicated engineer is the one assigning)."""
        hospital = self.registry.get_hospital(self.tickets.get(number).hospital_id)
        if hospital is None:
            return ""
        dedicated, deputy = hospital.dedicated_engineer_id, hospital.deputy_engineer_id
        return (deputy if dedicated == engineer.id else dedicated) or deputy or ""

    def _ticket_summary(self, number: str) -> str:
        """``/ticket``'s answer (reads the database: call it through ``db``)."""
        t = self.tickets.get(number)
        hospital = self.registry.get_hospital(t.hospital_id)
        events = self.tickets.events(t.number)[-6:]
        lines = [
            f"工单 #{t.number} [{t.urgency}] {texts.STATUS_LABELS.get(t.status, t.status)}",
            f"医院：{hospital.name if hospital else t.hospital_id}  报告人：{t.reporter_name}",
            f"分类：{texts.CATEGORY_LABELS.get(t.category, t.category)}  受理：{t.accepted_by or '—'}",
            f"问题：{t.question}",
        ]
        if t.resolution:
            lines.append(f"处理方式：{t.resolution}")
        lines.append("最近记录：")
        lines.extend(
            f"  {e.at:%m-%d %H:%M} {e.actor_name or e.actor_kind} {e.kind} {e.text or e.to_value or ''}".rstrip()
            for e in events
        )
        return "\n".join(lines)

    # ---- buttons ----------------------------------------------------------------------------

    async def on_claim(self, press: ButtonPress, action: Claim) -> None:
        """接单 on a card (in any desk chat the card was posted to)."""
        engineer = await self._engineer(press.message.platform, press.sender.user_id)
        if engineer is None:
            await self.messenger.acknowledge(press, texts.only_engineers())
            return
        try:
            ticket = await self.flow.claim(action.number, engineer)
        except TicketError as exc:  # already claimed by someone else, among others
            await self.messenger.acknowledge(press, operations.explain(exc))
            return
        await self.messenger.acknowledge(press, f"已接单 #{ticket.number}")
