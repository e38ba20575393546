"""The router and the button-action codec: typed actions round-trip, no type can overflow a
platform's 64-byte limit, and clashes are errors when registered, not at the first press."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from adapters.base import ButtonPress, ChatRef, IncomingMessage, MessageRef, Sender
from bot.broadcasts.actions import AbortNotice, Acknowledged, Applied, ConfirmNotice
from bot.conversation.exchange_actions import EXCHANGE_ACTIONS, Pick, Solved
from bot.kb.loop.actions import LabelArticle, LabelKind, LabelVerdict
from bot.registry.models import Hospital
from bot.routing import (
    ActionCodec,
    ActionError,
    CommandCall,
    MaxBytes,
    Router,
    Scope,
    action,
    encode,
    parse_command,
)
from bot.routing.actions import WIRE_LIMIT, worst_case
from bot.sla.actions import AckPage
from bot.tickets.actions import Claim
from bot.workflows.actions import Verb, WorkflowAction

ALL_ACTIONS: tuple[type[Any], ...] = (
    *EXCHANGE_ACTIONS,
    Claim,
    AckPage,
    WorkflowAction,
    LabelVerdict,
    LabelArticle,
    Acknowledged,
    Applied,
    ConfirmNotice,
    AbortNotice,
)
BIG = 2**63 - 1  # the largest id a database gives
NUMBER = "2026-" + "9" * 15  # a ticket number at its declared bound (20 bytes)


def largest(cls: type[Any]) -> Any:
    """An action of ``cls`` with every field at its bound."""
    samples: dict[type[Any], Any] = {
        Solved: Solved(BIG),
        Pick: Pick(BIG, 99),
        Claim: Claim(NUMBER),
        AckPage: AckPage(NUMBER),
        WorkflowAction: WorkflowAction(Verb.REFUSE, BIG),
        LabelVerdict: LabelVerdict(NUMBER, LabelKind.NEW),
        LabelArticle: LabelArticle(NUMBER, BIG),
        Acknowledged: Acknowledged(BIG),
        Applied: Applied(BIG),
        ConfirmNotice: ConfirmNotice(BIG, BIG),
        AbortNotice: AbortNotice(BIG),
    }
    return samples.get(cls) or cls(BIG)


def test_every_action_round_trips_within_the_limit_at_its_bounds() -> None:
    codec = ActionCodec(ALL_ACTIONS)  # no two share a prefix
    for cls in ALL_ACTIONS:
        value = largest(cls)
        data = encode(value)
        assert codec.decode(data) == value
        assert len(data.encode()) <= worst_case(cls) <= WIRE_LIMIT, (cls, data)


def test_the_wire_forms_of_buttons_already_in_chats_still_decode() -> None:
    codec = ActionCodec(ALL_ACTIONS)
    assert codec.decode("ok:12") == Solved(12)
    assert codec.decode("pick:12:1") == Pick(12, 1)
    assert codec.decode("claim:2026-000001") == Claim("2026-000001")
    assert codec.decode("sla-ack:2026-000001") == AckPage("2026-000001")
    assert codec.decode("wf:grant:7") == WorkflowAction(Verb.GRANT, 7)
    assert codec.decode("nconfirm:3:29000000") == ConfirmNotice(3, 29000000)
    assert codec.decode("kbl:2026-000001:n") == LabelVerdict("2026-000001", LabelKind.NONE)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "ok",
        "ok:",
        "ok:x",
        "ok:-1",
        "ok:1:2",
        "ok:１２",  # full-width digits are not an id
        "pick:1",
        "pick:1:100",  # the choice is bounded to two digits
        "wf:nope:1",
        "kbl:2026-000001:a:hb-001",  # the old article form: the id is no handle
        "claim:" + "9" * 21,
        "nobody:1",
        "ok:" + "1" * 70,
    ],
)
def test_malformed_or_foreign_data_decodes_to_nothing(data: str) -> None:
    assert ActionCodec(ALL_ACTIONS).decode(data) is None


def test_a_type_that_could_overflow_is_refused_when_declared() -> None:
    with pytest.raises(ActionError, match="over the platforms' limit of 64"):

        @action("too-long")
        @dataclass(frozen=True)
        class TooLong:
            a: int
            b: int
            c: int  # 8 + 3 × 20 = 68 bytes

    with pytest.raises(ActionError, match="needs a bound"):

        @action("article")
        @dataclass(frozen=True)
        class ByArticleId:
            article_id: str  # unbounded: a short handle belongs here

    with pytest.raises(ActionError, match="frozen dataclass"):

        @action("mutable")
        @dataclass
        class Mutable:
            n: int


def test_a_value_beyond_its_bound_is_refused_where_it_is_made() -> None:
    with pytest.raises(ActionError, match="longer than its bound"):
        encode(Claim("2026-" + "9" * 16))
    with pytest.raises(ActionError, match="without ':'"):
        encode(Claim("2026:1"))
    with pytest.raises(ActionError, match="non-negative"):
        encode(Solved(-1))


def test_an_action_prefix_or_type_registered_twice_is_an_error() -> None:
    @action("ok")
    @dataclass(frozen=True)
    class AnotherOk:
        n: Annotated[int, MaxBytes(3)]

    router = Router()

    async def handler(press: ButtonPress, value: object) -> None:
        return None

    router.action(Solved, handler)
    with pytest.raises(ActionError, match="'ok' of AnotherOk is already Solved's"):
        router.action(AnotherOk, handler)
    with pytest.raises(ActionError, match="already Solved's"):
        router.action(Solved, handler)


def test_a_command_registered_twice_in_a_scope_is_an_error() -> None:
    router = Router()

    async def handler(call: CommandCall) -> None:
        return None

    router.command("ticket", Scope.DESK, handler)
    router.command("ticket", Scope.HOSPITAL, handler)  # another scope: another command
    with pytest.raises(ActionError, match="/ticket is already registered in desk chats"):
        router.command("Ticket", Scope.BOTH, handler)
    router.command("duty", Scope.BOTH, handler)
    assert router.commands(Scope.DESK) == ["duty", "ticket"]
    assert router.find_command("duty", Scope.HOSPITAL) is router.find_command("duty", Scope.DESK)
    with pytest.raises(ActionError, match="letters, digits"):
        router.command("no spaces", Scope.DESK, handler)


def press_of(data: str) -> ButtonPress:
    return ButtonPress(MessageRef("web", "c1", "m1"), Sender("u1", "护士"), data, "p1")


async def test_a_press_goes_to_its_type_s_handler_and_unknown_data_to_none() -> None:
    router = Router()
    seen: list[object] = []

    async def on_pick(press: ButtonPress, value: Pick) -> None:
        seen.append(value)

    router.action(Pick, on_pick)
    assert await router.press(press_of("pick:5:1")) is True
    assert await router.press(press_of("pick:5:x")) is False
    assert await router.press(press_of("ok:5")) is False  # not registered here
    assert seen == [Pick(5, 1)]


async def test_message_hooks_run_in_registration_order_and_the_first_taker_wins() -> None:
    router = Router()
    calls: list[str] = []

    def hook(name: str, takes: bool) -> Any:
        async def run(msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
            calls.append(name)
            return takes

        return run

    router.hook("observer", hook("observer", False))
    router.hook("relay", hook("relay", True))
    router.hook("never", hook("never", True))
    with pytest.raises(ActionError, match="already registered"):
        router.hook("relay", hook("relay", True))
    msg = IncomingMessage(
        ChatRef("web", "c1"), "m1", Sender("u1", "护士"), "hi", dt.datetime.now(dt.UTC)
    )
    assert await router.hooks(msg, Hospital(id="h1", name="医院"), "hi") is True
    assert calls == ["observer", "relay"]


def test_parse_command() -> None:
    assert parse_command("/Resolve@hisbot 2026-000001 重启服务") == (
        "resolve",
        "2026-000001 重启服务",
    )
    assert parse_command("  /tickets ") == ("tickets", "")
    assert parse_command("不是命令 /x") is None
