"""Who does something: one ``Actor`` for tickets, broadcasts and the audit logs.

``id`` is an engineer id, ``"platform:user id"`` for a chat account (a hospital user, or
someone in the desk not yet resolved to an engineer), None for the bot and the system. A
hospital user carries their hospital: the ticket store refuses (as "not found") any ticket of
another hospital. ``via`` says where the act came from (``cli``, a platform, ``system``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    ENGINEER = "engineer"
    HOSPITAL_USER = "hospital_user"
    BOT = "bot"
    SYSTEM = "system"
    #: A chat account not resolved to an engineer or a hospital (broadcasts' commands); never
    #: written to a ticket (the store refuses it, and ``ck_ticket_event_actor_kind`` too).
    CHAT_USER = "chat_user"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str | None = None
    name: str = ""
    hospital_id: str | None = None
    via: str = ""

    @classmethod
    def engineer(cls, engineer_id: str, name: str = "") -> Actor:
        return cls(ActorKind.ENGINEER, engineer_id, name)

    @classmethod
    def cli(cls, engineer_id: str) -> Actor:
        """An engineer named on the command line."""
        return cls(ActorKind.ENGINEER, engineer_id, via="cli")

    @classmethod
    def hospital_user(
        cls, hospital_id: str, platform: str, user_id: str | int, name: str = ""
    ) -> Actor:
        return cls(ActorKind.HOSPITAL_USER, f"{platform}:{user_id}", name, hospital_id, platform)

    @classmethod
    def chat(cls, platform: str, user_id: str | int, name: str = "") -> Actor:
        """A chat account not yet resolved to an engineer (broadcasts resolve it per act;
        the ticket store refuses it)."""
        return cls(ActorKind.CHAT_USER, f"{platform}:{user_id}", name, via=platform)

    @classmethod
    def bot(cls) -> Actor:
        return cls(ActorKind.BOT, None, "bot")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(ActorKind.SYSTEM, None, name, via="system")

    @property
    def engineer_id(self) -> str | None:
        return self.id if self.kind is ActorKind.ENGINEER else None

    @property
    def user_id(self) -> str | None:
        """The platform user id of a chat account."""
        if self.kind in (ActorKind.HOSPITAL_USER, ActorKind.CHAT_USER) and self.id:
            return self.id.partition(":")[2]
        return None

    @property
    def label(self) -> str:
        """For audit logs: the engineer id, else ``platform:user``, else where it came from."""
        return self.id or self.via or self.kind.value
