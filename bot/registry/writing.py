"""Writing hospitals and engineers from their specs: what ``add_hospital``/``add_engineer``
and the config.toml sync share, and the sync with its report (``bot.registry.store`` states
the rule between config.toml and the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from bot.infra.clock import Clock
from bot.registry.errors import RegistryNotFound
from bot.registry.models import (
    Engineer,
    EngineerIdentity,
    EngineerRole,
    Hospital,
    HospitalAdmin,
    HospitalChat,
    HospitalModule,
)
from bot.registry.reading import chat_row, identity_row
from bot.registry.specs import EngineerSpec, HospitalSpec


@dataclass
class SyncReport:
    hospitals_added: list[str] = field(default_factory=list)
    hospitals_updated: list[str] = field(default_factory=list)
    engineers_added: list[str] = field(default_factory=list)
    engineers_updated: list[str] = field(default_factory=list)
    #: Things config.toml should be told about (a listed chat that is no longer active, ...).
    warnings: list[str] = field(default_factory=list)


def sync(
    s: Session,
    hospitals: Sequence[HospitalSpec],
    engineers: Sequence[EngineerSpec],
    clock: Clock,
) -> SyncReport:
    """Write config.toml's entries inside ``s`` (``bot.registry.store`` says the rule);
    ``check_unique`` has passed."""
    report = SyncReport()
    for e in engineers:
        before = _engineer_state(s, e.id)
        write_engineer(s, e, clock())
        s.flush()
        if before is None:
            report.engineers_added.append(e.id)
        elif before != _engineer_state(s, e.id):
            report.engineers_updated.append(e.id)
    for h in hospitals:
        before_h = _hospital_state(s, h.id)
        write_hospital(s, h, clock(), report.warnings)
        s.flush()
        if before_h is None:
            report.hospitals_added.append(h.id)
        elif before_h != _hospital_state(s, h.id):
            report.hospitals_updated.append(h.id)
    return report


def write_engineer(s: Session, spec: EngineerSpec, now: datetime) -> Engineer:
    """Make the engineer's row, roles and accounts what ``spec`` says (accounts are only
    added or moved here, never removed)."""
    row = s.get(Engineer, spec.id)
    if row is None:
        row = Engineer(id=spec.id, name=spec.name, created_at=now, updated_at=now)
    elif row.name != spec.name:
        row.name = spec.name
        row.updated_at = now
    s.add(row)
    s.flush()
    have = {
        r.role: r for r in s.exec(select(EngineerRole).where(EngineerRole.engineer_id == spec.id))
    }
    for role, r in have.items():
        if role not in spec.roles:
            s.delete(r)
    for role in spec.roles:
        if role not in have:
            s.add(EngineerRole(engineer_id=spec.id, role=role))
    for platform, user in spec.identities():
        ident = identity_row(s, platform, user)
        if ident is None:
            s.add(
                EngineerIdentity(
                    platform=platform,
                    platform_user_id=user,
                    engineer_id=spec.id,
                    created_at=now,
                )
            )
        elif ident.engineer_id != spec.id:
            ident.engineer_id = spec.id
            s.add(ident)
    return row


def write_hospital(
    s: Session, spec: HospitalSpec, now: datetime, warnings: list[str] | None = None
) -> Hospital:
    """Make the hospital's row, modules, admins and chats what ``spec`` says (admins and chats
    are only added or moved here; an inactive listed chat is a warning, not re-activated)."""
    for engineer in (spec.dedicated_engineer, spec.deputy_engineer):
        if engineer is not None and s.get(Engineer, engineer) is None:
            raise RegistryNotFound(
                f"hospital {spec.id}: no engineer {engineer} (register the engineer first)"
            )
    row = s.get(Hospital, spec.id)
    if row is None:
        row = Hospital(id=spec.id, name=spec.name, created_at=now, updated_at=now)
    fields = {
        "name": spec.name,
        "region": spec.region,
        # empty in config: the version a verified upgrade recorded stays (bot.workflows)
        "his_version": spec.his_version or row.his_version,
        "dedicated_engineer_id": spec.dedicated_engineer,
        "deputy_engineer_id": spec.deputy_engineer,
    }
    if any(getattr(row, k) != v for k, v in fields.items()):
        for k, v in fields.items():
            setattr(row, k, v)
        row.updated_at = now
    s.add(row)
    s.flush()
    have = {
        m.module: m
        for m in s.exec(select(HospitalModule).where(HospitalModule.hospital_id == spec.id))
    }
    for module, m in have.items():
        if module not in spec.modules:
            s.delete(m)
    for position, module in enumerate(spec.modules):
        m = have.get(module) or HospitalModule(hospital_id=spec.id, module=module)
        m.position = position
        s.add(m)
    for platform, user in spec.admins():
        if s.get(HospitalAdmin, (spec.id, platform, user)) is None:
            s.add(
                HospitalAdmin(
                    hospital_id=spec.id,
                    platform=platform,
                    platform_user_id=user,
                    created_at=now,
                )
            )
    for platform, chat_id in spec.chats():
        chat = chat_row(s, platform, chat_id)
        if chat is None:
            s.add(
                HospitalChat(
                    platform=platform, chat_id=chat_id, hospital_id=spec.id, created_at=now
                )
            )
            continue
        if chat.hospital_id != spec.id:
            chat.hospital_id = spec.id
            s.add(chat)
        if not chat.active and warnings is not None:
            warnings.append(
                f"hospital {spec.id}: {platform} chat {chat_id} is inactive "
                f"({chat.deactivated_reason or 'deactivated'}); update config.toml"
            )
    return row


def _engineer_state(s: Session, engineer_id: str) -> tuple[object, ...] | None:
    row = s.get(Engineer, engineer_id)
    if row is None:
        return None
    roles = sorted(s.exec(select(EngineerRole.role).where(EngineerRole.engineer_id == engineer_id)))
    idents = sorted(
        (i.platform, i.platform_user_id)
        for i in s.exec(select(EngineerIdentity).where(EngineerIdentity.engineer_id == engineer_id))
    )
    return (row.name, tuple(roles), tuple(idents))


def _hospital_state(s: Session, hospital_id: str) -> tuple[object, ...] | None:
    row = s.get(Hospital, hospital_id)
    if row is None:
        return None
    modules = s.exec(
        select(HospitalModule.module, HospitalModule.position).where(
            HospitalModule.hospital_id == hospital_id
        )
    )
    chats = s.exec(
        select(HospitalChat.platform, HospitalChat.chat_id).where(
            HospitalChat.hospital_id == hospital_id
        )
    )
    return (
        row.name,
        row.region,
        row.his_version,
        row.dedicated_engineer_id,
        row.deputy_engineer_id,
        tuple(sorted(modules)),
        tuple(sorted(chats)),
    )
