"""What hospitals and engineers read: every notice text and its buttons, in one place.

Wording is product, not code (as ``bot/texts.py``). Buttons carry the *delivery* id
(``ack:<id>`` / ``applied:<id>``): it names the notice, the hospital and the chat in one short
token (Telegram allows 64 bytes), and a press can be checked against the chat it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from adapters.base import Button, ChatRef, Reply
from bot.broadcasts.actions import Acknowledged, Applied
from bot.broadcasts.models import (
    Delivery,
    Notice,
    NoticeKind,
    NoticeWave,
    Receipt,
    ReceiptKind,
    WaveKind,
)
from bot.broadcasts.settings import BroadcastSettings
from bot.routing import encode

ACK = "已知悉"
APPLIED = "已升级"
KIND_LABELS = {
    NoticeKind.PATCH: "补丁通知",
    NoticeKind.UPGRADE: "升级窗口",
    NoticeKind.ANNOUNCEMENT: "公告",
}
STATUS_LABELS = {
    "draft": "草稿",
    "scheduled": "已排期",
    "sent": "已发送",
    "cancelled": "已取消",
    "missed": "已错过",
}
DELIVERY_LABELS = {
    "queued": "排队中",
    #: Not a delivery status: a queued delivery whose outbox row is ``sending`` (on the wire).
    "sending": "发送中",
    "sent": "已送达",
    "failed": "失败",
    "gave_up": "多次失败已放弃",
    "unknown": "待确认",
    "cancelled": "已取消",
}


def notice_body(
    notice: Notice, modules: Sequence[str], services: Sequence[str], s: BroadcastSettings
) -> str:
    """The notice itself, as every wave quotes it."""
    urgent = "（紧急）" if notice.urgent else ""
    lines = [f"【{KIND_LABELS[NoticeKind(notice.kind)]}】{notice.title}{urgent}"]
    if notice.kind == NoticeKind.PATCH:
        product = " / ".join(p for p in (notice.product, notice.module) if p)
        lines += [
            f"产品/模块：{product}",
            f"版本：{notice.version}",
            f"修复内容：{notice.body}",
            f"下载地址：{notice.download_url}",
            f"校验值：{notice.checksum}",
            f"需要操作：{notice.action}",
            f"截止时间：{s.local(notice.deadline)}",
        ]
    elif notice.kind == NoticeKind.UPGRADE:
        lines.append(f"时间：{s.local(notice.window_start)} 至 {s.local(notice.window_end)}")
        lines.append(f"影响模块：{'、'.join(modules)}")
        if services:
            lines.append(f"影响服务：{'、'.join(services)}")
        lines.append(f"升级前请：{notice.action}")
        if notice.body:
            lines.append(f"说明：{notice.body}")
    else:
        lines.append(notice.body)
    return "\n".join(lines)


def wave_text(
    notice: Notice,
    wave: NoticeWave,
    modules: Sequence[str],
    services: Sequence[str],
    s: BroadcastSettings,
) -> str:
    body = notice_body(notice, modules, services, s)
    kind = WaveKind(wave.kind)
    ask = "请阅读后点击“已知悉”。"
    if notice.kind == NoticeKind.PATCH:
        ask = "请阅读后点击“已知悉”；完成升级后请点击“已升级”。"
    if kind is WaveKind.TEST:
        return f"【测试 · 仅工程师群可见，确认后才会发给医院】\n{body}\n\n{ask}"
    if kind is WaveKind.MAIN:
        return f"{body}\n\n{ask}"
    if kind is WaveKind.REMINDER:
        left = format_duration_cn(wave.offset_minutes)
        return (
            f"【升级提醒】距升级开始还有 {left}：{notice.title}\n"
            f"时间：{s.local(notice.window_start)} 至 {s.local(notice.window_end)}\n"
            f"影响模块：{'、'.join(modules)}\n升级前请：{notice.action}"
        )
    note = f"\n{wave.note}" if wave.note else ""
    if kind is WaveKind.STARTED:
        return (
            f"【升级开始】{notice.title} 现已开始，预计 {s.local(notice.window_end)} 结束。{note}"
        )
    if kind is WaveKind.COMPLETED:
        return f"【升级完成】{notice.title} 已完成，可以正常使用。如有异常请在群里直接说明。{note}"
    return f"【提醒】以下通知本院尚未确认，请阅读后点击“已知悉”：\n{body}"


def format_duration_cn(minutes: int) -> str:
    """1440 → "24 小时" (as "T-24h" was said), 4320 → "3 天", 90 → "90 分钟"."""
    if minutes > 2880 and minutes % 1440 == 0:
        return f"{minutes // 1440} 天"
    if minutes % 60 == 0:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟"


def buttons(
    notice: Notice, delivery_id: int, done: Iterable[str] = ()
) -> tuple[tuple[Button, ...], ...]:
    """已知悉 (and 已升级 for patches), minus what this hospital already pressed."""
    pressed = set(done)
    row: list[Button] = []
    if ReceiptKind.ACK not in pressed:
        row.append(Button(ACK, encode(Acknowledged(delivery_id))))
    if notice.kind == NoticeKind.PATCH and ReceiptKind.APPLIED not in pressed:
        row.append(Button(APPLIED, encode(Applied(delivery_id))))
    return (tuple(row),) if row else ()


def receipt_lines(receipts: Iterable[Receipt], s: BroadcastSettings) -> list[str]:
    labels = {ReceiptKind.ACK: ACK, ReceiptKind.APPLIED: APPLIED}
    return [
        f"✅ {labels[ReceiptKind(r.kind)]}：{r.user_name or r.user_id}（{s.local(r.at)}）"
        for r in receipts
    ]


def delivery_reply(
    delivery: Delivery,
    notice: Notice,
    wave: NoticeWave,
    modules: Sequence[str],
    services: Sequence[str],
    s: BroadcastSettings,
    receipts: Sequence[Receipt] = (),
) -> Reply:
    """The message of one delivery (and, after presses, its edited form)."""
    assert delivery.id is not None
    text = wave_text(notice, wave, modules, services, s)
    footer = receipt_lines(receipts, s)
    if footer:
        text += "\n\n" + "\n".join(footer)
    return Reply(
        chat=ChatRef(delivery.platform, delivery.chat_id),
        text=text,
        reply_to=delivery.reply_to,
        buttons=buttons(notice, delivery.id, (r.kind for r in receipts)),
    )


def notice_line(notice: Notice, s: BroadcastSettings) -> str:
    when = s.local(notice.sent_at or notice.send_at)
    return (
        f"#{notice.id} [{KIND_LABELS[NoticeKind(notice.kind)]}] {notice.title} · "
        f"{STATUS_LABELS.get(notice.status, notice.status)} · {when}"
    )
