"""A hospital group's own commands and the events of its chat, outside the question path.

``/ticket <no>`` and ``/tickets`` show the hospital its own tickets (never another's);
``/notice`` is refused outside the engineers' desk (and audited by broadcasts). A migrated
chat keeps its hospital and its ticket links; a chat the bot was removed from is deactivated.
"""

from __future__ import annotations

import logging

from adapters.base import ChatEvent, ChatEventKind, IncomingMessage, Reply
from bot import texts
from bot.core import Services
from bot.duty.commands import hospital_duty_text
from bot.registry.models import Hospital
from bot.tickets.store import TicketError, TicketNotFound
from bot.workflows.chat import ServiceChat

log = logging.getLogger(__name__)


async def hospital_command(
    services: Services, msg: IncomingMessage, hospital: Hospital, name: str, args: str
) -> None:
    if name == "notice" and services.broadcasts is not None:
        await services.broadcasts.on_hospital_command(msg)  # refused and audited outside the desk
        return
    if services.workflows is not None and await ServiceChat(
        services, services.workflows
    ).on_hospital_command(msg, hospital, name, args):
        return  # /revoke (remote consent), /engineer (dedicated engineer)
    if name == "ticket" and args:
        number = args.split()[0]
        try:
            t = await services.db.read(
                lambda: services.tickets.get(number, hospital_id=hospital.id)
            )
            body = (
                f"工单 #{t.number}：{texts.STATUS_LABELS.get(t.status, t.status)}\n"
                f"问题：{t.question}" + (f"\n处理方式：{t.resolution}" if t.resolution else "")
            )
        except (TicketNotFound, TicketError, ValueError):
            body = texts.not_found(args.split()[0])
    elif name in ("tickets", "ticket"):
        rows = await services.db.read(
            lambda: services.tickets.list_for_hospital(hospital.id, limit=10)
        )
        body = (
            "\n".join(
                f"#{t.number} {texts.STATUS_LABELS.get(t.status, t.status)} {t.question[:30]}"
                for t in rows
            )
            or "本院暂无工单。"
        )
    elif name == "duty" and services.sla is not None:
        sla = services.sla
        body = await services.db.read(
            lambda: hospital_duty_text(sla.roster, services.registry, hospital, sla.now())
        )
    elif msg.mentions_bot:  # addressed to us (a Slack /hisbot command, /x@ourbot): help
        body = "可用命令：/ticket <工单号> 查看本院工单，/tickets 列出本院最近的工单，/duty 今天的值班工程师。"
    else:
        return  # not ours: other bots share the group
    await services.messenger.send(Reply(chat=msg.chat, text=body, reply_to=msg.message_id))


async def on_chat_event(services: Services, event: ChatEvent) -> None:
    platform, chat_id = event.chat.platform, event.chat.chat_id
    new_chat_id = event.new_chat_id
    if event.kind is ChatEventKind.MIGRATED and new_chat_id:

        def migrate() -> None:
            if services.registry.get_chat(platform, chat_id) is not None:
                services.registry.move_chat(platform, chat_id, new_chat_id)
            services.links.move_chat(platform, chat_id, new_chat_id)

        await services.db.write(migrate)
        log.info("chat %s:%s migrated to %s", platform, chat_id, new_chat_id)
    elif event.kind in (ChatEventKind.BOT_REMOVED, ChatEventKind.ARCHIVED):
        reason = event.kind.value

        def deactivate() -> None:
            if services.registry.get_chat(platform, chat_id) is not None:
                services.registry.deactivate_chat(platform, chat_id, reason=reason)

        await services.db.write(deactivate)
        log.warning("bot removed from %s:%s (%s)", platform, chat_id, event.kind.value)
    elif event.kind is ChatEventKind.RENAMED:
        log.info("chat %s:%s renamed", platform, chat_id)
