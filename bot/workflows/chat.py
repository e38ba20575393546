"""The service workflows in chat: engineers' desk commands, hospital commands and buttons.

Desk (registered engineers)::

    /remote <no> <tool> <minutes> <purpose>     ask the hospital for remote access
    /level <no> phone|remote|onsite             how the ticket is handled now
    /visit <no> <engineer id> <YYYY-MM-DD HH:MM> plan an on-site visit (tells the hospital)
    /arrive <visit id>   /depart <visit id>     the engineer's arrival and departure
    /upgrade start <hospital> <product> <version> [notice id]
    /upgrade <id> <stage> [YYYY-MM-DD] [notes]  record the next stage (test_env → simulated →
                                                production → verified)
    /upgrades                                   upgrades in progress
    /call <hospital id> <question>              register a phone call as a ticket

Hospital chats: 同意 / 拒绝 under a remote request and 确认 under a finished visit (its
registered admins only: anybody else is told so), ``/revoke`` (an admin takes back the live
remote grants), ``/engineer`` (the dedicated engineer and deputy).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from adapters.base import Button, ButtonPress, ChatRef, IncomingMessage, Reply
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Engineer, Hospital
from bot.registry.store import RegistryStore
from bot.routing import CommandCall, Router, Scope, encode
from bot.tickets import operations
from bot.tickets.flow import TicketFlow
from bot.tickets.store import TicketError, TicketStore
from bot.workflows import ServiceWorkflows
from bot.workflows.actions import Verb, WorkflowAction
from bot.workflows.calls import register_call
from bot.workflows.errors import WorkflowError
from bot.workflows.models import RemoteGrant, SiteVisit
from bot.workflows.remote import LEVEL_LABELS
from bot.workflows.times import parse_day, parse_local, parse_number, shown
from bot.workflows.upgrades import STAGE_LABELS, UpgradeView

DESK_COMMANDS = ("remote", "level", "visit", "arrive", "depart", "upgrade", "upgrades", "call")


def team_text(registry: RegistryStore, hospital: Hospital) -> str:
    """The hospital's dedicated engineer and deputy, as the hospital is told (blocking)."""

    def name(engineer_id: str | None) -> str:
        engineer = registry.get_engineer(engineer_id) if engineer_id else None
        return engineer.name if engineer else "未指定"

    return (
        f"{hospital.name} 一对一专项服务：专属工程师 {name(hospital.dedicated_engineer_id)}，"
        f"副工程师 {name(hospital.deputy_engineer_id)}。"
    )


def upgrade_line(view: UpgradeView, zone_name: str = "") -> str:
    u = view.upgrade
    done = STAGE_LABELS.get(u.stage, "未开始") if u.stage else "未开始"
    nxt = f"，下一步：{STAGE_LABELS[view.next]}" if view.next else ""
    return f"升级 #{u.id} {view.hospital_name} {u.product} {u.from_version or '?'}→{u.to_version}：{done}{nxt}"


