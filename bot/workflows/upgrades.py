"""The upgrade service (▲ 系统升级服务): per hospital and product, an upgrade goes through
build test environment → simulated upgrade and tests → production upgrade → verified.

Each stage is recorded once, in that order (``STAGE_ORDER``), with its date, engineer and
notes; a stage dated before the one it follows is refused. Verifying records the new version
as the one the hospital runs (``hospital_product``); for the product "HIS" it also becomes the
hospital's ``his_version``, which broadcasts target by. An upgrade may name the
upgrade-window notice that announced it; its 已升级 receipts are shown beside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.broadcasts.models import Notice, Receipt, ReceiptKind
from bot.infra.clock import Clock, as_utc, utc_now
from bot.registry.models import Hospital
from bot.registry.sessions import read_session, write_session
from bot.workflows.errors import WorkflowError, WorkflowNotFound
from bot.workflows.models import STAGE_ORDER, HospitalProduct, Stage, Upgrade, UpgradeStep
from bot.workflows.remote import engineer_named

STAGE_LABELS: dict[str, str] = {
    Stage.TEST_ENV: "搭建测试环境",
    Stage.SIMULATED: "模拟升级与测试",
    Stage.PRODUCTION: "正式升级",
    Stage.VERIFIED: "验证完成",
}
#: The product whose version is the hospital's ``his_version``.
HIS_PRODUCT = "HIS"
MAX_NAME = 64


def next_stage(upgrade: Upgrade) -> Stage | None:
    """The stage to record next; None once verified."""
    if upgrade.stage is None:
        return STAGE_ORDER[0]
    i = STAGE_ORDER.index(Stage(upgrade.stage))
    return STAGE_ORDER[i + 1] if i + 1 < len(STAGE_ORDER) else None


@dataclass(frozen=True)
class UpgradeView:
    """An upgrade with its recorded stages and its notice's 已升级 receipt, for display."""

    upgrade: Upgrade
    hospital_name: str
    steps: tuple[UpgradeStep, ...]
    notice_title: str | None
    applied_at: dt.datetime | None

    @property
    def next(self) -> Stage | None:
        return next_stage(self.upgrade)


