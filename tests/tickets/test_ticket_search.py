"""Finding tickets (the console's list): filters and full text, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine

from bot.tickets.models import Direction, Ticket
from bot.tickets.search import TicketQuery, find_tickets
from bot.tickets.store import TicketStore
from tests.tickets.conftest import START


def numbers(engine: Engine, **query: object) -> set[str]:
    return {t.number for t in find_tickets(engine, TicketQuery(**query)).tickets}  # type: ignore[arg-type]


def test_filters_and_text_search(
    engine: Engine, store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    a = open_ticket(question="LIS 条码打印机不出纸", category="lis", urgency="P1")
    b = open_ticket(hospital_id="h002", source_chat_id=-1002002, question="HIS 登录很慢")
    c = open_ticket(question="医保结算 100% 失败", reporter_name="收费处 Zhang")
    store.claim(c.number, "e01")
    store.append_message(c.number, Direction.ENGINEER, "e01", "已更新 Oracle 统计信息", None)

    assert numbers(engine) == {a.number, b.number, c.number}
    assert numbers(engine, hospital_id="h002") == {b.number}
    assert numbers(engine, urgency="P1", category="lis") == {a.number}
    assert numbers(engine, status="new") == {a.number, b.number}
    assert numbers(engine, status="open") == {a.number, b.number, c.number}
    assert numbers(engine, engineer_id="e01") == {c.number}
    # case-insensitive for Latin text on both databases, literal % and _
    assert numbers(engine, text="lis") == {a.number}
    assert numbers(engine, text="ORACLE") == {c.number}  # in the conversation
    assert numbers(engine, text="zhang") == {c.number}  # the reporter
    assert numbers(engine, text="100%") == {c.number}
    assert numbers(engine, text="1_0") == set()
    assert numbers(engine, text=b.number) == {b.number}
    assert numbers(engine, opened_before=START) == set()
    assert numbers(engine, opened_from=START, opened_before=START + dt.timedelta(hours=1)) == {
        a.number,
        b.number,
        c.number,
    }


def test_pages_count_every_match(engine: Engine, open_ticket: Callable[..., Ticket]) -> None:
    opened = [open_ticket(question=f"报表导出失败 {i}") for i in range(7)]
    first = find_tickets(engine, TicketQuery(text="报表", per_page=3))
    last = find_tickets(engine, TicketQuery(text="报表", per_page=3, page=3))
    assert first.total == 7 and first.pages == 3
    assert [t.number for t in first.tickets] == [t.number for t in opened[::-1][:3]]
    assert [t.number for t in last.tickets] == [opened[0].number]
