"""已知悉 / 已升级 per hospital, the status report, and replies linked to the notice."""

from __future__ import annotations

from adapters.base import ChatRef, IncomingMessage, Sender
from bot.broadcasts import Broadcasts, NoticeDraft, NoticeKind, Targets
from bot.broadcasts.status import build_report, report_text
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    NURSE,
    START,
    FakeClock,
    FakeTransport,
    patch_draft,
    press,
    pressed,
    send_now,
)


async def sent_patch(bc: Broadcasts) -> int:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id)
    return notice.id


async def test_acknowledged_and_applied_per_hospital_with_who_and_when(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    notice_id = await sent_patch(bc)
    tg, slack = transport.to("-1001001")[0], transport.to("C001")[0]  # h001's two chats
    ack, applied = (b.action for b in tg.reply.buttons[0])
    assert [b.label for b in tg.reply.buttons[0]] == ["已知悉", "已升级"]
    clock.advance(minutes=15)
    assert await pressed(bc, press("-1001001", tg.ref.message_id, ack, "7001", "护士小王"))
    assert transport.toasts[-1] == (ack, "已记录：本院已知悉，谢谢！")
    edited = transport.edits[-1][1]
    assert "✅ 已知悉：护士小王（2026-03-02 10:15）" in edited.text
    assert [b.label for b in edited.buttons[0]] == ["已升级"]  # what is left to press
    # someone else, in the hospital's other chat: already acknowledged, by whom
    slack_ack = slack.reply.buttons[0][0].action
    assert await pressed(bc, press("C001", slack.ref.message_id, slack_ack, "U9", "Li"))
    assert transport.toasts[-1][1] == "本院已由 护士小王 于 2026-03-02 10:15 确认已知悉。"
    clock.advance(hours=2)
    assert await pressed(bc, press("-1001001", tg.ref.message_id, applied, "7002", "信息科老陈"))
    assert transport.edits[-1][1].buttons == ()
    receipts = bc.store.receipts.receipts(notice_id)
    assert [(r.hospital_id, r.kind, r.user_name, r.platform) for r in receipts] == [
        ("h001", "ack", "护士小王", "telegram"),
        ("h001", "applied", "信息科老陈", "telegram"),
    ]


async def test_buttons_that_do_not_count(bc: Broadcasts, transport: FakeTransport) -> None:
    notice_id = await sent_patch(bc)
    tg = transport.to("-1001001")[0]
    ack = tg.reply.buttons[0][0].action
    # pressed in another hospital's group (forged or forwarded data)
    assert await pressed(bc, press("-1001002", tg.ref.message_id, ack))
    assert transport.toasts[-1][1] == "这个按钮已失效。"
    # the test copy in the engineers' chat
    test_copy = transport.to(DESK.chat_id)[0]
    assert await pressed(
        bc, press(DESK.chat_id, test_copy.ref.message_id, test_copy.reply.buttons[0][0].action)
    )
    assert transport.toasts[-1][1].startswith("测试消息")
    assert not await pressed(bc, press("-1001001", tg.ref.message_id, "ack:x"))  # damaged
    assert not await pressed(bc, press("-1001001", tg.ref.message_id, "ok:12"))  # the pipeline's
    assert bc.store.receipts.receipts(notice_id) == []


async def test_announcements_have_no_applied_button(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    notice = bc.store.create(
        NoticeDraft(
            NoticeKind.ANNOUNCEMENT, Targets(hospitals=("h002",)), title="医保", body="新目录"
        ),
        BROADCASTER,
    )
    await send_now(bc, notice.id or 0)
    [msg] = transport.to("-1001002")
    assert [b.label for b in msg.reply.buttons[0]] == ["已知悉"]
    delivery_id = msg.reply.buttons[0][0].action.split(":")[1]
    assert await pressed(bc, press("-1001002", msg.ref.message_id, f"applied:{delivery_id}"))
    assert transport.toasts[-1][1] == "这个按钮已失效。"


async def test_status_shows_delivered_failed_acknowledged_applied_per_hospital(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    from adapters.base import DeliveryError

    transport.fail["-1001003"] = [
        DeliveryError(
            ChatRef("telegram", "-1001003"), "Forbidden: bot was kicked from the supergroup chat"
        )
    ]
    notice_id = await sent_patch(bc)
    tg = transport.to("-1001002")[0]
    await pressed(
        bc, press("-1001002", tg.ref.message_id, tg.reply.buttons[0][0].action, NURSE, "药剂科")
    )
    report = build_report(bc.store, notice_id)
    text = report_text(report, bc.store.settings)
    lines = text.splitlines()
    assert lines[0].startswith("#1 [补丁通知] HIS 住院 5.2.4 补丁 · 已发送")
    assert lines[1] == "群：共 4 个，已送达 3、失败 1"
    assert lines[2] == "医院：3 家，已知悉 1/3，已升级 0/3，回复 0"
    assert (
        "h002 县中医院：telegram:-1001002 已送达；已知悉 药剂科 2026-03-02 10:00；已升级 —" in lines
    )
    assert (
        "h003 妇幼保健院：telegram:-1001003 失败（Forbidden: bot was kicked from the supergroup chat）"
        "；已知悉 —；已升级 —"
    ) in lines
    assert any(
        line.startswith("h001 市第一人民医院：slack:C001 已送达，telegram:-1001001 已送达")
        for line in lines
    )


async def test_replies_to_a_notice_are_linked_and_can_become_a_ticket(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    notice_id = await sent_patch(bc)
    msg = transport.to("-1001002")[0]
    found = bc.notice_for_message("telegram", "-1001002", msg.ref.message_id)
    assert found is not None and found.id == notice_id
    assert bc.notice_for_message("telegram", "-1001002", "999") is None
    assert (
        bc.notice_for_message(
            "telegram", DESK.chat_id, transport.to(DESK.chat_id)[0].ref.message_id
        )
        is None
    )

    question = IncomingMessage(
        ChatRef("telegram", "-1001002"), "555", Sender(NURSE, "药剂科"), "这个补丁要停医保接口吗？",
        START, reply_to_message_id=msg.ref.message_id,
    )  # fmt: skip
    assert await bc.on_hospital_reply(question, "h002") == found
    assert await bc.on_hospital_reply(question, "h002") == found  # an edit: still one reply
    unrelated = IncomingMessage(
        ChatRef("telegram", "-1001002"), "556", Sender(NURSE, "x"), "你好", START
    )
    assert await bc.on_hospital_reply(unrelated, "h002") is None
    # the thread became a ticket: the question (or any message of the thread) links it
    linked = bc.link_ticket("2026-000123", "telegram", "-1001002", ["555", "557"])
    assert linked is not None and linked.id == notice_id
    assert bc.link_ticket("2026-000124", "telegram", "-1001002", ["558"]) is None
    # a reply to the reply still finds the notice
    assert bc.notice_for_message("telegram", "-1001002", "555") == found
    report = build_report(bc.store, notice_id)
    assert report.replies == 1
    assert "回复 1（工单 2026-000123）" in report_text(report, bc.store.settings)
