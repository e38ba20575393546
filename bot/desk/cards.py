"""A ticket's card in an engineers' desk chat: its text, its 接单 button, who it mentions.

Rendering only (it reads the database: call it through ``db``); posting and recording the
card is ``bot.desk.posting``'s, when to is the card outbox's (``bot.desk.queue``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from adapters.base import Button, ChatRef, Reply
from bot import texts
from bot.conversation import category_choices
from bot.registry.models import Hospital
from bot.routing import encode
from bot.tickets import incidents
from bot.tickets.actions import Claim
from bot.tickets.models import Ticket

if TYPE_CHECKING:
    from bot.infra.gateway import Database
    from bot.registry.store import RegistryStore
    from bot.sla.watch import SlaWatch
    from bot.tickets.store import TicketStore


class CardSource(Protocol):
    """What rendering a card reads (the ticket flow and the services both have it)."""

    @property
    def db(self) -> Database: ...
    @property
    def registry(self) -> RegistryStore: ...
    @property
    def tickets(self) -> TicketStore: ...
    @property
    def sla(self) -> SlaWatch | None: ...


def card_text(services: CardSource, ticket: Ticket, hospital_name: str) -> str:
    articles = services.tickets.articles(ticket.number)
    tried = "\n".join(f"  · {a.article_id} {a.title}" for a in articles) or "  （无）"
    engineer = ""
    if ticket.accepted_by:
        eng = services.registry.get_engineer(ticket.accepted_by)
        engineer = f"\n受理：{eng.name if eng else ticket.accepted_by}"
    return (
        f"🎫 工单 #{ticket.number}  [{texts.URGENCY_LABELS.get(ticket.urgency, ticket.urgency)}]\n"
        f"医院：{hospital_name}\n"
        f"报告人：{ticket.reporter_name}{incidents.reporters_line(services.db.engine, ticket)}\n"
        f"分类：{texts.CATEGORY_LABELS.get(ticket.category, ticket.category)}\n"
        f"状态：{texts.STATUS_LABELS.get(ticket.status, ticket.status)}{engineer}\n"
        f"问题：{ticket.question}\n"
        f"已尝试文章：\n{tried}\n"
        f"回复本消息即可转达给医院。"
    )


def mention_user_ids(
    services: CardSource, ticket: Ticket, hospital: Hospital | None, platform: str
) -> tuple[str, ...]:
    """Who the ticket's card mentions on this platform: the duty roster's routing (a P1: the
    on-call engineer and the lead), and a P1's dedicated engineer and deputy (reads the db)."""
    engineers: tuple[str, ...] = ()
    if hospital is not None and services.sla is not None:  # the duty roster's routing
        engineers = services.sla.mentions(ticket, hospital)
    elif ticket.urgency == "P1" and hospital is not None and hospital.dedicated_engineer_id:
        engineers = (hospital.dedicated_engineer_id,)
    if ticket.urgency == "P1" and hospital is not None and hospital.deputy_engineer_id:
        engineers = tuple(dict.fromkeys((*engineers, hospital.deputy_engineer_id)))
    return tuple(
        i.platform_user_id
        for e in engineers
        for i in services.registry.identities_of(e)
        if i.platform == platform
    )


def card_reply(services: CardSource, ticket: Ticket, desk: ChatRef) -> Reply:
    """The ticket's card for one desk chat (reads the database: call it through ``db``)."""
    hospital = services.registry.get_hospital(ticket.hospital_id)
    name = hospital.name if hospital else ticket.hospital_id
    buttons: tuple[tuple[Button, ...], ...] = ()
    if ticket.status == "new":
        buttons = ((Button(texts.CLAIM, encode(Claim(ticket.number))),),)
    if ticket.status == "new" and (categories := category_choices.choices(ticket)):
        buttons += (categories,)  # triage: the category corrected with one tap before claiming
    mentions = mention_user_ids(services, ticket, hospital, desk.platform)
    return Reply(
        chat=desk,
        text=card_text(services, ticket, name),
        buttons=buttons,
        mention_user_ids=mentions,
    )
