"""``notice status`` and ``notice preview``: per hospital, what arrived and what came back.

One report serves the CLI and the engineers' chat (the chat shows the first lines only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.broadcasts import render
from bot.broadcasts.models import (
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeWave,
    Receipt,
    ReceiptKind,
    WaveKind,
    delivery_key,
)
from bot.broadcasts.settings import BroadcastSettings
from bot.broadcasts.store import BroadcastStore
from bot.broadcasts.targeting import Resolution
from bot.inbox.models import OutboxState
from bot.infra.clock import as_utc

_WAVE_LABELS = {
    WaveKind.TEST: "测试",
    WaveKind.MAIN: "通知",
    WaveKind.REMINDER: "提醒",
    WaveKind.STARTED: "开始",
    WaveKind.COMPLETED: "完成",
    WaveKind.ACK_REMINDER: "确认提醒",
}
_WAVE_STATUS = {
    "draft": "待确认",
    "scheduled": "已排期",
    "fired": "已发出",
    "missed": "已错过",
    "skipped": "已跳过",
    "cancelled": "已取消",
}


@dataclass
class HospitalState:
    hospital_id: str
    name: str
    groups: list[Delivery] = field(default_factory=list)
    ack: Receipt | None = None
    applied: Receipt | None = None
    tickets: list[str] = field(default_factory=list)


@dataclass
class NoticeReport:
    notice: Notice
    hospitals: list[HospitalState]
    waves: list[NoticeWave]
    test_state: str
    replies: int
    #: When quiet hours hold the notice back: until this time (None: not held).
    held_until: dt.datetime | None = None
    #: Queued deliveries whose send is on the wire: the outbox row says ``sending`` (the
    #: limiter let it go); a queued one whose row says ``queued``, or has none, waits.
    leaving: frozenset[int] = frozenset()

    def state(self, delivery: Delivery) -> str:
        """What the report shows for a group: its status, or "sending" while on the wire."""
        return "sending" if delivery.id in self.leaving else delivery.status

    def count(self, state: str) -> int:
        return sum(1 for h in self.hospitals for g in h.groups if self.state(g) == state)


def build_report(store: BroadcastStore, notice_id: int) -> NoticeReport:
    notice = store.get(notice_id)
    names = {h.id: h.name for h in store.registry.list_hospitals()}
    hospitals: dict[str, HospitalState] = {}
    deliveries = store.deliveries.of_notice(notice_id, WaveKind.MAIN)
    for d in deliveries:
        if d.hospital_id is not None:
            h = hospitals.setdefault(
                d.hospital_id, HospitalState(d.hospital_id, names.get(d.hospital_id, ""))
            )
            h.groups.append(d)
    for r in store.receipts.receipts(notice_id):
        h = hospitals.setdefault(
            r.hospital_id, HospitalState(r.hospital_id, names.get(r.hospital_id, ""))
        )
        if r.kind == ReceiptKind.ACK:
            h.ack = r
        else:
            h.applied = r
    replies = store.receipts.replies(notice_id)
    for reply in replies:
        if reply.ticket_number and reply.hospital_id in hospitals:
            hospitals[reply.hospital_id].tickets.append(reply.ticket_number)
    waves = store.waves_of(notice_id)
    return NoticeReport(
        notice,
        sorted(hospitals.values(), key=lambda h: h.hospital_id),
        waves,
        store.test_state(notice_id),
        len(replies),
        quiet_hold(notice, waves, store.settings),
        _leaving(store, deliveries),
    )


def _leaving(store: BroadcastStore, deliveries: list[Delivery]) -> frozenset[int]:
    """The queued deliveries whose outbox row is ``sending`` (read from the one outbox: the
    delivery row keeps no send state of its own)."""
    waiting = {delivery_key(d): d.id for d in deliveries if d.status == DeliveryStatus.QUEUED}
    states = store.sends.states(list(waiting))
    return frozenset(
        d for key, d in waiting.items() if d is not None and states.get(key) == OutboxState.SENDING
    )


def quiet_hold(notice: Notice, waves: list[NoticeWave], s: BroadcastSettings) -> dt.datetime | None:
    """Until when quiet hours hold the notice back: the time the worker moved its notice wave
    to, or, for a wave not due yet, the end of the quiet hours it is due in. None for an
    urgent notice, one already sent, or one due outside quiet hours."""
    if notice.urgent:
        return None
    for w in waves:
        if w.kind != WaveKind.MAIN or w.status != "scheduled" or w.due_at is None:
            continue
        due = as_utc(w.due_at)
        sent_at = as_utc(notice.send_at) if notice.send_at else due
        if due > sent_at and w.note.startswith("held for quiet hours"):
            return due
        if s.in_quiet_hours(due):
            return s.quiet_end(due)
    return None


def held_text(until: dt.datetime | None, s: BroadcastSettings) -> str:
    """The line that says a notice waits for the end of quiet hours ("" when it does not)."""
    if until is None:
        return ""
    return f"免打扰时段（{s.quiet_hours}）：非紧急通知顺延至 {s.local(until)} 发出"


def report_text(
    report: NoticeReport, s: BroadcastSettings, max_hospitals: int | None = None
) -> str:
    n = report.notice
    lines = [render.notice_line(n, s)]
    if report.held_until is not None:
        lines.append(held_text(report.held_until, s))
    total = sum(len(h.groups) for h in report.hospitals)
    if total:
        counts = "、".join(
            f"{label} {report.count(st)}"
            for st, label in render.DELIVERY_LABELS.items()
            if report.count(st)
        )
        lines.append(f"群：共 {total} 个，{counts}")
        hosp = len(report.hospitals)
        acked = sum(1 for h in report.hospitals if h.ack)
        line = f"医院：{hosp} 家，已知悉 {acked}/{hosp}"
        if n.kind == "patch":
            line += f"，已升级 {sum(1 for h in report.hospitals if h.applied)}/{hosp}"
        tickets = sorted({t for h in report.hospitals for t in h.tickets})
        line += f"，回复 {report.replies}" + (f"（工单 {', '.join(tickets)}）" if tickets else "")
        lines.append(line)
    waves = [
        f"{_WAVE_LABELS[WaveKind(w.kind)]}"
        + (
            f" T-{render.format_duration_cn(w.offset_minutes)}"
            if w.kind == WaveKind.REMINDER
            else ""
        )
        + f" {_WAVE_STATUS.get(w.status, w.status)} {s.local(w.fired_at or w.due_at)}"
        for w in report.waves
        if w.kind != WaveKind.MAIN and not (w.kind == WaveKind.TEST and w.status == "draft")
    ]
    if waves:
        lines.append("安排：" + "；".join(waves))
    shown = report.hospitals if max_hospitals is None else report.hospitals[:max_hospitals]
    for h in shown:
        groups = (
            "，".join(
                f"{g.platform}:{g.chat_id} {render.DELIVERY_LABELS.get(report.state(g), g.status)}"
                + (
                    f"（{g.last_error}）"
                    if g.status in ("failed", "gave_up") and g.last_error
                    else ""
                )
                for g in h.groups
            )
            or "（未发送到群）"
        )
        ack = f"{h.ack.user_name or h.ack.user_id} {s.local(h.ack.at)}" if h.ack else "—"
        line = f"{h.hospital_id} {h.name}：{groups}；已知悉 {ack}"
        if n.kind == "patch":
            applied = (
                f"{h.applied.user_name or h.applied.user_id} {s.local(h.applied.at)}"
                if h.applied
                else "—"
            )
            line += f"；已升级 {applied}"
        lines.append(line)
    if len(shown) < len(report.hospitals):
        lines.append(
            f"……还有 {len(report.hospitals) - len(shown)} 家（完整列表：hisbot notice status {n.id}）"
        )
    return "\n".join(lines)


def preview_text(
    notice: Notice, targets: str, res: Resolution, max_groups: int | None = None
) -> str:
    per = "，".join(f"{p} {k}" for p, k in res.per_platform().items()) or "无"
    lines = [
        f"通知 #{notice.id} 将发送到 {len(res.groups)} 个群（{per}），{res.hospitals} 家医院；目标：{targets}"
    ]
    shown = res.groups if max_groups is None else res.groups[:max_groups]
    lines += [
        f"  {g.platform}:{g.chat_id}  {g.hospital_id} {g.hospital_name}  {g.title}".rstrip()
        for g in shown
    ]
    if len(shown) < len(res.groups):
        lines.append(f"  ……还有 {len(res.groups) - len(shown)} 个群")
    if res.unreachable:
        names = "、".join(f"{h.id} {h.name}" for h in res.unreachable)
        lines.append(f"符合条件但没有可用的群（收不到）：{names}")
    return "\n".join(lines)
