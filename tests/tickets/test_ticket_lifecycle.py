"""A ticket's life: states, who may move it, and the audit log every change writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from bot.tickets import (
    Actor,
    AlreadyClaimed,
    InvalidTransition,
    InvalidValue,
    NotAllowed,
    ResolutionRequired,
    Status,
    ThreadEntry,
    Ticket,
    TicketNotFound,
    TicketStore,
)

from .conftest import START, FakeClock

HOSPITAL_USER = Actor.hospital_user("h001", "telegram", 7001, "信息科小刘")


def test_open_records_everything_the_contract_asks(store: TicketStore, clock: FakeClock) -> None:
    t = store.open_ticket(
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id=7001,
        reporter_name="信息科小刘",
        source_platform="telegram",
        source_chat_id=-1001001,
        source_message_id=555,
        source_thread_id=None,
        question="住院结算时医保接口报错 [手机号已隐藏]",
        category="insurance",
        urgency="P1",
        articles_tried=[("ins-001", "医保接口超时"), ("ins-007", "医保结算失败")],
        thread=[
            ("hospital", "信息科小刘", "住院结算时医保接口报错", START - dt.timedelta(minutes=3)),
            ThreadEntry("bot", "bot", "试试：医保接口超时", START - dt.timedelta(minutes=2)),
            ("hospital", "信息科小刘", "没解决", START - dt.timedelta(minutes=1)),
        ],
    )
    got = store.get(t.number)
    assert (got.number, got.hospital_id, got.status) == ("2026-000001", "h001", "new")
    assert (got.reporter_platform, got.reporter_user_id, got.reporter_name) == (
        "telegram",
        "7001",
        "信息科小刘",
    )
    assert (got.source_chat_id, got.source_message_id, got.source_thread_id) == (
        "-1001001",
        "555",
        None,
    )
    assert (got.category, got.urgency) == ("insurance", "P1")
    assert got.created_at == got.updated_at == START
    assert got.accepted_by is None and got.accepted_at is None and got.completed_at is None
    assert [(a.article_id, a.title, a.position) for a in store.articles(t.number)] == [
        ("ins-001", "医保接口超时", 0),
        ("ins-007", "医保结算失败", 1),
    ]
    assert [(m.direction, m.text) for m in store.messages(t.number)] == [
        ("hospital", "住院结算时医保接口报错"),
        ("bot", "试试：医保接口超时"),
        ("hospital", "没解决"),
    ]
    [opened] = store.events(t.number)
    assert (opened.kind, opened.actor_kind, opened.actor_id, opened.actor_name) == (
        "opened",
        "hospital_user",
        "telegram:7001",
        "信息科小刘",
    )
    assert opened.at == START and opened.to_value == "new"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("category", "printer", "unknown category"), ("urgency", "P0", "unknown urgency")],
)
def test_open_validates_category_and_urgency(
    open_ticket: Callable[..., Ticket], field: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidValue, match=message):
        open_ticket(**{field: value})


def test_full_lifecycle_events_in_order_with_actors_and_times(
    store: TicketStore, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    number = open_ticket().number
    t_open = clock.now
    t_claim = clock.advance(minutes=4)
    claimed = store.claim(number, "e01")
    assert (claimed.status, claimed.accepted_by, claimed.accepted_at) == (
        "accepted",
        "e01",
        t_claim,
    )
    t_start = clock.advance(minutes=1)
    assert store.start(number, "e01").status == "in_progress"
    t_resolve = clock.advance(hours=2)
    resolved = store.resolve(number, "e01", "  打印机驱动重装后恢复  ")
    assert resolved.status == "resolved"
    assert resolved.resolution == "打印机驱动重装后恢复"
    assert resolved.completed_at == t_resolve
    t_close = clock.advance(days=1)
    closed = store.close(number, HOSPITAL_USER)
    assert (closed.status, closed.closed_at, closed.updated_at) == ("closed", t_close, t_close)
    # what was stored, read back fresh
    got = store.get(number)
    assert (got.accepted_by, got.accepted_at, got.completed_at, got.closed_at) == (
        "e01",
        t_claim,
        t_resolve,
        t_close,
    )
    events = [
        (e.kind, e.actor_kind, e.actor_id, e.actor_name, e.from_value, e.to_value, e.at)
        for e in store.events(number)
    ]
    assert events == [
        ("opened", "hospital_user", "telegram:7001", "信息科小刘", None, "new", t_open),
        ("accepted", "engineer", "e01", "张工", "new", "accepted", t_claim),
        ("status_changed", "engineer", "e01", "张工", "accepted", "in_progress", t_start),
        ("resolved", "engineer", "e01", "张工", "in_progress", "resolved", t_resolve),
        ("closed", "hospital_user", "telegram:7001", "信息科小刘", "resolved", "closed", t_close),
    ]
    assert store.events(number)[3].text == "打印机驱动重装后恢复"


def test_resolve_straight_from_accepted(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    number = open_ticket().number
    store.claim(number, "e02")
    assert store.resolve(number, "e02", "远程重启服务").status == "resolved"
    assert [e.kind for e in store.events(number)] == ["opened", "accepted", "resolved"]


@pytest.mark.parametrize("resolution", ["", "   ", "\n\t"])
def test_resolution_is_required(
    store: TicketStore, open_ticket: Callable[..., Ticket], resolution: str
) -> None:
    number = open_ticket().number
    store.claim(number, "e01")
    with pytest.raises(ResolutionRequired, match=number):
        store.resolve(number, "e01", resolution)
    assert store.get(number).status == "accepted"
    assert [e.kind for e in store.events(number)] == ["opened", "accepted"]


def test_invalid_transitions_are_rejected_and_change_nothing(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    number = open_ticket().number
    with pytest.raises(InvalidTransition) as exc:
        store.start(number, "e09")  # a lead may start, but not a ticket nobody accepted
    assert (exc.value.from_status, exc.value.to_status) == ("new", "in_progress")
    with pytest.raises(InvalidTransition):
        store.resolve(number, "e09", "done")
    with pytest.raises(InvalidTransition):
        store.close(number, "e09")
    with pytest.raises(InvalidTransition):
        store.reopen(number, "e09", "why not")
    store.claim(number, "e01")
    with pytest.raises(InvalidTransition):
        store.close(number, "e01")  # close only after resolve
    store.start(number, "e01")
    with pytest.raises(InvalidTransition) as exc:
        store.start(number, "e01")
    assert (exc.value.from_status, exc.value.to_status) == ("in_progress", "in_progress")
    store.resolve(number, "e01", "ok")
    store.close(number, "e01")
    with pytest.raises(InvalidTransition):
        store.close(number, "e01")
    with pytest.raises(AlreadyClaimed, match="张工"):
        store.claim(number, "e02")
    assert store.get(number).status == "closed"
    assert [e.kind for e in store.events(number)] == [
        "opened",
        "accepted",
        "status_changed",
        "resolved",
        "closed",
    ]


def test_claim_of_a_claimed_ticket_names_the_owner(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    number = open_ticket().number
    store.claim(number, "e01")
    with pytest.raises(AlreadyClaimed) as exc:
        store.claim(number, "e02")
    assert (exc.value.engineer_id, exc.value.engineer_name) == ("e01", "张工")
    assert "张工" in str(exc.value)
    assert store.get(number).accepted_by == "e01"


def test_who_may_do_what(store: TicketStore, open_ticket: Callable[..., Ticket]) -> None:
    number = open_ticket().number
    with pytest.raises(NotAllowed, match="does not take tickets"):
        store.claim(number, "e05")  # broadcaster only
    with pytest.raises(NotAllowed, match="not a registered engineer"):
        store.claim(number, "e77")
    store.claim(number, "e01")
    with pytest.raises(NotAllowed, match="only the ticket's engineer"):
        store.start(number, "e02")
    with pytest.raises(NotAllowed, match="only the ticket's engineer"):
        store.resolve(number, "e02", "not mine")
    with pytest.raises(NotAllowed, match="only a lead"):
        store.assign(number, "e02", "e02")  # cannot take someone's ticket
    assert store.start(number, "e09").status == "in_progress"  # a lead may
    assert store.get(number).accepted_by == "e01"


def test_assign_by_lead_and_hand_over(
    store: TicketStore, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    number = open_ticket().number
    t_assign = clock.advance(minutes=10)
    t = store.assign(number, "e02", Actor.engineer("e09"))
    assert (t.status, t.accepted_by, t.accepted_at) == ("accepted", "e02", t_assign)
    clock.advance(minutes=5)
    t = store.assign(number, "e01", "e02")  # the owner hands it over
    assert (t.accepted_by, t.accepted_at) == ("e01", t_assign)  # first acceptance time kept
    with pytest.raises(NotAllowed, match="does not take tickets"):
        store.assign(number, "e05", "e09")
    events = [(e.kind, e.actor_id, e.from_value, e.to_value) for e in store.events(number)]
    assert events == [
        ("opened", "telegram:7001", None, "new"),
        ("assigned", "e09", None, "e02"),
        ("status_changed", "e09", "new", "accepted"),
        ("assigned", "e02", "e02", "e01"),
    ]


def test_reopen_back_to_its_engineer_or_to_the_queue(
    store: TicketStore, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    number = open_ticket().number
    store.claim(number, "e01")
    store.resolve(number, "e01", "重启打印服务")
    with pytest.raises(NotAllowed, match="reason"):
        store.reopen(number, HOSPITAL_USER, "  ")
    t_reopen = clock.advance(hours=3)
    t = store.reopen(number, HOSPITAL_USER, "又脱机了")
    assert (t.status, t.accepted_by, t.resolution, t.completed_at) == (
        "in_progress",
        "e01",
        None,
        None,
    )
    last = store.events(number)[-1]
    assert (last.kind, last.from_value, last.to_value, last.text, last.at) == (
        "reopened",
        "resolved",
        "in_progress",
        "又脱机了",
        t_reopen,
    )
    # resolved again, closed, then reopened into the queue for someone else
    store.resolve(number, "e01", "更换打印机数据线")
    store.close(number, "e01")
    t = store.reopen(number, "e09", "e01 休假，重新派单", unassign=True)
    assert (t.status, t.accepted_by, t.accepted_at, t.closed_at) == ("new", None, None, None)
    assert store.claim(number, "e02").accepted_by == "e02"
    kinds = [e.kind for e in store.events(number)]
    assert kinds[-3:] == ["reopened", "assigned", "accepted"]
    # the first resolution survives in the audit log
    assert [e.text for e in store.events(number) if e.kind == "resolved"] == [
        "重启打印服务",
        "更换打印机数据线",
    ]


def test_notes_are_internal(store: TicketStore, open_ticket: Callable[..., Ticket]) -> None:
    number = open_ticket().number
    store.append_message(number, "hospital", HOSPITAL_USER, "还是打不出来")
    note = store.add_note(number, "e01", "怀疑是驱动版本问题，先别告诉医院")
    assert (note.kind, note.actor_id, note.text) == (
        "note",
        "e01",
        "怀疑是驱动版本问题，先别告诉医院",
    )
    assert [m.text for m in store.messages(number)] == ["还是打不出来"]
    assert "note" in [e.kind for e in store.events(number)]
    with pytest.raises(NotAllowed, match="internal"):
        store.add_note(number, HOSPITAL_USER, "我也想写备注")
    assert (
        store.add_note(number, Actor.system(), "自动提醒：超过 2 小时未受理").actor_kind == "system"
    )


def test_append_message_records_the_relay(
    store: TicketStore, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    from bot.tickets import MessageRef

    number = open_ticket().number
    store.claim(number, "e01")
    t1 = clock.advance(minutes=1)
    m1 = store.append_message(
        number, "engineer", "e01", "请截图报错窗口", MessageRef("telegram", "-1001001", "901")
    )
    t2 = clock.advance(minutes=1)
    store.append_message(
        number,
        "hospital",
        HOSPITAL_USER,
        "[图片]",
        MessageRef("telegram", "-1001001", "902"),
    )
    assert (m1.direction, m1.author, m1.author_id, m1.at, m1.ref_message_id) == (
        "engineer",
        "张工",
        "e01",
        t1,
        "901",
    )
    relays = [(e.kind, e.actor_id, e.text, e.at) for e in store.events(number)[2:]]
    assert relays == [
        ("relayed_to_hospital", "e01", "请截图报错窗口", t1),
        ("relayed_to_engineers", "telegram:7001", "[图片]", t2),
    ]
    with pytest.raises(NotAllowed):
        store.append_message(number, "engineer", HOSPITAL_USER, "冒充工程师")
    with pytest.raises(InvalidValue):
        store.append_message(number, "customer", HOSPITAL_USER, "?")


def test_set_category_and_urgency(store: TicketStore, open_ticket: Callable[..., Ticket]) -> None:
    number = open_ticket(category="consult", urgency="P3").number
    store.set_category(number, "report", "e01")
    store.set_category(number, "report", "e01")  # no change, no event
    store.set_urgency(number, "P1", Actor.bot())
    with pytest.raises(InvalidValue, match="unknown category"):
        store.set_category(number, "printing", "e01")
    with pytest.raises(NotAllowed):  # another person of the hospital: not theirs to correct
        store.set_category(number, "lis", Actor.hospital_user("h001", "telegram", 7002, "护士"))
    with pytest.raises(NotAllowed):  # the reporter corrects the category, nothing else
        store.set_urgency(number, "P2", HOSPITAL_USER)
    store.set_category(number, "lis", HOSPITAL_USER)  # the reporter, their own open ticket
    got = store.get(number)
    assert (got.category, got.urgency) == ("lis", "P1")
    changes = [(e.kind, e.actor_kind, e.from_value, e.to_value) for e in store.events(number)[1:]]
    assert changes == [
        ("category_changed", "engineer", "consult", "report"),
        ("urgency_changed", "bot", "P3", "P1"),
        ("category_changed", "hospital_user", "report", "lis"),
    ]


def test_hospital_isolation_in_get_list_and_actions(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    mine = open_ticket().number
    theirs = open_ticket(
        hospital_id="h002",
        reporter_platform="slack",
        reporter_user_id="U777",
        source_platform="slack",
        source_chat_id="C123",
        source_message_id="1717000000.000100",
    ).number
    assert store.get(mine, hospital_id="h001").number == mine
    with pytest.raises(TicketNotFound) as hidden:
        store.get(theirs, hospital_id="h001")
    with pytest.raises(TicketNotFound) as missing:
        store.get("2026-999999", hospital_id="h001")
    # "not yours" reads exactly like "does not exist"
    assert str(hidden.value).replace(theirs, "N") == str(missing.value).replace("2026-999999", "N")
    assert [t.number for t in store.list_for_hospital("h001")] == [mine]
    assert [t.number for t in store.list_for_hospital("h002")] == [theirs]
    # a hospital user cannot act on another hospital's ticket either
    store.claim(theirs, "e02")
    store.resolve(theirs, "e02", "ok")
    with pytest.raises(TicketNotFound):
        store.close(theirs, HOSPITAL_USER)
    with pytest.raises(TicketNotFound):
        store.append_message(theirs, "hospital", HOSPITAL_USER, "偷看")
    assert store.get(theirs).status == "resolved"


def test_list_for_hospital_filters_orders_and_limits(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    numbers = [open_ticket().number for _ in range(5)]
    store.claim(numbers[1], "e01")
    store.claim(numbers[3], "e02")
    assert [t.number for t in store.list_for_hospital("h001")] == numbers[::-1]
    assert [t.number for t in store.list_for_hospital("h001", limit=2)] == numbers[:2:-1]
    assert [t.number for t in store.list_for_hospital("h001", status="accepted")] == [
        numbers[3],
        numbers[1],
    ]
    with pytest.raises(InvalidValue):
        store.list_for_hospital("h001", status="open")
    assert store.list_for_hospital("h002") == []


def test_open_tickets(store: TicketStore, open_ticket: Callable[..., Ticket]) -> None:
    a, b, c = (open_ticket().number for _ in range(3))
    store.claim(b, "e01")
    store.claim(c, "e01")
    store.resolve(c, "e01", "done")
    assert [t.number for t in store.open_tickets()] == [a, b]
    assert {t.status for t in store.open_tickets()} == {Status.NEW, Status.ACCEPTED}


def test_numbers_may_be_given_as_typed(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    open_ticket()
    assert store.claim("#2026-1", "e01").number == "2026-000001"
    with pytest.raises(TicketNotFound, match="2026-000002"):
        store.get("2026-2")


def test_audit_log_is_append_only_in_the_database(
    store: TicketStore, open_ticket: Callable[..., Ticket], engine: Engine
) -> None:
    number = open_ticket().number
    for sql in (
        "UPDATE ticket_event SET kind = 'rewritten'",
        "DELETE FROM ticket_event",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert [e.kind for e in store.events(number)] == ["opened"]
    assert store.events(number)[0].text is None


def test_datetimes_come_back_aware_utc(
    store: TicketStore, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    clock.set(dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    t = open_ticket()
    got = store.get(t.number)
    assert got.created_at == dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)
    assert got.created_at.utcoffset() == dt.timedelta(0)
    assert store.events(t.number)[0].at == dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)