class Upgrades:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def start(
        self,
        hospital_id: str,
        product: str,
        to_version: str,
        by: str,
        notice_id: int | None = None,
    ) -> Upgrade:
        product, to_version = product.strip(), to_version.strip()
        if not product or len(product) > MAX_NAME or not to_version or len(to_version) > MAX_NAME:
            raise WorkflowError(f"请写明产品和目标版本（各 1–{MAX_NAME} 个字符）。")
        now = as_utc(self._clock())
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise WorkflowNotFound(f"没有医院 {hospital_id}。")
            engineer_named(s, by)
            if notice_id is not None and s.get(Notice, notice_id) is None:
                raise WorkflowNotFound(f"没有通知 #{notice_id}。")
            running = s.exec(
                select(Upgrade).where(
                    Upgrade.hospital_id == hospital_id,
                    Upgrade.product == product,
                    col(Upgrade.stage).is_distinct_from(Stage.VERIFIED),
                )
            ).first()
            if running is not None:
                raise WorkflowError(
                    f"{product} 在该医院已有进行中的升级（#{running.id}），请先完成它。"
                )
            current = s.get(HospitalProduct, (hospital_id, product))
            hospital = s.get(Hospital, hospital_id)
            before = current.version if current else ""
            if not before and product.upper() == HIS_PRODUCT and hospital is not None:
                before = hospital.his_version  # config.toml's, before any tracked upgrade
            upgrade = Upgrade(
                hospital_id=hospital_id,
                product=product,
                from_version=before,
                to_version=to_version,
                notice_id=notice_id,
                created_by=by,
                created_at=now,
            )
            s.add(upgrade)
            s.flush()
            return upgrade

    def record(
        self, upgrade_id: int, stage: str, engineer_id: str, done_on: dt.date, notes: str = ""
    ) -> Upgrade:
        """Record ``stage`` as done; it must be the next one in ``STAGE_ORDER``."""
        if stage not in tuple(Stage):
            raise WorkflowError(f"未知的升级阶段 {stage!r}（{'、'.join(STAGE_ORDER)}）。")
        now = as_utc(self._clock())
        with write_session(self._engine) as s:
            upgrade = _upgrade(s, upgrade_id)
            engineer_named(s, engineer_id)
            expected = next_stage(upgrade)
            if expected is None:
                raise WorkflowError(f"升级 #{upgrade_id} 已验证完成。")
            if stage != expected:
                raise WorkflowError(
                    f"升级 #{upgrade_id} 的下一步是「{STAGE_LABELS[expected]}」，"
                    f"不能先记录「{STAGE_LABELS[Stage(stage)]}」。"
                )
            last = s.exec(
                select(UpgradeStep)
                .where(UpgradeStep.upgrade_id == upgrade_id)
                .order_by(col(UpgradeStep.id).desc())
            ).first()
            if last is not None and done_on < last.done_on:
                raise WorkflowError(f"日期 {done_on} 早于上一阶段（{last.done_on}）：请检查日期。")
            s.add(
                UpgradeStep(
                    upgrade_id=upgrade_id,
                    stage=stage,
                    done_on=done_on,
                    engineer_id=engineer_id,
                    notes=notes.strip(),
                    recorded_at=now,
                )
            )
            upgrade.stage = stage
            s.add(upgrade)
            if stage == Stage.VERIFIED:
                _set_version(s, upgrade.hospital_id, upgrade.product, upgrade.to_version, now)
            return upgrade

    def set_version(self, hospital_id: str, product: str, version: str) -> None:
        """Record by hand what a hospital runs (before its first tracked upgrade)."""
        product, version = product.strip(), version.strip()
        if not product or not version or max(len(product), len(version)) > MAX_NAME:
            raise WorkflowError(f"请写明产品和版本（各 1–{MAX_NAME} 个字符）。")
        with write_session(self._engine) as s:
            if s.get(Hospital, hospital_id) is None:
                raise WorkflowNotFound(f"没有医院 {hospital_id}。")
            _set_version(s, hospital_id, product, version, as_utc(self._clock()))

    # -- reading -------------------------------------------------------------------------------

    def get(self, upgrade_id: int) -> UpgradeView:
        return self._views([upgrade_id], None, False)[0]

    def in_progress(self) -> list[UpgradeView]:
        return self._views(None, None, True)

    def of_hospital(self, hospital_id: str) -> list[UpgradeView]:
        return self._views(None, hospital_id, False)

    def versions(self, hospital_id: str) -> list[HospitalProduct]:
        with read_session(self._engine) as s:
            stmt = select(HospitalProduct).where(HospitalProduct.hospital_id == hospital_id)
            return list(s.exec(stmt.order_by(col(HospitalProduct.product))).all())

    def _views(
        self, ids: list[int] | None, hospital_id: str | None, open_only: bool
    ) -> list[UpgradeView]:
        with read_session(self._engine) as s:
            stmt = select(Upgrade).order_by(col(Upgrade.id).desc())
            if ids is not None:
                stmt = stmt.where(col(Upgrade.id).in_(ids))
            if hospital_id is not None:
                stmt = stmt.where(Upgrade.hospital_id == hospital_id)
            if open_only:
                stmt = stmt.where(col(Upgrade.stage).is_distinct_from(Stage.VERIFIED))
            rows = list(s.exec(stmt).all())
            if ids is not None and len(rows) != len(ids):
                raise WorkflowNotFound(f"没有升级 #{ids[0]}。")
            return [_view(s, u) for u in rows]


def _view(s: Session, upgrade: Upgrade) -> UpgradeView:
    hospital = s.get(Hospital, upgrade.hospital_id)
    steps = s.exec(
        select(UpgradeStep)
        .where(UpgradeStep.upgrade_id == upgrade.id)
        .order_by(col(UpgradeStep.id))
    ).all()
    notice = s.get(Notice, upgrade.notice_id) if upgrade.notice_id else None
    receipt = (
        s.exec(
            select(Receipt).where(
                Receipt.notice_id == notice.id,
                Receipt.hospital_id == upgrade.hospital_id,
                Receipt.kind == ReceiptKind.APPLIED,
            )
        ).first()
        if notice is not None
        else None
    )
    return UpgradeView(
        upgrade,
        hospital.name if hospital else upgrade.hospital_id,
        tuple(steps),
        notice.title if notice else None,
        as_utc(receipt.at) if receipt else None,  # broadcasts store aware times
    )


def _upgrade(s: Session, upgrade_id: int) -> Upgrade:
    upgrade = s.get(Upgrade, upgrade_id, with_for_update=True)
    if upgrade is None:
        raise WorkflowNotFound(f"没有升级 #{upgrade_id}。")
    return upgrade


def _set_version(
    s: Session, hospital_id: str, product: str, version: str, now: dt.datetime
) -> None:
    row = s.get(HospitalProduct, (hospital_id, product)) or HospitalProduct(
        hospital_id=hospital_id, product=product, version=version, updated_at=now
    )
    row.version, row.updated_at = version, now
    s.add(row)
    if product.upper() == HIS_PRODUCT:
        hospital = s.get(Hospital, hospital_id)
        if hospital is not None:
            hospital.his_version, hospital.updated_at = version, now
            s.add(hospital)
