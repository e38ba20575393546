"""``/notice …`` in the engineers' chat, and its confirmation buttons.

Sending is two steps on purpose: ``/notice send <id>`` posts the test copy to the engineers'
chat and asks, with the exact reach ("37 groups: telegram 35, slack 2"), for a press of
确认发送 — by any engineer with the broadcaster role, so a second pair of eyes may confirm.
Everyone else is refused, politely, and the attempt is in ``notice_audit`` (the store writes
it). The store's errors are English sentences for logs and the CLI; here they are wrapped in
one Chinese line.
"""

from __future__ import annotations

import datetime as dt
import logging

from adapters.base import Button, ButtonPress, ChatRef, IncomingMessage, MessageRef, Reply
from bot.broadcasts import status
from bot.broadcasts.access import Actor
from bot.broadcasts.actions import AbortNotice, ConfirmNotice
from bot.broadcasts.errors import BroadcastError, NotBroadcaster
from bot.broadcasts.models import WaveKind
from bot.broadcasts.render import notice_line
from bot.broadcasts.service import Broadcaster
from bot.broadcasts.settings import parse_local
from bot.broadcasts.specs import draft_from_fields, parse_fields
from bot.routing import encode

log = logging.getLogger(__name__)

USAGE = """/notice 用法：
/notice list — 最近的通知
/notice create patch|upgrade|announcement，换行后每行「字段: 值」，如：
  标题/内容/产品/模块/版本/修复/下载/校验/操作/截止/开始/结束/影响模块/影响服务/提醒/紧急
  目标: all  或  目标: region=华东 his=5.2.* module=住院 hospital=h001,h002
/notice preview <编号> — 哪些群会收到
/notice send <编号> — 先发测试稿到本群，再点“确认发送”
/notice schedule <编号> <YYYY-MM-DD HH:MM> — 同上，确认后定时发送
/notice confirm <编号> [YYYY-MM-DD HH:MM] — 用文字确认（代替按钮）
/notice cancel <编号> · /notice status <编号>
/notice started <编号> [说明] · /notice completed <编号> [说明] — 升级开始/完成
/notice resend <编号> [医院…] — 给失败或待确认的群补发"""

REFUSED = "只有具有通知发送权限（broadcaster）的工程师才能这样做；本次尝试已记录。"
READERS = ("list", "preview", "status", "help")


