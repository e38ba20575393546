"""Ticket numbers: "YYYY-NNNNNN", a sequence per year, unique under concurrency."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.tickets import Ticket, TicketStore, format_number, normalise_number, parse_number
from bot.tickets.models import TicketCounter

from .conftest import FakeClock


def test_format_pads_to_six_digits() -> None:
    assert format_number(2026, 1) == "2026-000001"
    assert format_number(2026, 123) == "2026-000123"
    assert format_number(2026, 999_999) == "2026-999999"
    assert format_number(2026, 1_000_000) == "2026-1000000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-000123", (2026, 123)),
        ("2026-123", (2026, 123)),
        ("#2026-7", (2026, 7)),
        (" 2026-000001 ", (2026, 1)),
        ("26-000123", None),
        ("2026/000123", None),
        ("工单2026-1", None),
        ("", None),
    ],
)
def test_parse_number(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_number(text) == expected


def test_normalise_number_accepts_what_users_type() -> None:
    assert normalise_number("#2026-42") == "2026-000042"
    assert normalise_number("nonsense") == "nonsense"


def test_the_year_is_read_on_the_hospitals_wall_clock(
    engine: Engine, clock: FakeClock, open_ticket: Callable[..., Ticket]
) -> None:
    from zoneinfo import ZoneInfo

    beijing = TicketStore(engine, clock, year_zone=ZoneInfo("Asia/Shanghai"))
    clock.set(dt.datetime(2026, 12, 31, 16, 30))  # UTC: 00:30 on New Year's Day in Beijing
    assert open_ticket().number == "2026-000001"  # a store without a zone counts in UTC
    ticket = beijing.open_ticket(
        hospital_id="h001", reporter_platform="telegram", reporter_user_id=7001,
        reporter_name="信息科小刘", source_platform="telegram", source_chat_id=-1001001,
        source_message_id=1, question="挂号机打不出号", category="usage",
    )  # fmt: skip
    assert ticket.number == "2027-000001"


def test_sequence_per_year_and_reset_on_new_year(
    open_ticket: Callable[..., Ticket], clock: FakeClock, engine: Engine
) -> None:
    clock.set(dt.datetime(2026, 12, 31, 23, 59, 0))
    first = [open_ticket().number for _ in range(3)]
    assert first == ["2026-000001", "2026-000002", "2026-000003"]
    clock.set(dt.datetime(2027, 1, 1, 0, 0, 1))
    assert [open_ticket().number for _ in range(2)] == ["2027-000001", "2027-000002"]
    with Session(engine) as s:
        counters = {c.year: c.last for c in s.exec(select(TicketCounter)).all()}
    assert counters == {2026: 3, 2027: 2}


def test_failed_open_does_not_use_up_a_number(
    open_ticket: Callable[..., Ticket], store: TicketStore
) -> None:
    assert open_ticket().number == "2026-000001"
    with pytest.raises(ValueError, match="unknown category"):
        open_ticket(category="printer")
    with pytest.raises(Exception, match="no hospital h404"):
        open_ticket(hospital_id="h404")
    assert open_ticket().number == "2026-000002"


def test_concurrent_opens_get_distinct_consecutive_numbers(
    open_ticket: Callable[..., Ticket],
) -> None:
    n_threads, per_thread = 6, 4
    barrier = threading.Barrier(n_threads)
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                number = open_ticket().number
                with lock:
                    numbers.append(number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    total = n_threads * per_thread
    assert sorted(numbers) == [format_number(2026, i) for i in range(1, total + 1)]
