"""The 7x24 commands in chat, in one place for the desk and the hospital groups.

Desk (registered engineers):  /duty            who is on duty now and this week
                              /pause <no> [why] SLA clocks stop while waiting on the hospital
                              /resume <no>      clocks go on
                              /ack <no>         a breached ticket is in hand: stop repeated pages
Hospital group:               /duty            today's engineer for this hospital, and whether
                                               it is working hours or the on-call service
"""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.duty.models import Post
from bot.duty.roster import DutyNow, Roster
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Engineer, Hospital
from bot.registry.store import RegistryStore
from bot.routing import CommandCall, Router, Scope
from bot.sla.watch import SlaWatch
from bot.tickets.store import TicketNotFound

#: Desk commands this module answers.
DESK_COMMANDS = ("duty", "pause", "resume", "ack")


def register(
    router: Router, watch: SlaWatch, registry: RegistryStore, db: Database, messenger: Messenger
) -> None:
    """The desk's ``DESK_COMMANDS`` and the hospitals' ``/duty``."""

    async def on_desk(call: CommandCall) -> None:
        assert call.engineer is not None  # registered engineers_only
        answer = await desk_command(watch, registry, call.engineer, call.name, call.args)
        await messenger.send(call.reply(answer))

    async def on_hospital(call: CommandCall) -> None:
        hospital = call.hospital
        assert hospital is not None  # a hospital-scope command
        body = await db.read(
            lambda: hospital_duty_text(watch.roster, registry, hospital, watch.now())
        )
        await messenger.send(call.reply(body))

    for name in DESK_COMMANDS:
        router.command(name, Scope.DESK, on_desk)
    router.command("duty", Scope.HOSPITAL, on_hospital)


def _name(registry: RegistryStore, engineer_id: str | None) -> str:
    if not engineer_id:
        return "（未排班）"
    engineer = registry.get_engineer(engineer_id)
    return engineer.name if engineer else engineer_id


def duty_lines(roster: Roster, registry: RegistryStore, duty: DutyNow) -> list[str]:
    day = duty.duty_day
    note = "" if day.known else "（日历未知年份：未计法定节假日，请升级 chinesecalendar）"
    local = roster.local(duty.at)
    return [
        f"{local:%Y-%m-%d %H:%M} {day.kind.label}{'·' + day.holiday if day.holiday else ''}{note}",
        f"当前班次：{duty.shift.label}",
        f"值班工程师：{_name(registry, duty.on_call)}",
        f"值班组长：{'、'.join(_name(registry, e) for e in duty.leads) or '（未排班）'}",
    ]


def desk_duty_text(roster: Roster, registry: RegistryStore, at: dt.datetime) -> str:
    duty = roster.now(at)
    lines = duty_lines(roster, registry, duty)
    lines.append("本周：")
    for row in roster.week(duty.duty_day.date):
        holder = row.posts[Post.DAY] if row.day.kind.working else row.posts[Post.WEEKEND]
        if row.day.kind.value == "holiday":
            holder = row.posts[Post.HOLIDAY]
        night = f" 夜班 {_name(registry, row.posts[Post.NIGHT])}" if row.day.kind.working else ""
        lines.append(
            f"  {row.day.date:%m-%d} {row.day.kind.label} {_name(registry, holder)}{night}"
        )
    return "\n".join(lines)


def hospital_duty_text(
    roster: Roster, registry: RegistryStore, hospital: Hospital, at: dt.datetime
) -> str:
    duty = roster.now(at)
    today = roster.engineer_of_the_day(hospital.id, duty.duty_day.date)
    if duty.working_hours:
        who = [n for n in (hospital.dedicated_engineer_id, today) if n]
        names = "、".join(dict.fromkeys(_name(registry, e) for e in who)) or "值班工程师"
        return f"今天负责本院的工程师：{names}。有问题直接在本群描述即可。"
    on_call = _name(registry, duty.on_call) if duty.on_call else "值班工程师"
    return (
        f"现在是非工作时间（{duty.shift.label}），值班工程师：{on_call}。"
        f"紧急故障（全院或科室无法工作）请直接说明，机器人会立即呼叫值班工程师。"
    )


async def desk_command(
    watch: SlaWatch, registry: RegistryStore, engineer: Engineer, name: str, args: str
) -> str:
    """The answer to one of ``DESK_COMMANDS``."""
    if name == "duty":
        return await asyncio.to_thread(desk_duty_text, watch.roster, registry, watch.now())
    number, _, rest = args.partition(" ")
    if not number:
        return f"用法：/{name} <工单号>{' [原因]' if name == 'pause' else ''}"
    try:
        if name == "pause":
            done = await watch.pause(number, engineer.id, rest.strip())
            return (
                f"工单 #{number} 的时限已暂停（等待医院）。"
                if done
                else f"工单 #{number} 没有正在计时的时限。"
            )
        if name == "resume":
            done = await watch.resume(number, engineer.id)
            return (
                f"工单 #{number} 的时限继续计时。" if done else f"工单 #{number} 没有暂停的时限。"
            )
        done = await watch.acknowledge(number, engineer.id)
        return (
            f"已确认工单 #{number}，不再重复呼叫。"
            if done
            else f"工单 #{number} 没有正在呼叫的超时。"
        )
    except TicketNotFound:
        return f"没有工单 #{number}。"
