"""Creating, testing, confirming and cancelling notices: from the store and from the chat.
Only broadcasters may; every refusal is an audit row."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.base import ChatRef, IncomingMessage, Sender
from bot.broadcasts import (
    Actor,
    Broadcasts,
    BroadcastStore,
    DeliveryStatus,
    NotBroadcaster,
    NoticeDraft,
    NoticeInvalid,
    NoticeKind,
    NoticeStateError,
    Targets,
)
from tests.broadcasts.conftest import (
    BROADCASTER,
    DESK,
    E01_USER,
    E05_USER,
    HOSPITAL_CHATS,
    NURSE,
    START,
    FakeClock,
    FakeTransport,
    patch_draft,
    press,
    pressed,
    send_now,
)


def desk_message(text: str, user: str, message_id: str = "50") -> IncomingMessage:
    return IncomingMessage(DESK, message_id, Sender(user, "某人"), text, START)


def refusals(store: BroadcastStore) -> list[tuple[str, str, str]]:
    return [(a.actor, a.via, a.action) for a in store.audit_log() if not a.allowed]


def test_only_broadcasters_create_and_refusals_are_audited(store: BroadcastStore) -> None:
    with pytest.raises(NotBroadcaster, match="does not have the broadcaster role"):
        store.create(patch_draft(), Actor.cli("e01"))
    with pytest.raises(NotBroadcaster, match="not a registered engineer"):
        store.create(patch_draft(), Actor.chat("telegram", NURSE))
    assert refusals(store) == [
        ("e01", "cli", "create"),
        (f"telegram:{NURSE}", "telegram", "create"),
    ]
    notice = store.create(patch_draft(), Actor.cli("e02"))  # lead + broadcaster
    assert notice.status == "draft" and notice.created_by == "e02"
    assert store.audit_log(notice.id)[-1].action == "create"


async def test_every_change_is_refused_to_non_broadcasters(bc: Broadcasts) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    engineer = Actor.cli("e01")
    for attempt in (
        lambda: bc.store.request_test(notice.id or 0, engineer, [DESK]),
        lambda: bc.store.confirm(notice.id or 0, engineer, skip_test=True),
        lambda: bc.store.cancel(notice.id or 0, engineer),
        lambda: bc.store.resend(notice.id or 0, engineer),
    ):
        with pytest.raises(NotBroadcaster):
            attempt()
    assert [a for _, _, a in refusals(bc.store)] == ["test", "send", "cancel", "resend"]
    assert bc.store.get(notice.id).status == "draft"


def test_drafts_are_checked() -> None:
    with pytest.raises(NoticeInvalid, match="needs: checksum"):
        patch_draft(checksum="")
    with pytest.raises(NoticeInvalid, match="needs: product/module"):
        patch_draft(product="", module="")
    with pytest.raises(NoticeInvalid, match="not an http"):
        patch_draft(download_url="ftp://x")
    with pytest.raises(NoticeInvalid, match="needs: title, body"):
        NoticeDraft(NoticeKind.ANNOUNCEMENT, Targets(everyone=True))
    with pytest.raises(NoticeInvalid, match="must end after it starts"):
        NoticeDraft(
            NoticeKind.UPGRADE,
            Targets(everyone=True),
            window_start=START,
            window_end=START,
            modules=("门诊",),
            action="x",
        )
    with pytest.raises(NoticeInvalid, match="too long"):
        NoticeDraft(NoticeKind.ANNOUNCEMENT, Targets(everyone=True), title="t", body="长" * 3001)


async def test_confirm_needs_the_test_copy_first(bc: Broadcasts, transport: FakeTransport) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    with pytest.raises(NoticeStateError, match=r"test copy .* has not reached"):
        bc.store.confirm(notice.id, BROADCASTER)
    assert await bc.broadcaster.send_test(notice.id, BROADCASTER) == "sent"
    [test_copy] = transport.to(DESK.chat_id)
    assert test_copy.reply.text.startswith("【测试")
    assert bc.store.confirm(notice.id, BROADCASTER).status == "scheduled"
    await bc.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)
    assert bc.store.get(notice.id).status == "sent"
    with pytest.raises(NoticeStateError, match="already sent"):
        bc.store.confirm(notice.id, BROADCASTER)


async def test_skipping_the_test_is_possible_and_audited(bc: Broadcasts) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    bc.store.confirm(notice.id, BROADCASTER, skip_test=True)
    assert "WITHOUT a test copy" in bc.store.audit_log(notice.id)[-1].detail


async def test_chat_flow_create_send_confirm(bc: Broadcasts, transport: FakeTransport) -> None:
    text = (
        "/notice create announcement\n"
        "标题: 医保政策调整\n"
        "内容: 自 4 月 1 日起门诊慢特病结算按新目录执行。\n"
        "目标: region=华东"
    )
    await bc.on_desk_command(desk_message(text, E05_USER), text.split(" ", 1)[1])
    created = transport.to(DESK.chat_id)[-1].reply.text
    assert "已创建通知 #1（草稿）" in created and "3 个群" in created
    await bc.on_desk_command(desk_message("/notice send 1", E05_USER), "send 1")
    test_copy, prompt = transport.to(DESK.chat_id)[-2:]
    assert "医保政策调整" in test_copy.reply.text and "【测试" in test_copy.reply.text
    assert "3 个群（slack 1，telegram 2），2 家医院" in prompt.reply.text
    [[confirm, abort]] = prompt.reply.buttons
    assert confirm.action == "nconfirm:1:0" and abort.action == "nabort:1"

    # an engineer without the role presses 确认发送: refused, on record, nothing sent
    assert await pressed(bc, press(DESK.chat_id, prompt.ref.message_id, confirm.action, E01_USER))
    assert "broadcaster" in transport.toasts[-1][1]
    assert refusals(bc.store)[-1] == ("telegram:5001", "telegram", "send")
    assert bc.store.get(1).status == "draft"

    assert await pressed(bc, press(DESK.chat_id, prompt.ref.message_id, confirm.action, E05_USER))
    assert "已由 通知员 确认" in transport.edits[-1][1].text
    await bc.broadcaster.process_once()
    assert sorted(transport.chats()) == ["-1001001", "-1001003", "C001"]
    body = transport.to("-1001001")[0].reply.text
    assert body.startswith("【公告】医保政策调整") and "慢特病" in body


async def test_chat_refusals_for_non_broadcasters_and_outside_the_desk(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    text = "/notice create announcement\n标题: x\n内容: y\n目标: all"
    await bc.on_desk_command(desk_message(text, E01_USER), text.split(" ", 1)[1])
    assert "broadcaster" in transport.sent[-1].reply.text
    await bc.on_desk_command(desk_message("/notice list", NURSE), "list")  # not an engineer
    assert "broadcaster" in transport.sent[-1].reply.text
    hospital = IncomingMessage(
        ChatRef("telegram", "-1001001"), "9", Sender(NURSE, "护士"), "/notice send 1", START
    )
    await bc.on_hospital_command(hospital)
    assert transport.sent[-1].reply.text == "通知只能由工程师在工程师群中发送。"
    assert [(a, act) for a, _, act in refusals(bc.store)] == [
        ("telegram:5001", "create"),
        (f"telegram:{NURSE}", "list"),
        (f"telegram:{NURSE}", "command"),
    ]
    assert bc.store.list_notices() == []


async def test_chat_schedule_and_bad_input(
    bc: Broadcasts, transport: FakeTransport, clock: FakeClock
) -> None:
    bc.store.create(patch_draft(), BROADCASTER)
    await bc.on_desk_command(
        desk_message("/notice schedule 1 2026-03-03 09:30", E05_USER), "schedule 1 2026-03-03 09:30"
    )
    prompt = transport.sent[-1]
    assert "定时 2026-03-03 09:30" in prompt.reply.text
    assert await pressed(
        bc, press(DESK.chat_id, prompt.ref.message_id, prompt.reply.buttons[0][0].action, E05_USER)
    )
    notice = bc.store.get(1)
    assert notice.status == "scheduled" and notice.send_at == dt.datetime(
        2026, 3, 3, 1, 30, tzinfo=dt.UTC
    )
    await bc.on_desk_command(desk_message("/notice preview x", E05_USER), "preview x")
    assert transport.sent[-1].reply.text.startswith("/notice 用法")
    await bc.on_desk_command(desk_message("/notice status 9", E05_USER), "status 9")
    assert transport.sent[-1].reply.text == "操作未完成：no notice #9"


async def test_cancel(bc: Broadcasts, transport: FakeTransport, clock: FakeClock) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(bc, notice.id, at=clock.now + dt.timedelta(hours=2))
    cancelled, _ = bc.store.cancel(notice.id, BROADCASTER)
    assert cancelled.status == "cancelled"
    clock.advance(hours=3)
    await bc.broadcaster.process_once()
    assert transport.chats() == []
    with pytest.raises(NoticeStateError, match="already cancelled"):
        bc.store.cancel(notice.id, BROADCASTER)


async def test_cancel_while_sending_stops_the_rest(
    bc: Broadcasts, transport: FakeTransport
) -> None:
    notice = bc.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await bc.broadcaster.send_test(notice.id, BROADCASTER)
    bc.store.confirm(notice.id, BROADCASTER)
    await bc.broadcaster.fire_due()  # deliveries exist, none sent yet
    _, count = bc.store.cancel(notice.id, BROADCASTER)
    assert count == 4
    await bc.broadcaster.process_once()
    assert transport.chats() == []
    statuses = {d.status for d in bc.store.deliveries.of_notice(notice.id)}
    assert statuses == {DeliveryStatus.SENT, DeliveryStatus.CANCELLED}  # the test copy was sent
