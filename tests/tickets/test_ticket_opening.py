"""Opening a ticket is one transaction (issue 11, item 4), on SQLite and PostgreSQL: the ticket,
its exchanges' outcome and the message links are all written or none, and an exchange that
already has a ticket never gets a second one."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import ChatRef
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.infra.gateway import Database
from bot.registry import RegistryStore
from bot.tickets import Ticket, TicketStore
from bot.tickets.links import LinkStore, MessageLink, Side
from bot.tickets.opening import Opening


class Crash(Exception):
    """The process dies between two writes of the opening."""


def services(engine: Engine, clock: Any) -> Any:
    """The slice of ``Services`` the opening's transaction uses."""
    return SimpleNamespace(
        db=Database(engine),
        exchanges=ExchangeStore(engine, clock=lambda: clock().replace(tzinfo=dt.UTC)),
        tickets=TicketStore(engine, clock),
        links=LinkStore(engine),
        broadcasts=None,
    )


def thread_of_two(s: Any) -> list[Exchange]:
    """A question answered by the bot, then 「还是不行」 under it."""
    common = dict(
        hospital_id="h001", platform="telegram", chat_id="-1001001", thread_root="100",
        reporter_user_id="7001", reporter_name="护士小张", confidence=0.9,
    )  # fmt: skip
    first = s.exchanges.record(
        question_message_id="100", question="医保结算报2304", decision="answer",
        article_ids=["hb-002"], **common,
    )  # fmt: skip
    s.exchanges.set_reply(first.id, "101")
    follow = s.exchanges.record(
        question_message_id="102", question="还是不行", decision="follow_up",
        article_ids=[], outcome=Outcome.UNSOLVED, **common,
    )  # fmt: skip
    return [s.exchanges.get(first.id), follow]


def opening(thread: list[Exchange], hospital: Any) -> Opening:
    return Opening(
        hospital, thread[-1], thread, ChatRef("telegram", "-1001001"), False,
        [("hb-002", "住院医保结算提示总额与明细合计不一致")],
    )  # fmt: skip


def rows(engine: Engine, model: Any) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(model)).all())


def test_a_crash_midway_leaves_nothing_and_the_retry_opens_one_ticket(
    engine: Engine, registry: RegistryStore, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = services(engine, clock)
    thread = thread_of_two(s)
    hospital = registry.get_hospital("h001")
    real_link = s.links.link
    calls = []

    def link_then_crash(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 3:  # after the ticket, both outcomes and two links
            raise Crash()
        real_link(*args)

    monkeypatch.setattr(s.links, "link", link_then_crash)
    with pytest.raises(Crash):
        opening(thread, hospital).write(s)
    assert rows(engine, Ticket) == []
    assert rows(engine, MessageLink) == []
    for ex in rows(engine, Exchange):
        assert ex.ticket_number is None
        assert ex.outcome != Outcome.ESCALATED

    monkeypatch.setattr(s.links, "link", real_link)
    ticket, opened = opening(thread, hospital).write(s)
    assert opened
    assert [t.number for t in rows(engine, Ticket)] == [ticket.number]
    assert {(link.message_id, link.side) for link in rows(engine, MessageLink)} == {
        ("100", Side.HOSPITAL),
        ("101", Side.HOSPITAL),
        ("102", Side.HOSPITAL),
    }
    assert {ex.ticket_number for ex in rows(engine, Exchange)} == {ticket.number}
    assert {ex.outcome for ex in rows(engine, Exchange)} == {Outcome.ESCALATED}


def test_an_exchange_with_a_ticket_never_opens_a_second(
    engine: Engine, registry: RegistryStore, clock: Any
) -> None:
    s = services(engine, clock)
    thread = thread_of_two(s)
    hospital = registry.get_hospital("h001")
    first, opened = opening(thread, hospital).write(s)
    again, opened_again = opening(thread, hospital).write(s)  # the same thread, stale rows
    assert opened and not opened_again
    assert again.number == first.number
    assert len(rows(engine, Ticket)) == 1