class ServiceChat:
    """The workflows' chat surface; the console's service pages reuse its hospital notices
    (``ask_consent``, ``announce_visit``, ``ask_visit_confirmation``)."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        tickets: TicketStore,
        flow: TicketFlow,
        messenger: Messenger,
        redact: Callable[[str], str],
        clock: Clock,
        desk_chats: Sequence[ChatRef],
        workflows: ServiceWorkflows,
    ) -> None:
        """``flow`` tells the hospital (in the ticket's thread) and opens phone tickets;
        ``redact`` cleans a phone call's question; ``desk_chats`` hear of revoked grants."""
        self._db = db
        self._registry = registry
        self._tickets = tickets
        self._flow = flow
        self._messenger = messenger
        self._redact = redact
        self._clock = clock
        self._desk_chats = tuple(desk_chats)
        self.w = workflows

    async def _say(self, msg: IncomingMessage, text: str) -> None:
        await self._messenger.send(Reply(chat=msg.chat, text=text, reply_to=msg.message_id))

    def register(self, router: Router) -> None:
        """The desk's ``DESK_COMMANDS``, the hospitals' /engineer and /revoke, the buttons."""
        for name in DESK_COMMANDS:
            router.command(name, Scope.DESK, self.on_desk_command)
        router.command("engineer", Scope.HOSPITAL, self.on_hospital_command)
        router.command("revoke", Scope.HOSPITAL, self.on_hospital_command)
        router.action(WorkflowAction, self.on_button)

    # ---- desk ---------------------------------------------------------------------------------

    async def on_desk_command(self, call: CommandCall) -> None:
        """One of ``DESK_COMMANDS``, typed by a registered engineer."""
        assert call.engineer is not None  # registered engineers_only
        try:
            await self._desk(call.msg, call.engineer, call.name, call.args.split())
        except WorkflowError as exc:
            await self._say(call.msg, str(exc))
        except TicketError as exc:
            await self._say(call.msg, operations.explain(exc))

    async def _desk(
        self, msg: IncomingMessage, engineer: Engineer, name: str, a: list[str]
    ) -> None:
        w, run = self.w, self._db.writing
        if name == "remote":
            minutes = parse_number(a[2]) if len(a) >= 4 else None
            if minutes is None:
                raise WorkflowError("用法：/remote <工单号> <工具> <分钟数> <目的>")
            grant = await run(w.remote.request, a[0], engineer.id, a[1], " ".join(a[3:]), minutes)
            told = await self.ask_consent(grant, engineer)
            where = (
                "已发到医院群，等待医院管理员同意。"
                if told
                else "医院没有可用的群：请电话征得同意。"
            )
            await self._say(msg, f"远程申请 {grant.id}（#{a[0]}）{where}")
        elif name == "level":
            if len(a) != 2:
                raise WorkflowError("用法：/level <工单号> phone|remote|onsite")
            row = await run(w.remote.set_level, a[0], a[1], engineer.id)
            await self._say(msg, f"工单 #{a[0]} 服务方式：{LEVEL_LABELS[row.level]}")
        elif name == "visit":
            if len(a) < 3:
                raise WorkflowError("用法：/visit <工单号> <工程师> <YYYY-MM-DD HH:MM>")
            when = parse_local(" ".join(a[2:]), w.zone)
            visit = await run(w.visits.plan, a[0], a[1], when, engineer.id)
            await self.announce_visit(visit)
            await self._say(msg, f"现场服务 {visit.id} 已安排，已告知医院。")
        elif name in ("arrive", "depart"):
            visit_id = parse_number(a[0]) if len(a) == 1 else None
            if visit_id is None:
                raise WorkflowError(f"用法：/{name} <现场服务编号>")
            step = w.visits.arrive if name == "arrive" else w.visits.depart
            visit = await run(step, visit_id, engineer.id)
            if name == "depart":
                await self.ask_visit_confirmation(visit)
            await self._say(
                msg, f"现场服务 {visit.id}：已登记{'到场' if name == 'arrive' else '离场'}。"
            )
        elif name == "upgrades":
            views = await run(w.upgrades.in_progress)
            await self._say(msg, "\n".join(map(upgrade_line, views)) or "没有进行中的升级。")
        elif name == "upgrade":
            await self._upgrade(msg, engineer, a)
        elif name == "call":
            await self._call(msg, engineer, a)

    async def _upgrade(self, msg: IncomingMessage, engineer: Engineer, a: list[str]) -> None:
        run = self._db.writing
        if a[:1] == ["start"] and len(a) in (4, 5):
            notice = parse_number(a[4]) if len(a) == 5 else None
            if len(a) == 5 and notice is None:
                raise WorkflowError("通知编号须为数字。")
            u = await run(self.w.upgrades.start, a[1], a[2], a[3], engineer.id, notice)
            await self._say(msg, f"升级 #{u.id} 已登记：{a[1]} {a[2]} → {a[3]}")
            return
        upgrade_id = parse_number(a[0]) if len(a) >= 2 else None
        if upgrade_id is None:
            raise WorkflowError(
                "用法：/upgrade start <医院> <产品> <版本> [通知编号] 或 "
                "/upgrade <编号> <阶段> [YYYY-MM-DD] [备注]"
            )
        rest = a[2:]
        day = self._today()
        if rest and rest[0][:1].isdigit():
            day, rest = parse_day(rest[0]), rest[1:]
        await run(self.w.upgrades.record, upgrade_id, a[1], engineer.id, day, " ".join(rest))
        view = await run(self.w.upgrades.get, upgrade_id)
        await self._say(msg, upgrade_line(view))

    def _today(self) -> dt.date:
        now = self._clock()
        aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        return aware.astimezone(self.w.zone).date()

    async def _call(self, msg: IncomingMessage, engineer: Engineer, a: list[str]) -> None:
        if len(a) < 2:
            raise WorkflowError("用法：/call <医院编号> <问题>")
        hospital = await self._db.read(lambda: self._registry.get_hospital(a[0]))
        if hospital is None:
            raise WorkflowError(f"没有医院 {a[0]}。")
        ticket = await self._db.writing(
            register_call,
            self._flow,
            self.w.remote,
            self._redact,
            hospital,
            engineer,
            caller="来电",
            question=" ".join(a[1:]),
            now=self._clock(),
        )
        await self._say(msg, f"电话工单 #{ticket.number} 已登记并由您受理。")

    # ---- telling the hospital -----------------------------------------------------------------

    async def ask_consent(self, grant: RemoteGrant, engineer: Engineer) -> bool:
        """Post the request with 同意 / 拒绝 in the ticket's hospital thread (False: no chat)."""
        ticket = await self._db.read(lambda: self._tickets.get(self.w.remote.ticket_number(grant)))
        buttons = (
            (
                Button("同意", encode(WorkflowAction(Verb.GRANT, grant.id or 0))),
                Button("拒绝", encode(WorkflowAction(Verb.REFUSE, grant.id or 0))),
            ),
        )
        text = (
            f"工单 #{ticket.number}：工程师 {engineer.name} 申请远程协助。\n"
            f"工具：{grant.tool}\n目的：{grant.purpose}\n预计时长：{grant.minutes} 分钟\n"
            "需医院管理员同意后方可远程；同意后可随时发送 /revoke 撤销。"
        )
        return await self._flow.tell_hospital(ticket, text, buttons) is not None

    async def announce_visit(self, visit: SiteVisit) -> None:
        """Tell the hospital the plan: who comes, when."""
        ticket = await self._db.read(lambda: self._tickets.get(self.w.visits.ticket_number(visit)))
        visitor = await self._db.read(lambda: self._registry.get_engineer(visit.engineer_id))
        await self._flow.tell_hospital(
            ticket,
            f"工单 #{ticket.number} 将安排现场服务：{visitor.name if visitor else visit.engineer_id}"
            f" 计划于 {shown(visit.planned_at, self.w.zone)} 到院。",
        )

    async def ask_visit_confirmation(self, visit: SiteVisit) -> None:
        """After the departure: the hospital's admins confirm the visit with a button."""
        ticket = await self._db.read(lambda: self._tickets.get(self.w.visits.ticket_number(visit)))
        z, visit_id = self.w.zone, visit.id or 0
        button = Button("确认现场服务", encode(WorkflowAction(Verb.CONFIRM_VISIT, visit_id)))
        await self._flow.tell_hospital(
            ticket,
            f"工单 #{ticket.number} 现场服务 {visit_id}：到场 {shown(visit.arrived_at, z)}，"
            f"离场 {shown(visit.departed_at, z)}。请医院管理员确认。",
            ((button,),),
        )

    # ---- hospital chats -----------------------------------------------------------------------

    async def on_hospital_command(self, call: CommandCall) -> None:
        """/engineer: the hospital's team; /revoke: end every live remote grant."""
        msg, hospital = call.msg, call.hospital
        assert hospital is not None  # a hospital-scope command
        if call.name == "engineer":
            await self._say(msg, await self._db.read(lambda: team_text(self._registry, hospital)))
            return
        grants = await self._db.reading(self.w.remote.live_for_hospital, hospital.id)
        if not grants:
            await self._say(msg, "本院目前没有有效的远程授权。")
            return
        try:
            for grant in grants:
                await self._db.writing(
                    self.w.remote.revoke,
                    grant.id or 0,
                    hospital.id,
                    msg.chat.platform,
                    msg.sender.user_id,
                    msg.sender.display_name,
                )
        except WorkflowError as exc:
            await self._say(msg, str(exc))
            return
        await self._say(msg, f"已撤销 {len(grants)} 项远程授权，工程师的远程访问应立即停止。")
        await self._tell_desks(
            f"{hospital.name} 撤销了远程授权：{', '.join(str(g.id) for g in grants)}"
        )

    async def on_button(self, press: ButtonPress, action: WorkflowAction) -> None:
        """同意/拒绝/撤销 remote access, 确认 a visit (hospital admins only)."""
        platform, chat_id = press.message.platform, press.message.chat_id
        hospital = await self._db.read(lambda: self._registry.hospital_for_chat(platform, chat_id))
        if hospital is None:
            await self._messenger.acknowledge(press, "这个按钮已失效。")
            return
        who = (hospital.id, press.message.platform, press.sender.user_id, press.sender.display_name)
        chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
        try:
            if action.verb in (Verb.GRANT, Verb.REFUSE):
                agree = action.verb is Verb.GRANT
                grant = await self._db.writing(self.w.remote.decide, action.target, *who, agree)
                await self._decided(press, chat, grant)
            elif action.verb is Verb.REVOKE:
                grant = await self._db.writing(self.w.remote.revoke, action.target, *who)
                await self._messenger.acknowledge(press, "已撤销远程授权。")
                await self._messenger.edit(
                    press.message, Reply(chat=chat, text=f"远程授权 {grant.id} 已由医院撤销。")
                )
                await self._tell_desks(f"{hospital.name} 撤销了远程授权 {grant.id}。")
            else:
                visit = await self._db.writing(self.w.visits.confirm, action.target, *who)
                await self._messenger.acknowledge(press, "已确认，感谢。")
                await self._messenger.edit(
                    press.message, Reply(chat=chat, text=f"现场服务 {visit.id} 已由医院确认。")
                )
        except WorkflowError as exc:
            await self._messenger.acknowledge(press, str(exc))
        except TicketError as exc:
            await self._messenger.acknowledge(press, operations.explain(exc))

    async def _decided(self, press: ButtonPress, chat: ChatRef, grant: RemoteGrant) -> None:
        number = await self._db.read(lambda: self.w.remote.ticket_number(grant))
        if grant.expires_at is not None:
            until = shown(grant.expires_at, self.w.zone)
            text = f"医院已同意远程协助（{grant.tool}），有效至 {until}。"
            revoke = Button("撤销授权", encode(WorkflowAction(Verb.REVOKE, grant.id or 0)))
            await self._messenger.acknowledge(press, "已同意。")
            await self._messenger.edit(
                press.message, Reply(chat=chat, text=text, buttons=((revoke,),))
            )
        else:
            text = f"医院拒绝了远程协助（{grant.tool}）。"
            await self._messenger.acknowledge(press, "已拒绝。")
            await self._messenger.edit(press.message, Reply(chat=chat, text=text))
        await self._tell_desks(f"工单 #{number}：{text}")

    async def _tell_desks(self, text: str) -> None:
        for desk in self._desk_chats:
            await self._messenger.send(Reply(chat=desk, text=text))
