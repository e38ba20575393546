"""The engineers' card outbox (per desk chat), and finding a ticket from a reply."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.tickets import Actor, MessageRef, NotAllowed, Ticket, TicketNotFound, TicketStore

from .conftest import FakeClock

DESK = ("telegram", "-1009999")  # the engineers' group


def test_ticket_without_card_is_listed_until_marked(
    store: TicketStore, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    a = open_ticket().number
    b = open_ticket().number
    # the bot "crashed" before posting: both still need a card
    assert [t.number for t in store.tickets_without_card_in(*DESK)] == [a, b]
    assert store.cards_for(a) == []
    t_post = clock.advance(seconds=2)
    card = store.mark_card_posted(a, *DESK, 4242)
    assert (card.platform, card.chat_id, card.message_id, card.posted_at) == (
        "telegram",
        "-1009999",
        "4242",
        t_post,
    )
    assert [t.number for t in store.tickets_without_card_in(*DESK)] == [b]
    # idempotent: recording the same card twice adds nothing
    again = store.mark_card_posted(a, *DESK, "4242")
    assert again.id == card.id
    assert [e.kind for e in store.events(a)] == ["opened", "card_posted"]
    assert store.events(a)[-1].to_value == "telegram:-1009999:4242"
    assert [c.message_id for c in store.cards_for(a)] == ["4242"]
    # a second desk (Slack) gets its own card; the Telegram desk's stays
    store.mark_card_posted(a, "slack", "CDESK", "1717.0001")
    assert [(c.platform, c.message_id) for c in store.cards_for(a)] == [
        ("telegram", "4242"),
        ("slack", "1717.0001"),
    ]
    assert [t.number for t in store.tickets_without_card_in("slack", "CDESK")] == [b]


def test_resolved_tickets_need_no_card(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    number = open_ticket().number
    store.claim(number, "e01")
    assert [t.number for t in store.tickets_without_card_in(*DESK)] == [number]
    store.resolve(number, "e01", "电话里解决了")
    assert store.tickets_without_card_in(*DESK) == []


def test_one_message_is_the_card_of_one_ticket(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    a, b = open_ticket().number, open_ticket().number
    store.mark_card_posted(a, *DESK, 1)
    with pytest.raises(NotAllowed, match="another ticket"):
        store.mark_card_posted(b, *DESK, 1)
    with pytest.raises(TicketNotFound):
        store.mark_card_posted("2026-000404", *DESK, 2)


def test_ticket_for_source_thread(store: TicketStore, open_ticket: Callable[..., Ticket]) -> None:
    tg = open_ticket(source_message_id=555).number
    slack = open_ticket(
        hospital_id="h002",
        reporter_platform="slack",
        reporter_user_id="U777",
        source_platform="slack",
        source_chat_id="C123",
        source_message_id="1717000000.000200",
        source_thread_id="1717000000.000100",
    ).number

    def found(platform: str, chat: str | int, ref: str | int) -> str | None:
        t = store.ticket_for_source_thread(platform, chat, ref)
        return None if t is None else t.number

    # a reply to the question itself
    assert found("telegram", -1001001, 555) == tg
    # a reply to the bot's relayed copy of an engineer's message
    store.claim(tg, "e01")
    store.append_message(
        tg, "engineer", "e01", "请重启打印服务", MessageRef("telegram", "-1001001", "777")
    )
    assert found("telegram", "-1001001", "777") == tg
    # Slack: a reply in the thread the question was asked in
    assert found("slack", "C123", "1717000000.000100") == slack
    assert found("slack", "C123", "1717000000.000200") == slack
    # the same ids in another chat or on another platform belong to nothing
    assert found("telegram", -1002002, 555) is None
    assert found("slack", "C123", "555") is None
    assert found("telegram", -1001001, 556) is None


def test_exact_message_beats_shared_thread(
    store: TicketStore, open_ticket: Callable[..., Ticket]
) -> None:
    """Two questions asked in one Slack thread: a reply pointing at a ticket's own message
    finds that ticket, not merely the newest one of the thread."""
    common = {
        "hospital_id": "h002",
        "reporter_platform": "slack",
        "reporter_user_id": "U777",
        "source_platform": "slack",
        "source_chat_id": "C123",
        "source_thread_id": "1717000000.000100",
    }
    first = open_ticket(source_message_id="1717000000.000200", **common).number
    second = open_ticket(source_message_id="1717000000.000300", **common).number
    t = store.ticket_for_source_thread("slack", "C123", "1717000000.000200")
    assert t is not None and t.number == first
    t = store.ticket_for_source_thread("slack", "C123", "1717000000.000100")
    assert t is not None and t.number == second
    user = Actor.hospital_user("h002", "slack", "U777")
    store.append_message(
        first,
        "hospital",
        user,
        "补充：只有 3 号机",
        MessageRef("slack", "C123", "1717000000.000400"),
    )
    t = store.ticket_for_source_thread("slack", "C123", "1717000000.000400")
    assert t is not None and t.number == first