class NoticeCommands:
    def __init__(self, broadcaster: Broadcaster) -> None:
        self.b = broadcaster
        self.store = broadcaster.store

    async def _say(
        self,
        chat: ChatRef,
        text: str,
        reply_to: str | None = None,
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> MessageRef | None:
        """Keyed as the inbox event's next send (``DeskMessages.say``)."""
        return await self.b.desk.say(
            Reply(chat=chat, text=text, reply_to=reply_to, buttons=buttons)
        )

    async def on_command(self, msg: IncomingMessage, args: str) -> None:
        """``args``: everything after ``/notice`` (several lines for ``create``)."""
        first, _, more = args.partition("\n")
        words = first.split()
        sub = words[0].lower() if words else "help"
        actor = Actor.chat(msg.chat.platform, msg.sender.user_id, msg.sender.display_name)
        try:
            text, buttons = await self._run(sub, words[1:], more, actor)
        except NotBroadcaster:
            text, buttons = REFUSED, ()
        except BroadcastError as exc:
            text, buttons = f"操作未完成：{exc}", ()
        except (ValueError, IndexError):
            text, buttons = USAGE, ()
        await self._say(msg.chat, text, msg.message_id, buttons)

    async def _run(
        self, sub: str, args: list[str], more: str, actor: Actor
    ) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        if sub in ("send", "schedule"):
            notice_id = int(args[0].lstrip("#"))
            tz = self.store.settings.tz
            at = parse_local(" ".join(args[1:3]), tz) if sub == "schedule" else None
            return await self._ask_confirmation(notice_id, actor, at)
        text, after = await self.b.db.write(lambda: self._change(sub, args, more, actor))
        self._after(after)
        return text, ()

    def _after(self, after: frozenset[str]) -> None:
        """What a change asks of the running worker and scheduler, on the loop."""
        if "waves" in after:
            self.b.on_waves_changed()
        if "wake" in after:
            self.b.wake()

    def _change(
        self, sub: str, args: list[str], more: str, actor: Actor
    ) -> tuple[str, frozenset[str]]:
        """Every subcommand but send/schedule: its database work (on the gateway's writer)
        and its answer, plus what the worker must do after it ("waves", "wake")."""
        s = self.store.settings
        if sub in READERS:
            self.store.authorize(actor, sub, need="")
        if sub == "list":
            return "\n".join(
                notice_line(n, s) for n in self.store.list_notices()
            ) or "还没有通知。", frozenset()
        if sub == "create":
            draft = draft_from_fields(args[0], parse_fields(more.splitlines()), s.tz)
            notice = self.store.create(draft, actor)
            assert notice.id is not None
            preview = status.preview_text(
                notice, draft.targets.describe(), self.store.preview(notice.id), 10
            )
            return (
                f"已创建通知 #{notice.id}（草稿）。\n{preview}\n发送：/notice send {notice.id}",
                frozenset(),
            )
        notice_id = int(args[0].lstrip("#"))
        if sub == "preview":
            notice = self.store.get(notice_id)
            desc = self.store.targets(notice_id).describe()
            reach = self.store.preview(notice_id)
            return status.preview_text(notice, desc, reach, 30), frozenset()
        if sub == "status":
            report = status.build_report(self.store, notice_id)
            return status.report_text(report, s, 30), frozenset()
        if sub == "confirm":
            at = parse_local(" ".join(args[1:3]), s.tz) if len(args) > 1 else None
            return self._confirm(notice_id, actor, at), frozenset({"waves", "wake"})
        if sub == "cancel":
            notice, cancelled = self.store.cancel(notice_id, actor)
            return (
                f"通知 #{notice_id} 已取消（{cancelled} 个群的待发消息不再发送）。",
                frozenset({"waves"}),
            )
        if sub in ("started", "completed"):
            self.store.follow_up(notice_id, WaveKind(sub), actor, " ".join(args[1:]))
            return (
                f"已发出“{'升级开始' if sub == 'started' else '升级完成'}”通知（#{notice_id}）。",
                frozenset({"wake"}),
            )
        if sub == "resend":
            count = self.store.resend(notice_id, actor, args[1:])
            return f"通知 #{notice_id}：{count} 个群将补发。", frozenset({"wake"})
        return USAGE, frozenset()

    async def _ask_confirmation(
        self, notice_id: int, actor: Actor, at: dt.datetime | None
    ) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        state = await self.b.send_test(notice_id, actor)
        if state != "sent":
            return f"测试稿没有发到工程师群（{state}），请检查后重试。", ()
        res = await self.b.db.read(lambda: self.store.preview(notice_id))
        per = "，".join(f"{p} {k}" for p, k in res.per_platform().items())
        when = f"，定时 {self.store.settings.local(at)}" if at else "，立即发送"
        stamp = int(at.timestamp() // 60) if at else 0
        return (
            f"测试稿已发到工程师群，请核对。确认后通知 #{notice_id} 将发送到 {len(res.groups)} 个群"
            f"（{per}），{res.hospitals} 家医院{when}。",
            (
                (
                    Button("确认发送", encode(ConfirmNotice(notice_id, stamp))),
                    Button("取消", encode(AbortNotice(notice_id))),
                ),
            ),
        )

    def _confirm(self, notice_id: int, actor: Actor, at: dt.datetime | None) -> str:
        """Confirm (database work: on the gateway's writer); the caller then re-syncs the
        waves and wakes the worker."""
        notice = self.store.confirm(notice_id, actor, at)
        engineer = self.store.engineer_for(actor)
        who = engineer.name if engineer else actor.label
        return f"✅ 通知 #{notice_id} 已由 {who} 确认，{self.store.settings.local(notice.send_at)} 发送。"

    async def on_button(self, press: ButtonPress, action: ConfirmNotice | AbortNotice) -> None:
        """确认发送 / 取消 under a test copy (broadcasters only)."""
        actor = Actor.chat(press.message.platform, press.sender.user_id, press.sender.display_name)
        chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
        notice_id = action.notice
        try:
            if isinstance(action, AbortNotice):
                await self.b.db.read(
                    lambda: self.store.authorize(actor, "abort", notice_id, need="")
                )
                text = f"已放弃发送，通知 #{notice_id} 仍是草稿。"
            else:
                minutes = action.minutes
                at = dt.datetime.fromtimestamp(minutes * 60, dt.UTC) if minutes else None
                text = await self.b.db.write(lambda: self._confirm(notice_id, actor, at))
                self._after(frozenset({"waves", "wake"}))
        except NotBroadcaster:
            await self.b.transport.acknowledge(press, REFUSED)
            return
        except (BroadcastError, ValueError) as exc:
            await self.b.transport.acknowledge(press, f"操作未完成：{exc}"[:200])
            return
        await self.b.transport.acknowledge(press, text[:200])
        try:
            await self.b.transport.edit(press.message, Reply(chat=chat, text=text))
        except Exception as exc:
            log.info("could not update the confirmation message: %s", exc)

    async def refuse_outside_desk(self, msg: IncomingMessage) -> None:
        """``/notice`` typed in a hospital group: refused there, and on record."""
        actor = Actor.chat(msg.chat.platform, msg.sender.user_id, msg.sender.display_name)
        where = f"/notice in {msg.chat.platform}:{msg.chat.chat_id}"
        await self.b.db.write(lambda: self.store.audit(actor, "command", None, False, where))
        await self._say(msg.chat, "通知只能由工程师在工程师群中发送。", msg.message_id)
