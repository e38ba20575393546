"""The retention job's purge of notices' sends (``notice:<delivery>``) and of the engineers'
alerts about unknown deliveries: none goes while a delivery of its time is still queued (a
crash between the send's record and the delivery's leaves the outbox row the only proof it
went), they go once the deliveries ended, the unknown send on its own longer horizon, and
the broadcaster sends nothing again afterwards."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from adapters.base import ChatRef, DeliveryError
from bot.broadcasts import Broadcasts, BroadcastSettings, DeliveryStatus, WaveKind
from bot.broadcasts.deliveries import Deliveries
from bot.inbox.sending import SendResult
from bot.infra.gateway import Database
from bot.privacy.purge import Eraser
from bot.privacy.retention import RetentionJob
from bot.privacy.sends import FinishedSends
from bot.privacy.settings import PrivacySettings
from tests.broadcasts.conftest import DESK, FakeClock, FakeTransport, SimulatedCrash, settle
from tests.broadcasts.test_outbox import created_and_confirmed, notice_rows, statuses


def crash_recording(monkeypatch: pytest.MonkeyPatch, chat_id: str) -> None:
    """The process dies after the send to ``chat_id`` was recorded in the outbox, before its
    delivery was."""
    real = Deliveries.record

    def record(
        self: Deliveries, delivery_id: int, result: SendResult, now: dt.datetime
    ) -> str | None:
        row = self.get(delivery_id)
        if row is not None and row.chat_id == chat_id:
            raise SimulatedCrash(chat_id)
        return real(self, delivery_id, result, now)

    monkeypatch.setattr(Deliveries, "record", record)


def alerts(transport: FakeTransport) -> list[str]:
    return [s.reply.text for s in transport.to(DESK.chat_id) if "无法确认" in s.reply.text]


async def test_notice_sends_stay_while_a_delivery_is_queued_and_none_is_sent_again(
    make_broadcasts: Callable[..., Broadcasts],
    transport: FakeTransport,
    clock: FakeClock,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    settings: BroadcastSettings,
) -> None:
    settings = dataclasses.replace(settings, ack_reminder_after="0")  # nothing else to send
    timeout = DeliveryError(ChatRef("telegram", "-1001003"), "TimedOut", outcome_unknown=True)
    transport.fail["-1001003"] = [timeout]
    first = make_broadcasts(settings)
    notice_id = await created_and_confirmed(first)
    crash_recording(monkeypatch, "-1001002")
    with pytest.raises(SimulatedCrash):
        await first.broadcaster.process_once()
    await settle()
    monkeypatch.undo()
    assert statuses(first, notice_id)["-1001002"] == DeliveryStatus.QUEUED
    rows = notice_rows(first)
    assert len(rows) == 5  # the test copy and four groups

    db = Database(engine)
    keep = PrivacySettings(retention_days=0, inbox_keep_days=0)
    job = RetentionJob(Eraser(engine, clock), keep, db, clock, sends=FinishedSends(engine))
    clock.advance(days=31)
    assert await job.purge_sends() == 0  # the queued delivery's send is all it has
    assert notice_rows(first) == rows

    second = make_broadcasts(settings)  # the restart
    await second.broadcaster.start(worker=False)
    await second.broadcaster.process_once()
    assert sorted(transport.chats()) == sorted(["-1001001", "C001", "-1001002"])  # each once
    assert statuses(second, notice_id)["-1001002"] == DeliveryStatus.SENT
    assert len(alerts(transport)) == 1  # the engineers told of -1001003, once
    clock.advance(days=31)
    assert await job.purge_sends() == 5  # four sends and the alert; the unknown send stays
    (unknown,) = notice_rows(second)
    main = second.store.deliveries.of_notice(notice_id, WaveKind.MAIN)
    assert unknown == f"notice:{next(d.id for d in main if d.chat_id == '-1001003')}"
    sent = len(transport.sent)
    await second.broadcaster.process_once()
    clock.advance(days=1)
    await second.broadcaster.process_once()
    assert len(transport.sent) == sent and len(alerts(transport)) == 1
    clock.advance(days=365)
    assert await job.purge_sends() == 1 and notice_rows(second) == []
    db.close()
