"""Which chats a notice reaches: the matching hospitals' *active* chats, on every platform.

The preview and the send use this one function, so what the preview lists is exactly what the
notice wave is given (resolved again when it fires: a chat the bot was removed from in between
is left out rather than failed). Three queries whatever the number of hospitals, because a
broadcast to 2,000 groups must not cost 4,000 round trips before the first message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from bot.broadcasts.specs import Targets
from bot.registry.models import Hospital, HospitalChat, HospitalModule


@dataclass(frozen=True)
class TargetGroup:
    hospital_id: str
    hospital_name: str
    platform: str
    chat_id: str
    title: str


@dataclass(frozen=True)
class Resolution:
    groups: list[TargetGroup] = field(default_factory=list)
    #: Hospitals that match but have no active chat: they will not receive the notice.
    unreachable: list[Hospital] = field(default_factory=list)

    @property
    def hospitals(self) -> int:
        return len({g.hospital_id for g in self.groups})

    def per_platform(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for g in self.groups:
            out[g.platform] = out.get(g.platform, 0) + 1
        return dict(sorted(out.items()))


def resolve(session: Session, targets: Targets) -> Resolution:
    hospitals = list(session.exec(select(Hospital).order_by(col(Hospital.id))).all())
    modules: dict[str, set[str]] = {}
    for row in session.exec(select(HospitalModule)).all():
        modules.setdefault(row.hospital_id, set()).add(row.module)
    chats: dict[str, list[HospitalChat]] = {}
    stmt = (
        select(HospitalChat)
        .where(col(HospitalChat.active).is_(True))
        .order_by(col(HospitalChat.platform), col(HospitalChat.id))
    )
    for chat in session.exec(stmt).all():
        chats.setdefault(chat.hospital_id, []).append(chat)
    out = Resolution()
    for h in hospitals:
        if not targets.matches(h, modules.get(h.id, set())):
            continue
        if not chats.get(h.id):
            out.unreachable.append(h)
        for c in chats.get(h.id, []):
            out.groups.append(TargetGroup(h.id, h.name, c.platform, c.chat_id, c.title))
    return out
