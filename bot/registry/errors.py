"""What a registry change that cannot be made raises; the message says why."""

from __future__ import annotations


class RegistryError(Exception):
    """A registry change that cannot be made; the message says why."""


class RegistryNotFound(RegistryError, LookupError):
    """The hospital, engineer or chat named does not exist."""


class RegistryConflict(RegistryError):
    """The change would contradict what is registered (an id taken, a chat of another hospital)."""
