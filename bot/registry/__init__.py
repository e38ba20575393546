"""Hospitals, their chats, engineers and their chat accounts (see ``bot.registry.store``)."""

from bot.registry.errors import RegistryConflict, RegistryError, RegistryNotFound
from bot.registry.models import (
    PLATFORMS,
    ROLES,
    Engineer,
    EngineerIdentity,
    EngineerRole,
    Hospital,
    HospitalChat,
    HospitalModule,
)
from bot.registry.specs import EngineerSpec, HospitalSpec, specs_from_toml
from bot.registry.store import RegistryStore
from bot.registry.writing import SyncReport

__all__ = [
    "PLATFORMS",
    "ROLES",
    "Engineer",
    "EngineerIdentity",
    "EngineerRole",
    "EngineerSpec",
    "Hospital",
    "HospitalChat",
    "HospitalModule",
    "HospitalSpec",
    "RegistryConflict",
    "RegistryError",
    "RegistryNotFound",
    "RegistryStore",
    "SyncReport",
    "specs_from_toml",
]
