"""APScheduler 3 (``BackgroundScheduler``) with its jobs in the bot's own database.

One date job per scheduled wave (id ``notice-wave-<id>``), kept in a ``SQLAlchemyJobStore`` on
the bot's engine (same URL, table ``apscheduler_jobs``): it is what wakes the bot at a wave's
due time, and a job whose time passed while the bot was down runs as soon as the scheduler
starts (``misfire_grace_time=None``, coalesced to one run). The job only calls
``Broadcaster.fire_wave``; whether to send, hold for quiet hours or mark missed is decided
there, against the wave row — the ledger. Firing is idempotent, so a job may run twice.

Why the wave table and not the job store is the truth: APScheduler 3 deletes a date job from
its store when it *submits* it, before the coroutine has run, so a crash at that moment would
lose it; and the CLI (another process, without a scheduler) writes waves too. ``sync()`` —
at start, after changes made in this process, and every ``poll_seconds`` from the worker —
adds a job for every scheduled wave that lacks one (or whose due time moved) and removes jobs
of waves that are no longer scheduled; the worker's own poll fires anything already due.

Why a background scheduler and not ``AsyncIOScheduler``: the job store is SQL, and the asyncio
scheduler reads it on the event loop at every wake-up. Here APScheduler's own thread reads it,
``sync`` runs on the database gateway's writer, and a due job hands ``fire_wave`` to the loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import cast

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import STATE_STOPPED  # type: ignore[import-untyped]
from sqlalchemy import Engine

from bot.broadcasts.service import Broadcaster
from bot.infra.clock import as_utc

log = logging.getLogger(__name__)

JOB_PREFIX = "notice-wave-"
#: Running schedulers by name: jobs are stored as a reference to ``fire_wave_job`` plus
#: picklable arguments, so the job finds its broadcaster here.
_RUNNING: dict[str, NoticeScheduler] = {}


def fire_wave_job(name: str, wave_id: int) -> None:
    """The job APScheduler runs in its thread (module level: the job store keeps a textual
    reference): the wave is fired on the bot's loop, and the job waits for it."""
    scheduler = _RUNNING.get(name)
    if scheduler is None or scheduler.loop is None:
        log.warning("wave %s is due but scheduler %r is not running", wave_id, name)
        return
    fired = asyncio.run_coroutine_threadsafe(
        scheduler.broadcaster.fire_wave(wave_id), scheduler.loop
    )
    fired.result()


class _SharedEngineJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The stock store disposes its engine on shutdown; this engine belongs to the bot."""

    def shutdown(self) -> None:
        pass


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's thread looks for due jobs once more after ``shutdown`` (it is woken to
    notice it); with the executor gone that round fails on a date job and ends the thread with
    an error. A stopped scheduler runs no round."""

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return cast(float | None, super()._process_jobs())


class NoticeScheduler:
    def __init__(self, broadcaster: Broadcaster, engine: Engine, name: str = "hisbot") -> None:
        self.broadcaster = broadcaster
        self.name = name
        self._store = _SharedEngineJobStore(engine=engine)
        self._scheduler = _Scheduler(
            jobstores={"default": self._store},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=dt.UTC,
        )
        #: The loop due jobs fire their waves on (set by ``start``).
        self.loop: asyncio.AbstractEventLoop | None = None
        self._syncs: set[asyncio.Task[None]] = set()
        broadcaster.on_waves_changed = self.request_sync

    async def start(self, paused: bool = False) -> None:
        """Start (loads the stored jobs: past-due ones run now) and sync with the waves.
        ``paused``: keep jobs in step with the waves but run none (a standby process)."""
        self.loop = asyncio.get_running_loop()
        _RUNNING[self.name] = self
        db = self.broadcaster.db
        await db.write(lambda: self._scheduler.start(paused=paused))
        await db.write(self.sync)

    def request_sync(self) -> None:
        """``sync`` soon, on the database gateway's writer (called on the loop)."""
        if not self._scheduler.running:
            return
        task = asyncio.get_running_loop().create_task(self.broadcaster.db.write(self.sync))
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def stop(self) -> None:
        if _RUNNING.get(self.name) is self:
            del _RUNNING[self.name]
        if self._syncs:
            await asyncio.gather(*self._syncs, return_exceptions=True)
        if self._scheduler.running:
            # the scheduler's thread ends; a job already handed to the loop still runs there
            await self.broadcaster.db.write(lambda: self._scheduler.shutdown(wait=False))

    def jobs(self) -> dict[int, dt.datetime]:
        """Wave id → the run time of its job, as stored."""
        out: dict[int, dt.datetime] = {}
        for job in self._scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.next_run_time is not None:
                out[int(job.id[len(JOB_PREFIX) :])] = as_utc(job.next_run_time)
        return out

    def sync(self) -> None:
        """Make the jobs match the scheduled waves. Safe to call any time, any number of times."""
        if not self._scheduler.running:
            return
        try:
            jobs = self.jobs()
            waves = {
                w.id: as_utc(w.due_at)
                for w in self.broadcaster.store.waves.scheduled_waves()
                if w.id is not None and w.due_at is not None
            }
            for wave_id, due in waves.items():
                if jobs.get(wave_id) != due:
                    self._scheduler.add_job(
                        fire_wave_job,
                        "date",
                        run_date=due,
                        args=[self.name, wave_id],
                        id=f"{JOB_PREFIX}{wave_id}",
                        replace_existing=True,
                    )
            for wave_id in set(jobs) - set(waves):
                self._scheduler.remove_job(f"{JOB_PREFIX}{wave_id}")
        except Exception:  # the worker's poll still fires due waves; log and carry on
            log.exception("syncing notice jobs with APScheduler failed")
