"""The inbox's and outbox's rows on SQLite and PostgreSQL: a redelivery is stored once, a
send is claimed once, a crash's sends in flight become unknown (the restarted process is
another claimant: the dead one's rows are its to reconcile)."""

from __future__ import annotations

from sqlalchemy import Engine

from bot.inbox import InboxState, InboxStore, OutboxState, OutboxStore
from tests.lookups import outbox_count


def test_an_event_is_stored_once_and_replayed_until_done(engine: Engine) -> None:
    inbox = InboxStore(engine)
    first = inbox.put("telegram", "m:-1:5", "-1", "message", False, '{"x": 1}')
    assert first is not None
    assert inbox.put("telegram", "m:-1:5", "-1", "message", False, '{"x": 1}') is None
    second = inbox.put("slack", "m:-1:5", "-1", "message", False, "{}")  # another key
    assert second is not None
    assert inbox.take_over() == []  # this process's own events are not replayed by it
    inbox.finish(first, InboxState.DONE, 1)
    restarted = InboxStore(engine)  # the next process after a crash
    assert [e.id for e in restarted.take_over()] == [second]  # not the one done
    assert restarted.take_over() == []  # taken once
    assert inbox.put("telegram", "m:-1:5", "-1", "message", False, '{"x": 1}') is None


def test_a_send_is_claimed_once_and_interrupted_ones_become_unknown(engine: Engine) -> None:
    outbox = OutboxStore(engine)
    assert outbox.claim("telegram:m:-1:5#1", "telegram", "-1") is None  # ours to send
    outbox.record("telegram:m:-1:5#1", OutboxState.SENT, "42")
    again = outbox.claim("telegram:m:-1:5#1", "telegram", "-1")
    assert again is not None and again.state == OutboxState.SENT and again.message_id == "42"
    assert outbox.claim("card:2026-000001:telegram:-9", "telegram", "-9") is None
    outbox.release("card:2026-000001:telegram:-9")  # proven not sent: may be tried again
    assert outbox.claim("card:2026-000001:telegram:-9", "telegram", "-9") is None
    assert outbox.interrupted() == 0  # this process's own send in flight is left alone
    assert OutboxStore(engine).interrupted() == 1  # after a "crash", the next process's
    assert outbox_count(engine, OutboxState.UNKNOWN) == 1
    assert outbox.claim("card:2026-000001:telegram:-9", "telegram", "-9") is not None
