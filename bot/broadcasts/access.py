"""Reading notices, and who may do what: every refused attempt is written down.

Only engineers with the ``broadcaster`` role change notices (create, test, confirm, cancel,
follow up, resend); any registered engineer may read (preview, status); anyone else is
refused. A refusal raises ``NotBroadcaster`` *after* its ``notice_audit`` row is committed, so
the attempt is on record whatever the caller does next.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.broadcasts.deliveries import Deliveries
from bot.broadcasts.errors import NotBroadcaster, NoticeNotFound
from bot.broadcasts.models import (
    DeliveryStatus,
    ItemKind,
    Notice,
    NoticeAudit,
    NoticeItem,
    NoticeWave,
    WaveKind,
)
from bot.broadcasts.receipts import ReceiptBook
from bot.broadcasts.settings import BroadcastSettings
from bot.broadcasts.specs import Targets
from bot.broadcasts.targeting import Resolution, resolve
from bot.broadcasts.waves import Waves, targets_of
from bot.cluster.claims import Claimant
from bot.inbox.store import OutboxStore
from bot.infra.actors import Actor as Actor  # re-exported: the one Actor lives in bot.infra.actors
from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.models import Engineer
from bot.registry.sessions import read_session, write_session
from bot.registry.store import RegistryStore

BROADCASTER = "broadcaster"


class NoticeReader:
    """The read side of ``BroadcastStore`` and its permission checks."""

    def __init__(
        self,
        engine: Engine,
        registry: RegistryStore,
        clock: Clock = utc_now,
        settings: BroadcastSettings | None = None,
        claimant: Claimant | None = None,
    ) -> None:
        """``claimant``: this worker, the owner of the deliveries it sends (default: the only
        process on the database)."""
        self._engine = engine
        self.registry = registry
        self._clock = clock
        self.settings = settings or BroadcastSettings()
        self.waves = Waves(engine, self.settings)
        claimant = claimant or Claimant.alone()
        self.deliveries = Deliveries(engine, self.settings, claimant)
        #: The one durable outbox every delivery is sent through (``bot.inbox.sending``).
        self.sends = OutboxStore(engine, self.now, claimant)
        self.receipts = ReceiptBook(engine, clock)

    @property
    def engine(self) -> Engine:
        return self._engine

    def now(self) -> dt.datetime:
        return as_utc(self._clock())

    # -- who may ------------------------------------------------------------------------------

    def engineer_for(self, actor: Actor) -> Engineer | None:
        if actor.engineer_id:
            return self.registry.get_engineer(actor.engineer_id)
        if actor.user_id:
            return self.registry.engineer_for_user(actor.via, actor.user_id)
        return None

    def authorize(
        self, actor: Actor, action: str, notice_id: int | None = None, need: str = BROADCASTER
    ) -> Engineer:
        """The engineer behind ``actor`` if they may ``action`` (``need``: a role, or "" for
        any engineer); otherwise the attempt is audited and ``NotBroadcaster`` raised."""
        engineer = self.engineer_for(actor)
        why = ""
        if engineer is None:
            why = f"{actor.label} is not a registered engineer"
        elif need and need not in self.registry.roles_of(engineer.id):
            why = f"engineer {engineer.id} does not have the {need} role"
        if why:
            self.audit(actor, action, notice_id, allowed=False, detail=why)
            raise NotBroadcaster(why)
        assert engineer is not None
        return engineer

    def audit(
        self,
        actor: Actor,
        action: str,
        notice_id: int | None = None,
        allowed: bool = True,
        detail: str = "",
    ) -> None:
        with write_session(self._engine) as s:
            audit_in(s, self.now(), actor, action, notice_id, allowed, detail)

    def audit_log(self, notice_id: int | None = None, limit: int = 200) -> list[NoticeAudit]:
        with read_session(self._engine) as s:
            stmt = select(NoticeAudit).order_by(col(NoticeAudit.id).desc()).limit(limit)
            if notice_id is not None:
                stmt = stmt.where(NoticeAudit.notice_id == notice_id)
            return list(reversed(s.exec(stmt).all()))

    # -- reading ------------------------------------------------------------------------------

    def get(self, notice_id: int) -> Notice:
        with read_session(self._engine) as s:
            notice = s.get(Notice, notice_id)
        if notice is None:
            raise NoticeNotFound(notice_id)
        return notice

    def list_notices(self, limit: int = 20) -> list[Notice]:
        with read_session(self._engine) as s:
            stmt = select(Notice).order_by(col(Notice.id).desc()).limit(limit)
            return list(s.exec(stmt).all())

    def items(self, notice_id: int) -> tuple[list[str], list[str]]:
        """(affected modules, affected services) in order."""
        with read_session(self._engine) as s:
            rows = s.exec(
                select(NoticeItem)
                .where(NoticeItem.notice_id == notice_id)
                .order_by(col(NoticeItem.position))
            ).all()
        modules = [r.value for r in rows if r.kind == ItemKind.MODULE]
        return modules, [r.value for r in rows if r.kind == ItemKind.SERVICE]

    def targets(self, notice_id: int) -> Targets:
        with read_session(self._engine) as s:
            return targets_of(s, notice_id)

    def waves_of(self, notice_id: int) -> list[NoticeWave]:
        with read_session(self._engine) as s:
            stmt = select(NoticeWave).where(NoticeWave.notice_id == notice_id)
            return list(s.exec(stmt.order_by(col(NoticeWave.id))).all())

    def preview(self, notice_id: int) -> Resolution:
        """Exactly the groups (platform and chat) the notice wave would go to now."""
        self.get(notice_id)
        with read_session(self._engine) as s:
            return resolve(s, targets_of(s, notice_id))

    def test_state(self, notice_id: int) -> str:
        """ "none", "pending", "sent" or "failed": the test copy in the engineers' chat."""
        rows = self.deliveries.of_notice(notice_id, WaveKind.TEST)
        if not rows:
            return "none"
        if all(r.status == DeliveryStatus.SENT for r in rows):
            return "sent"
        if any(r.status == DeliveryStatus.QUEUED for r in rows):
            return "pending"
        return "failed"


def notice_in(s: Session, notice_id: int) -> Notice:
    notice = s.get(Notice, notice_id)
    if notice is None:
        raise NoticeNotFound(notice_id)
    return notice


def audit_in(
    s: Session,
    now: dt.datetime,
    actor: Actor,
    action: str,
    notice_id: int | None,
    allowed: bool,
    detail: str,
) -> None:
    s.add(
        NoticeAudit(
            notice_id=notice_id,
            at=now,
            actor=actor.label[:80],
            via=actor.via[:16],
            action=action,
            allowed=allowed,
            detail=detail,
        )
    )
