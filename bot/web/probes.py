"""Cross-hospital probes: a hospital's access link asking for another hospital's ticket, chat
or page gets the same 404 as for something that does not exist, and is audited.

One audit row per probe would let a scan flood the audit; so the probes of one link are
counted per hour in the database (``bot.web.counts``: every worker bumps the same row, a count
is never handed out twice) and the 1st, 10th, 100th … of them is written as a ``cross_hospital``
row — one row per milestone however many workers the scan is spread over.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from bot.infra.clock import Clock, utc_now
from bot.registry.sessions import transaction
from bot.web.abuse import milestone
from bot.web.auth import ConsoleStore
from bot.web.counts import Kind, WindowCounts

#: A link's probes are counted in windows of this length, from its first probe.
PROBE_WINDOW = dt.timedelta(hours=1)


class ProbeAudit:
    """Counts probes and audits their milestones (synchronous: call from a database thread)."""

    def __init__(self, engine: Engine, store: ConsoleStore, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._store = store
        self._counts = WindowCounts(engine, clock)

    def probed(self, actor: str, what: str, ip: str) -> int:
        """Count one probe by ``actor`` (a link's audit name) of ``what``; the count and its
        milestone row commit together, so a milestone is neither lost nor written twice.
        Returns the actor's count in its window."""
        subject = (Kind.PROBE, actor)
        with transaction(self._engine):
            count = self._counts.add([subject], PROBE_WINDOW)[subject]
            if milestone(count):
                detail = "" if count == 1 else f"{count} attempts within an hour"
                self._store.audit(actor, "cross_hospital", what, detail, ip=ip)
        self._counts.purge_if_due()
        return count
