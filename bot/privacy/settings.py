"""``[privacy]``: how long personal data is kept."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrivacySettings:
    #: Days after which the personal text of finished tickets (resolved or closed, untouched
    #: since), of the bot's exchanges and of notice receipts is erased by the daily retention
    #: job; the tickets' records (times, category, engineer) stay for the reports. 0 keeps
    #: everything until erased by hand (``hisbot privacy purge``).
    retention_days: int = 1095
    #: Hours between two runs of the retention job (the first runs a minute after start).
    retention_interval_hours: float = 24.0

    def __post_init__(self) -> None:
        if self.retention_days < 0:
            raise ValueError("[privacy] retention_days must be 0 (keep) or a number of days")
        if self.retention_interval_hours <= 0:
            raise ValueError("[privacy] retention_interval_hours must be positive")
