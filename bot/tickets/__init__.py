"""Tickets: the registry of escalated questions the service contract requires (see
``bot.tickets.store``)."""

from adapters.base import MessageRef
from bot.tickets.categories import CATEGORIES, DEFAULT_CATEGORY, URGENCIES, suggest_category
from bot.tickets.models import (
    OPEN_STATUSES,
    ActorKind,
    AuditEntry,
    Direction,
    EventKind,
    Status,
    Ticket,
    TicketArticle,
    TicketCard,
    TicketCounter,
    TicketEvent,
    TicketEventDetail,
    TicketMessage,
)
from bot.tickets.numbering import format_number, normalise_number, parse_number
from bot.tickets.store import (
    Actor,
    AlreadyClaimed,
    InvalidTransition,
    InvalidValue,
    NotAllowed,
    ResolutionRequired,
    ThreadEntry,
    TicketError,
    TicketNotFound,
    TicketStore,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_CATEGORY",
    "OPEN_STATUSES",
    "URGENCIES",
    "Actor",
    "ActorKind",
    "AlreadyClaimed",
    "AuditEntry",
    "Direction",
    "EventKind",
    "InvalidTransition",
    "InvalidValue",
    "MessageRef",
    "NotAllowed",
    "ResolutionRequired",
    "Status",
    "ThreadEntry",
    "Ticket",
    "TicketArticle",
    "TicketCard",
    "TicketCounter",
    "TicketError",
    "TicketEvent",
    "TicketEventDetail",
    "TicketMessage",
    "TicketNotFound",
    "TicketStore",
    "format_number",
    "normalise_number",
    "parse_number",
    "suggest_category",
]
