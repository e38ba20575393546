"""Correcting a ticket's category with one tap, on the desk card or on the hospital's notice.

The bot's category is a guess (``bot.tickets.category_guess``); the likely others are offered
as buttons (``category_choices``). An engineer may
correct any ticket from the desk; the reporter their own ticket from the hospital chat. Each
change is the store's audited ``category_changed`` event, written by the ticket flow, which
re-renders the desk cards.
"""

from __future__ import annotations

from adapters.base import ButtonPress, ChatRef
from bot import texts
from bot.conversation.actions import ChangeCategory
from bot.tickets.services import Services
from bot.tickets.store import Actor, By, TicketError


async def on_button(services: Services, press: ButtonPress, tap: ChangeCategory) -> None:
    """A category button: the engineer (desk) or the reporter (hospital chat) corrects it."""
    number, category = tap.number, tap.category
    chat = ChatRef(press.message.platform, press.message.chat_id)
    by: By | None
    if services.is_desk(chat):
        engineer = await services.db.read(
            lambda: services.registry.engineer_for_user(chat.platform, press.sender.user_id)
        )
        by = engineer.id if engineer is not None else None
        refused = texts.only_engineers()
    else:
        hospital = await services.db.read(
            lambda: services.registry.hospital_for_chat(chat.platform, chat.chat_id)
        )
        by = (
            Actor.hospital_user(
                hospital.id, chat.platform, press.sender.user_id, press.sender.display_name
            )
            if hospital is not None
            else None
        )
        refused = texts.only_reporter()
    if by is None:
        await services.messenger.acknowledge(press, refused)
        return
    try:
        ticket = await services.ticket_flow.correct_category(number, category, by)
    except TicketError:
        await services.messenger.acknowledge(press, refused)
        return
    await services.messenger.acknowledge(
        press, texts.category_set(ticket.number, texts.CATEGORY_LABELS.get(category, category))
    )
