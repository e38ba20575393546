"""``[sla]``: when clocks warn and page, and where the paging webhook is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Gt, Lt


@dataclass(frozen=True)
class SlaSettings:
    #: Start clocks for new tickets, warn and page. Off: tickets are only measured in reports.
    enabled: bool = True
    #: The desk is warned when this share of a target has elapsed.
    warn_fraction: Annotated[float, Gt(0), Lt(1)] = 0.8
    #: After a breach the page is repeated this often until someone acknowledges.
    repeat_minutes: Annotated[int, Gt(0)] = 10
    #: Urgencies whose clocks count working time only (working days, ``[duty]`` hours);
    #: the others run around the clock.
    working_time: tuple[str, ...] = ("P3", "P4")
    #: A phone/SMS paging service: every page is also POSTed here as JSON ("" = none).
    webhook_url: str = ""
    webhook_timeout: Annotated[float, Gt(0)] = 5.0
    #: How often the clock worker looks for due timers (each new ticket also wakes it).
    tick_seconds: Annotated[float, Gt(0)] = 15.0

    def __post_init__(self) -> None:
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"[sla] webhook_url must be an http(s) URL, not {self.webhook_url!r}")
        bad = [u for u in self.working_time if u not in ("P1", "P2", "P3", "P4")]
        if bad:
            raise ValueError(f"[sla] working_time: unknown urgency {bad[0]!r}")
