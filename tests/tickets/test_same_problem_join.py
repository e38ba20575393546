"""「我们这边也是」 joining another person's ticket, at the transaction: what it writes, what it
refuses (the sender's own ticket, a closed or too old one, another hospital's), and a replay
after a crash writing nothing twice — with the in-memory chat history gone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import ChatRef, IncomingMessage, Sender
from bot.conversation.exchanges import Exchange, ExchangeStore
from bot.conversation.same_problem import LastSpeakers, referred_ticket
from bot.registry.store import RegistryStore
from bot.tickets import Ticket, TicketStore
from bot.tickets.incidents import IncidentReporter
from bot.tickets.links import LinkStore, Side
from bot.tickets.opening import IncidentReport, join_same_problem
from tests.tickets.conftest import FakeClock

CHAT = ChatRef("telegram", "-1001001")


def said(message_id: int, user: int, text: str, *, at: dt.datetime) -> IncomingMessage:
    return IncomingMessage(
        chat=CHAT,
        message_id=str(message_id),
        sender=Sender(str(user), f"用户{user}"),
        text=text,
        sent_at=at,
    )


def count_rows(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return len(s.exec(select(model)).all())


def test_a_join_writes_once_and_a_replay_finds_it_without_the_chat_history(
    engine: Engine,
    clock: FakeClock,
    registry: RegistryStore,
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
) -> None:
    hospital = registry.get_hospital("h001")
    assert hospital is not None
    links, exchanges = LinkStore(engine), ExchangeStore(engine, clock)
    ticket = open_ticket(reporter_user_id=7001, source_message_id=500, urgency="P3")
    links.link("telegram", CHAT.chat_id, "500", ticket.number, Side.HOSPITAL)
    speakers = LastSpeakers(clock)
    question = said(500, 7001, ticket.question, at=clock.now)
    speakers.heard(question)
    me_too = said(501, 7002, "我们这边也是", at=clock.now)
    speakers.heard(me_too)
    since = clock.now - dt.timedelta(minutes=30)
    with Session(engine) as s:
        assert referred_ticket(s, links, me_too, speakers.before(me_too), since) == ticket.number
    stores = (store, exchanges, links)
    report = IncidentReport(me_too, hospital, me_too.text, since, clock.now)
    joined = join_same_problem(engine, stores, report, ticket.number)
    assert joined is not None and joined[1] == 2
    written = (count_rows(engine, Exchange), count_rows(engine, IncidentReporter))
    assert written == (1, 1)
    assert [m.text for m in store.messages(ticket.number)][-1] == "我们这边也是"
    # a crash, then the replay: memory is gone, the message's own link names the ticket
    with Session(engine) as s:
        assert referred_ticket(s, links, me_too, None, since) == ticket.number
    again = join_same_problem(engine, stores, report, ticket.number)
    assert again is not None and again[1] == 2
    assert (count_rows(engine, Exchange), count_rows(engine, IncidentReporter)) == written
    # a replay long after (the window since passed) still finds the join, writes nothing
    late = IncidentReport(
        me_too, hospital, me_too.text, clock.now + dt.timedelta(days=1), clock.now
    )
    assert join_same_problem(engine, stores, late, ticket.number) == (again[0], 2)
    assert (count_rows(engine, Exchange), count_rows(engine, IncidentReporter)) == written


def test_a_join_is_refused_for_ones_own_a_closed_an_old_or_another_hospitals_ticket(
    engine: Engine,
    clock: FakeClock,
    registry: RegistryStore,
    store: TicketStore,
    open_ticket: Callable[..., Ticket],
) -> None:
    h1, h2 = registry.get_hospital("h001"), registry.get_hospital("h002")
    assert h1 is not None and h2 is not None
    stores = (store, ExchangeStore(engine, clock), LinkStore(engine))
    ticket = open_ticket(reporter_user_id=7001)
    since = clock.now - dt.timedelta(minutes=30)

    def join(user: int, hospital: object = h1, since: dt.datetime = since) -> object:
        msg = said(900 + user, user, "我也是", at=clock.now)
        report = IncidentReport(msg, hospital, msg.text, since, clock.now)  # type: ignore[arg-type]
        return join_same_problem(engine, stores, report, ticket.number)

    assert join(7001) is None  # the reporter's own
    assert join(7002, h2) is None  # another hospital's ticket
    assert join(7003, since=clock.now + dt.timedelta(minutes=1)) is None  # opened too long ago
    store.claim(ticket.number, "e01")
    store.resolve(ticket.number, "e01", "已处理")
    assert join(7004) is None  # no longer open
    assert count_rows(engine, IncidentReporter) == 0
