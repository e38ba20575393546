"""The service workflows' rules, on SQLite and PostgreSQL: remote access only with a hospital
admin's live consent, visits open until confirmed after arrival and departure, upgrade stages
in order, and every step in the ticket's audit trail."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from bot.infra.clock import as_utc
from bot.registry.models import Engineer, Hospital
from bot.registry.specs import EngineerSpec, HospitalSpec
from bot.registry.store import RegistryStore
from bot.routing import ActionCodec, encode
from bot.tickets.models import Ticket
from bot.tickets.opening import PHONE, DirectTicket, PhoneCall
from bot.tickets.store import TicketStore
from bot.workflows import ServiceWorkflows, WorkflowError
from bot.workflows.actions import Verb, WorkflowAction
from bot.workflows.expiry import expired_grants
from bot.workflows.models import GrantStatus, Stage
from tests.lookups import live_grant
from tests.tickets.conftest import FakeClock

ZONE = dt.timezone(dt.timedelta(hours=8))
ADMIN = ("telegram", "7001")
NURSE = ("telegram", "7002")


@pytest.fixture
def flows(engine: Engine, clock: FakeClock, registry: RegistryStore) -> ServiceWorkflows:
    from zoneinfo import ZoneInfo

    registry.set_admin("h001", *ADMIN)
    return ServiceWorkflows.over(engine, ZoneInfo("Asia/Shanghai"), clock)


def _kinds(store: TicketStore, number: str) -> list[str]:
    return [e.kind for e in store.events(number)]


# -- remote access -------------------------------------------------------------------------------


def test_only_a_registered_admin_decides(
    flows: ServiceWorkflows, open_ticket: Callable[..., Ticket], store: TicketStore
) -> None:
    t = open_ticket()
    grant = flows.remote.request(t.number, "e01", "向日葵", "查看打印机驱动", 30)
    with pytest.raises(WorkflowError, match="管理员"):
        flows.remote.decide(grant.id or 0, "h001", *NURSE, "护士", True)
    assert flows.remote.get(grant.id or 0).status == GrantStatus.REQUESTED
    # an admin of another hospital is not this one's admin
    with pytest.raises(WorkflowError):
        flows.remote.decide(grant.id or 0, "h002", *ADMIN, "王主任", True)
    decided = flows.remote.decide(grant.id or 0, "h001", *ADMIN, "王主任", True)
    assert decided.status == GrantStatus.GRANTED
    with pytest.raises(WorkflowError, match="已经处理过"):
        flows.remote.decide(grant.id or 0, "h001", *ADMIN, "王主任", False)


def test_grant_expires_and_level_needs_a_live_grant(
    flows: ServiceWorkflows,
    open_ticket: Callable[..., Ticket],
    store: TicketStore,
    clock: FakeClock,
) -> None:
    t = open_ticket()
    with pytest.raises(WorkflowError, match="远程授权"):
        flows.remote.set_level(t.number, "remote", "e01")
    grant = flows.remote.request(t.number, "e01", "ToDesk", "重装打印机驱动", 30)
    with pytest.raises(WorkflowError):  # asked, not yet granted
        flows.remote.set_level(t.number, "remote", "e01")
    flows.remote.decide(grant.id or 0, "h001", *ADMIN, "王主任", True)
    flows.remote.set_level(t.number, "remote", "e01")
    assert flows.remote.level(t.number) == "remote"
    clock.advance(minutes=29)
    assert live_grant(flows.remote, t.number, clock.now) is not None
    clock.advance(minutes=1)
    assert live_grant(flows.remote, t.number, clock.now) is None
    with pytest.raises(WorkflowError, match="远程授权"):
        flows.remote.set_level(t.number, "remote", "e01")
    with pytest.raises(WorkflowError, match="已失效"):
        flows.remote.revoke(grant.id or 0, "h001", *ADMIN, "王主任")


def test_the_grants_to_announce_are_those_ended_within_a_day_and_never_revoked(
    flows: ServiceWorkflows,
    open_ticket: Callable[..., Ticket],
    engine: Engine,
    clock: FakeClock,
) -> None:
    t = open_ticket()

    def granted(minutes: int) -> int:
        grant = flows.remote.request(t.number, "e01", "向日葵", "查看驱动", minutes)
        flows.remote.decide(grant.id or 0, "h001", *ADMIN, "王主任", True)
        return grant.id or 0

    granted(10)  # ends 10 minutes from now: a day and 25 minutes before the check
    clock.advance(days=1, minutes=5)
    ended, taken_back = granted(30), granted(30)
    granted(120)  # still live at the check
    flows.remote.revoke(taken_back, "h001", *ADMIN, "王主任")
    flows.remote.request(t.number, "e01", "ToDesk", "没人同意的申请", 5)
    clock.advance(minutes=30)
    found = expired_grants(engine, clock.now)
    # not the first (too late to be news), `taken_back`, the live one nor the request nobody granted
    assert [g.grant_id for g in found] == [ended]
    assert found[0].ticket.number == t.number and found[0].hospital_name
    assert found[0].expires_at == as_utc(clock.now)  # its end is now: announced from now on


def test_revoke_and_the_audit_trail(
    flows: ServiceWorkflows,
    open_ticket: Callable[..., Ticket],
    store: TicketStore,
    clock: FakeClock,
) -> None:
    t = open_ticket()
    grant = flows.remote.request(t.number, "e01", "向日葵", "导出日志", 60)
    consent = as_utc(clock())
    flows.remote.decide(grant.id or 0, "h001", *ADMIN, "王主任", True)
    with pytest.raises(WorkflowError, match="管理员"):
        flows.remote.revoke(grant.id or 0, "h001", *NURSE, "护士")
    with pytest.raises(WorkflowError, match="管理员"):
        flows.remote.revoke(grant.id or 0, "h001", "web", "web-user", "访客")
    clock.advance(minutes=5)
    flows.remote.revoke(grant.id or 0, "h001", *ADMIN, "王主任")
    assert live_grant(flows.remote, t.number, clock.now) is None
    events = {e.kind: e for e in store.events(t.number)}
    assert events["remote_requested"].actor_id == "e01"
    assert "导出日志" in (events["remote_requested"].text or "")
    granted = events["remote_granted"]
    assert granted.actor_name == "王主任" and granted.actor_id == "telegram:7001"
    until = consent + dt.timedelta(minutes=60)  # the minutes asked for, from the consent
    assert granted.to_value == f"{until:%Y-%m-%d %H:%M} UTC"
    assert events["remote_revoked"].at == granted.at + dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("tool", "purpose", "minutes", "why"),
    [
        ("", "x", 30, "工具"),
        ("向日葵", " ", 30, "目的"),
        ("向日葵", "x", 0, "时长"),
        ("向日葵", "x", 721, "时长"),
    ],
)
def test_bad_requests_are_refused(
    flows: ServiceWorkflows,
    open_ticket: Callable[..., Ticket],
    tool: str,
    purpose: str,
    minutes: int,
    why: str,
) -> None:
    t = open_ticket()
    with pytest.raises(WorkflowError, match=why):
        flows.remote.request(t.number, "e01", tool, purpose, minutes)
    assert flows.remote.for_ticket(t.number) == []


# -- on-site visits ------------------------------------------------------------------------------


def test_visit_without_arrival_stays_open(
    flows: ServiceWorkflows,
    open_ticket: Callable[..., Ticket],
    store: TicketStore,
    clock: FakeClock,
) -> None:
    t = open_ticket()
    visit = flows.visits.plan(t.number, "e02", clock() + dt.timedelta(days=1), "e01")
    assert flows.remote.level(t.number) == "onsite"
    with pytest.raises(WorkflowError, match="到场"):
        flows.visits.confirm(visit.id or 0, "h001", *ADMIN, "王主任")
    with pytest.raises(WorkflowError, match="到场记录"):
        flows.visits.depart(visit.id or 0, "e02")
    assert flows.visits.get(visit.id or 0).is_open
    flows.visits.arrive(visit.id or 0, "e02")
    with pytest.raises(WorkflowError):  # arrived, not yet departed
        flows.visits.confirm(visit.id or 0, "h001", *ADMIN, "王主任")
    clock.advance(hours=2)
    flows.visits.depart(visit.id or 0, "e02")
    with pytest.raises(WorkflowError, match="管理员"):
        flows.visits.confirm(visit.id or 0, "h001", *NURSE, "护士")
    with pytest.raises(WorkflowError, match="管理员"):  # the web chat is a chat like others
        flows.visits.confirm(visit.id or 0, "h001", "web", "web-user", "访客")
    done = flows.visits.confirm(visit.id or 0, "h001", *ADMIN, "王主任")
    assert not done.is_open and done.departed_at == done.arrived_at + dt.timedelta(hours=2)  # type: ignore[operator]
    kinds = _kinds(store, t.number)
    for kind in (
        "visit_planned",
        "level_changed",
        "visit_arrived",
        "visit_departed",
        "visit_confirmed",
    ):
        assert kind in kinds
    with pytest.raises(WorkflowError):
        flows.visits.arrive(visit.id or 0, "e02")


def test_a_visit_needs_a_registered_engineer_and_an_open_ticket(
    flows: ServiceWorkflows,
    open_ticket: Callable[..., Ticket],
    store: TicketStore,
    clock: FakeClock,
) -> None:
    t = open_ticket()
    with pytest.raises(WorkflowError, match="没有工程师"):
        flows.visits.plan(t.number, "nobody", clock(), "e01")
    store.claim(t.number, "e01")
    store.resolve(t.number, "e01", "已更换打印机驱动")
    with pytest.raises(WorkflowError, match="已解决"):
        flows.visits.plan(t.number, "e02", clock(), "e01")
    assert flows.visits.for_ticket(t.number) == []


# -- upgrades ------------------------------------------------------------------------------------


def test_upgrade_stages_in_order(
    flows: ServiceWorkflows, registry: RegistryStore, clock: FakeClock
) -> None:
    flows.upgrades.set_version("h001", "HIS", "5.2")
    u = flows.upgrades.start("h001", "HIS", "5.3", "e01")
    assert u.from_version == "5.2"
    day = dt.date(2026, 3, 2)
    with pytest.raises(WorkflowError, match="搭建测试环境"):
        flows.upgrades.record(u.id or 0, Stage.PRODUCTION, "e01", day)
    flows.upgrades.record(u.id or 0, Stage.TEST_ENV, "e01", day, "测试库已恢复")
    with pytest.raises(WorkflowError, match="模拟升级"):
        flows.upgrades.record(u.id or 0, Stage.VERIFIED, "e01", day)
    with pytest.raises(WorkflowError, match="早于"):
        flows.upgrades.record(u.id or 0, Stage.SIMULATED, "e01", day - dt.timedelta(days=1))
    with pytest.raises(WorkflowError, match="进行中"):
        flows.upgrades.start("h001", "HIS", "5.4", "e01")
    for stage in (Stage.SIMULATED, Stage.PRODUCTION):
        flows.upgrades.record(u.id or 0, stage, "e02", day)
    assert [v.upgrade.id for v in flows.upgrades.in_progress()] == [u.id]
    assert registry.get_hospital("h001").his_version == "5.2"  # type: ignore[union-attr]
    flows.upgrades.record(
        u.id or 0, Stage.VERIFIED, "e01", day + dt.timedelta(days=3), "门诊住院抽查通过"
    )
    view = flows.upgrades.get(u.id or 0)
    assert [s.stage for s in view.steps] == list(Stage) and view.next is None
    assert flows.upgrades.in_progress() == []
    assert [(p.product, p.version) for p in flows.upgrades.versions("h001")] == [("HIS", "5.3")]
    assert registry.get_hospital("h001").his_version == "5.3"  # type: ignore[union-attr]
    with pytest.raises(WorkflowError, match="已验证"):
        flows.upgrades.record(u.id or 0, Stage.VERIFIED, "e01", day)


def test_config_keeps_the_version_an_upgrade_recorded(
    flows: ServiceWorkflows, registry: RegistryStore
) -> None:
    """A hospital listed without his_version keeps the verified one; admins and the deputy
    come from config.toml."""
    engineers = [EngineerSpec("e01", "张工"), EngineerSpec("e02", "李工")]
    spec = HospitalSpec(
        "h009", "新院", dedicated_engineer="e01", deputy_engineer="e02", telegram_admins=(7101,)
    )
    registry.sync_from_config([spec], engineers)
    flows.upgrades.set_version("h009", "HIS", "6.0")
    registry.sync_from_config([spec], engineers)
    h = registry.get_hospital("h009")
    assert h is not None and h.his_version == "6.0" and h.deputy_engineer_id == "e02"
    admins = {(a.platform, a.platform_user_id) for a in registry.admins_of("h009")}
    assert ("telegram", "7101") in admins and ("telegram", "7001") not in admins
    with pytest.raises(ValueError, match="telegram_admins"):
        HospitalSpec("h010", "x", telegram_admins=("not-a-number",))


# -- the buttons' one codec ----------------------------------------------------------------------


def test_actions_round_trip_and_reject_anything_else() -> None:
    decode = ActionCodec([WorkflowAction]).decode
    for verb in Verb:
        action = WorkflowAction(verb, 42)
        assert decode(encode(action)) == action
        assert len(encode(action).encode()) <= 64  # Telegram's callback_data limit
    for data in (
        "claim:2026-000001",
        "wf:grant",
        "wf:grant:x",
        "wf:nope:1",
        "wf:grant:1:2",
        "ok:3",
    ):
        assert decode(data) is None


def test_typed_text_is_masked_on_its_way_in(
    flows: ServiceWorkflows, open_ticket: Callable[..., Ticket]
) -> None:
    t = open_ticket()
    grant = flows.remote.request(t.number, "e01", "向日葵", "回拨患者 13812345678 核对", 30)
    assert "13812345678" not in flows.remote.get(grant.id or 0).purpose
    u = flows.upgrades.start("h001", "LIS", "2.0", "e01")
    flows.upgrades.record(u.id or 0, Stage.TEST_ENV, "e01", dt.date(2026, 3, 2), "联系 13812345678")
    (step,) = flows.upgrades.get(u.id or 0).steps
    assert "13812345678" not in step.notes


# -- phone calls -----------------------------------------------------------------------------------


def test_a_phone_call_is_opened_accepted_and_levelled_in_one_transaction(
    flows: ServiceWorkflows, store: TicketStore, registry: RegistryStore, engine: Engine
) -> None:
    from bot.tickets.opening import OfflinePhoneTickets
    from bot.workflows.calls import register_call

    hospital, engineer = registry.get_hospital("h001"), registry.get_engineer("e01")
    assert hospital is not None and engineer is not None
    phone = OfflinePhoneTickets(engine, store)
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    ticket = register_call(
        phone,
        flows.remote,
        str,
        hospital,
        engineer,
        caller="李老师",
        question="挂号打不开",
        now=now,
    )
    assert (ticket.status, ticket.accepted_by, ticket.source_platform) == (
        "accepted",
        "e01",
        "phone",
    )
    assert flows.remote.level(ticket.number) == "phone"
    assert _kinds(store, ticket.number)[:2] == ["opened", "accepted"]

    def broken(_: Ticket) -> None:  # the level fails to be written: nothing is kept
        raise RuntimeError("disk full")

    call = _call(hospital, engineer, now)
    call = dataclasses.replace(call, ticket=dataclasses.replace(call.ticket, question="第二个电话"))
    with pytest.raises(RuntimeError):
        phone.open_phone_ticket(call, broken)
    assert [t.question for t in store.list_for_hospital("h001")] == ["挂号打不开"]


def _call(hospital: Hospital, engineer: Engineer, now: dt.datetime) -> PhoneCall:
    return PhoneCall(engineer, DirectTicket(PHONE, hospital, "call-by-e01", "来电", "问题", now))
