"""Console actions a chat must hear of, as inbox events.

A change made on the web console (接单, 解决, a reply to the hospital, a hospital's follow-up,
a remote-access request …) is written in one transaction with a ``ConsoleEvent`` in the
inbox; the event's handler then says it in the chats, keyed like any chat event's sends, so a
crash after the change replays the telling and a replay sends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adapters.base import ChatRef

#: The inbox's platform for console events; their lane is the ticket's.
CONSOLE = "console"


class Told(StrEnum):
    """What happened on the console, i.e. what the chats are told."""

    CLAIMED = "claimed"  # an engineer took the ticket: the hospital hears who
    RESOLVED = "resolved"  # the hospital and the incident's reporters hear how
    REOPENED = "reopened"  # by an engineer: the hospital hears it
    REPLIED = "replied"  # an engineer's message (``target``: the kept message) to the hospital
    FOLLOWED_UP = "followed_up"  # a hospital's message, relayed to the desks
    HOSPITAL_REOPENED = "hospital_reopened"  # the hospital says it is not solved: the desks hear
    CONSENT_ASKED = "consent_asked"  # remote access (``target``: the grant): 同意 / 拒绝
    VISIT_PLANNED = "visit_planned"  # a site visit (``target``): the hospital hears the plan
    VISIT_DEPARTED = "visit_departed"  # the engineer left (``target``): the admins confirm


@dataclass(frozen=True)
class ConsoleEvent:
    """One console action's telling. Texts are stored as typed (after redaction)."""

    #: The request's own id (a fresh uuid): the inbox key, so its sends are ``console:c:<id>#n``.
    id: str
    told: Told
    #: The ticket the action changed.
    number: str
    #: The engineer who acted (engineer actions).
    by: str = ""
    #: The hospital user's name as they gave it (hospital actions).
    author: str = ""
    text: str = ""
    #: The row the telling is about: the kept message, the grant or the visit.
    target: int = 0

    @property
    def chat(self) -> ChatRef:
        """The lane: one per ticket, so a ticket's console actions are told in order."""
        return ChatRef(CONSOLE, self.number)
