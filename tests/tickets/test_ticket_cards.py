"""The engineers' card outbox (per desk chat)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.tickets import NotAllowed, Ticket, TicketNotFound, TicketStore

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
