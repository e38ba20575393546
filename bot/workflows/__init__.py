"""The contract's services as recorded workflows (issue 16).

* ``remote``: remote help only with the hospital's permission, and the ticket's escalation
  level phone → remote → on-site;
* ``visits``: on-site visits, planned, arrived, departed, confirmed by the hospital;
* ``upgrades``: the upgrade service's four stages per hospital and product, and the product
  versions hospitals run;
* ``calls``: a 7x24 phone call registered as a ticket (channel = phone);
* ``actions``: the one encoder/decoder of this package's chat buttons;
* ``chat`` (desk and hospital commands, buttons), ``cli`` (``hisbot service …``) and
  ``bot/web/service_pages.py`` (console) are the surfaces; ``bot/web/annual.py`` the review.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.infra.clock import Clock, utc_now
from bot.workflows.errors import WorkflowError, WorkflowNotFound
from bot.workflows.remote import RemoteAccess
from bot.workflows.upgrades import Upgrades
from bot.workflows.visits import Visits

__all__ = ["ServiceWorkflows", "WorkflowError", "WorkflowNotFound"]


@dataclass(frozen=True)
class ServiceWorkflows:
    """The three workflow stores over one database and clock, and the zone people write
    times in (``[reports] timezone``)."""

    remote: RemoteAccess
    visits: Visits
    upgrades: Upgrades
    zone: ZoneInfo

    @classmethod
    def over(cls, engine: Engine, zone: ZoneInfo, clock: Clock = utc_now) -> ServiceWorkflows:
        return cls(
            RemoteAccess(engine, clock), Visits(engine, clock), Upgrades(engine, clock), zone
        )
