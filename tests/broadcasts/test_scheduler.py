"""The real APScheduler (AsyncIOScheduler + SQLAlchemyJobStore) on the bot's database: jobs
survive a restart, and a job whose time passed while the bot was down runs on start, once.

APScheduler runs on the wall clock, so here the store's clock is set relative to it; nothing
sleeps for the due time (a past-due job runs as soon as the scheduler starts)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine, inspect, text

from bot.broadcasts import Broadcasts, BroadcastSettings, WaveKind
from tests.broadcasts.conftest import (
    BROADCASTER,
    HOSPITAL_CHATS,
    FakeClock,
    FakeTransport,
    patch_draft,
    send_now,
)

#: The wall clock may be in quiet hours when the tests run.
AWAKE = BroadcastSettings(quiet_hours="", telegram_per_second=1000.0, telegram_chat_interval=0.0)


def main_wave(bc: Broadcasts, notice_id: int) -> tuple[int, str]:
    [wave] = [w for w in bc.store.waves_of(notice_id) if w.kind == WaveKind.MAIN]
    assert wave.id is not None
    return wave.id, wave.status


async def test_jobs_are_kept_in_the_same_database_and_survive_a_restart(
    make_broadcasts: Callable[..., Broadcasts], engine: Engine, clock: FakeClock
) -> None:
    clock.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    first = make_broadcasts(AWAKE, engine=engine)
    assert first.scheduler is not None
    await first.scheduler.start()
    notice = first.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    due = clock.now + dt.timedelta(hours=1)
    await send_now(first, notice.id, at=due)
    first.scheduler.sync()  # what the chat command and the worker's poll do after a change
    wave_id, _ = main_wave(first, notice.id)
    assert first.scheduler.jobs() == {wave_id: due}
    await first.scheduler.stop()

    assert "apscheduler_jobs" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
    assert stored == [(f"notice-wave-{wave_id}", due.timestamp())]

    second = make_broadcasts(AWAKE, engine=engine)
    assert second.scheduler is not None
    await second.scheduler.start()
    try:
        assert second.scheduler.jobs() == {wave_id: due}
        second.store.cancel(notice.id, BROADCASTER)
        second.scheduler.sync()
        assert second.scheduler.jobs() == {}
    finally:
        await second.scheduler.stop()


async def test_a_job_due_while_the_bot_was_down_runs_on_start_once(
    make_broadcasts: Callable[..., Broadcasts],
    engine: Engine,
    clock: FakeClock,
    transport: FakeTransport,
) -> None:
    real_now = dt.datetime.now(dt.UTC)
    clock.now = real_now - dt.timedelta(hours=2)  # two hours ago...
    first = make_broadcasts(AWAKE, engine=engine)
    assert first.scheduler is not None
    await first.scheduler.start(paused=True)  # its clock is the wall clock: keep it from running
    notice = first.store.create(patch_draft(), BROADCASTER)
    assert notice.id is not None
    await send_now(first, notice.id, at=clock.now + dt.timedelta(hours=1))  # ...for an hour ago
    first.scheduler.sync()
    await first.scheduler.stop()  # ...and the bot went down before it was due

    clock.now = real_now
    second = make_broadcasts(AWAKE, engine=engine)
    assert second.scheduler is not None
    await second.scheduler.start()  # APScheduler runs the past-due job now
    try:
        for _ in range(200):
            if main_wave(second, notice.id)[1] == "fired":
                break
            await asyncio.sleep(0.01)
        assert main_wave(second, notice.id)[1] == "fired"
        await second.broadcaster.process_once()  # its own start-up check finds nothing to fire
        await second.broadcaster.process_once()
        assert sorted(transport.chats()) == sorted(HOSPITAL_CHATS)
        fired = [a for a in second.store.audit_log(notice.id) if a.action == "fired"]
        assert len(fired) == 1
    finally:
        await second.scheduler.stop()
