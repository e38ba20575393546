"""Correcting a ticket's category with one tap, on the desk card or on the hospital's notice.

The bot's category is a guess (``bot.tickets.category_guess``); the likely others are offered
as buttons (``category_choices``). An engineer may
correct any ticket from the desk; the reporter their own ticket from the hospital chat. Each
change is the store's audited ``category_changed`` event, written by the ticket flow, which
re-renders the desk cards.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import ButtonPress, ChatRef
from bot import texts
from bot.conversation.actions import ChangeCategory
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.store import RegistryStore
from bot.tickets.flow import TicketFlow
from bot.tickets.store import Actor, By, TicketError


class CategoryTaps:
    """The category buttons: ``is_desk`` tells an engineers' desk chat from a hospital's."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        flow: TicketFlow,
        messenger: Messenger,
        is_desk: Callable[[ChatRef], bool],
    ) -> None:
        self.db = db
        self.registry = registry
        self.flow = flow
        self.messenger = messenger
        self.is_desk = is_desk

    async def on_button(self, press: ButtonPress, tap: ChangeCategory) -> None:
        """A category button: the engineer (desk) or the reporter (hospital chat) corrects it."""
        number, category, registry = tap.number, tap.category, self.registry
        chat = ChatRef(press.message.platform, press.message.chat_id)
        by: By | None
        if self.is_desk(chat):
            engineer = await self.db.read(
                lambda: registry.engineer_for_user(chat.platform, press.sender.user_id)
            )
            by = engineer.id if engineer is not None else None
            refused = texts.only_engineers()
        else:
            hospital = await self.db.read(
                lambda: registry.hospital_for_chat(chat.platform, chat.chat_id)
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
            await self.messenger.acknowledge(press, refused)
            return
        try:
            ticket = await self.flow.correct_category(number, category, by)
        except TicketError:
            await self.messenger.acknowledge(press, refused)
            return
        label = texts.CATEGORY_LABELS.get(category, category)
        await self.messenger.acknowledge(press, texts.category_set(ticket.number, label))
