"""Posting a ticket's card to the engineers' desk chats and keeping it current.

What goes when is the card outbox's (``bot.desk.queue``); the text and buttons are
``bot.desk.cards``' and ``bot.desk.queue.digest``'s. Here: the keyed send and its record, and
re-rendering a card (or the digest that listed the ticket) after the ticket changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.base import ChatRef, MessageRef, Reply
from bot.desk.cards import card_reply
from bot.desk.queue.digest import digest_reply
from bot.desk.queue.store import DigestStore, card_key
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.store import RegistryStore
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import Ticket
from bot.tickets.store import TicketStore

if TYPE_CHECKING:
    from bot.sla.watch import SlaWatch
    from bot.tickets.services import BotSettings, DeskNotifier


class DeskCards:
    """The tickets' cards in the desk chats (every method that renders reads the database
    through ``db``). ``sla``: the duty roster's routing decides whom a card mentions (None:
    the hospital's dedicated engineer and deputy)."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        tickets: TicketStore,
        links: LinkStore,
        messenger: Messenger,
        settings: BotSettings,
        desk: DeskNotifier,
        sla: SlaWatch | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.tickets = tickets
        self.links = links
        self.messenger = messenger
        self.settings = settings
        self.desk = desk
        self.sla = sla

    async def post(self, ticket: Ticket, desk: ChatRef) -> bool:
        """Post the ticket's card to one desk chat and record it (the outbox's second half).

        The send is keyed ``card:<ticket>:<desk>`` in the outbox: a card posted but not
        recorded (a crash or the database went away right after the send) is recorded from the
        outbox's row on the next pass instead of being posted again; one whose send timed out
        is ``unknown`` and not re-posted. What goes when is ``bot.desk.queue``'s."""
        reply = await self.db.read(lambda: card_reply(self, ticket, desk))
        key = card_key(ticket.number, desk.platform, desk.chat_id)
        sent = await self.messenger.send(reply, key=key, retry_later=True)
        if sent is None:
            return False

        def record() -> None:
            self.tickets.mark_card_posted(
                ticket.number, sent.platform, sent.chat_id, sent.message_id
            )
            self.links.link(sent.platform, sent.chat_id, sent.message_id, ticket.number, Side.DESK)

        await self.db.write(record)
        return True

    def card_in(self, number: str, desk: ChatRef) -> MessageRef | None:
        """The ticket's card in one desk chat, if it was posted there (reads the database)."""
        for card in self.tickets.cards_for(number):
            if card.platform == desk.platform and card.chat_id == desk.chat_id:
                return MessageRef(card.platform, card.chat_id, card.message_id)
        return None

    async def refresh(self, number: str, desks: tuple[ChatRef, ...] | None = None) -> None:
        """Re-render the ticket's card in every desk (status, engineer, buttons), or the
        digest that listed it there. An edit spends the desk chat's rate like a message: a
        desk without room for an urgent message after it gets the edit later, from the card
        outbox."""
        chats = self.settings.desk_chats if desks is None else desks
        later = [d for d in chats if not self.desk.has_room(d)]
        for desk in later:
            self.desk.refresh_later(number, desk)
        held = {(d.platform, d.chat_id) for d in later}
        only = None if desks is None else {(d.platform, d.chat_id) for d in desks}

        def here(desk: ChatRef) -> bool:
            key = (desk.platform, desk.chat_id)
            return key not in held and (only is None or key in only)

        def cards() -> list[tuple[MessageRef, Reply]]:
            ticket = self.tickets.get(number)
            out = []
            for desk in filter(here, chats):
                card = self.card_in(number, desk)
                if card is not None:
                    out.append((card, card_reply(self, ticket, desk)))
            digests = DigestStore(self.db.engine)
            for digest in digests.listing(ticket.id or 0):
                desk = ChatRef(digest.platform, digest.chat_id)
                if not here(desk):
                    continue
                listed = digests.tickets_of(digest.id or 0)
                buttons = self.settings.desk.digest_buttons
                reply = digest_reply(self, listed, desk, buttons, urgent=digest.urgent)
                out.append(
                    (MessageRef(desk.platform, desk.chat_id, digest.message_id or ""), reply)
                )
            return out

        for card, reply in await self.db.read(cards):
            await self.messenger.edit(card, reply)
