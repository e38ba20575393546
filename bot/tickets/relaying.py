"""What is said about a ticket in its chats, kept on the ticket: the ticket flow's relays.

The hospital's thread is told (replying to the question) and every message the bot sends
there is linked to the ticket, so a reply to it continues the ticket; an engineer's answer
and a hospital's follow-up are recorded before they are relayed, each with the person's
message linked in the same transaction, so a replay of the event finds it recorded and only
sends what was not sent. ``TicketFlow`` (``bot.tickets.flow``) holds one and is what callers
use; only the flow's modules call the ticket store's writing methods
(``tests/unit/test_flow_owns_writes.py``).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

from adapters.base import Button, ChatRef, MessageRef, Reply
from bot import texts
from bot.desk.posting import DeskCards
from bot.inbox.scope import handling_here
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Engineer, Hospital
from bot.registry.sessions import transaction
from bot.tickets import incidents
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import Direction, Ticket
from bot.tickets.opening import hospital_thread
from bot.tickets.store import Actor, TicketStore

if TYPE_CHECKING:
    from bot.tickets.services import BotSettings, DeskNotifier

log = logging.getLogger(__name__)


class Relays:
    """Messages between a ticket's hospital thread and the engineers' desks, each recorded
    on the ticket and linked to it."""

    def __init__(
        self,
        *,
        db: Database,
        tickets: TicketStore,
        links: LinkStore,
        messenger: Messenger,
        settings: BotSettings,
        desk: DeskNotifier,
        cards: DeskCards,
    ) -> None:
        """``desk``: says whether a desk chat has room; ``cards``: where a ticket's card is in
        each desk (a relayed message replies to it)."""
        self.db = db
        self.tickets = tickets
        self.links = links
        self.messenger = messenger
        self.settings = settings
        self.desk = desk
        self.cards = cards

    async def tell_hospital(
        self, ticket: Ticket, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> MessageRef | None:
        """Say something in the ticket's hospital thread (replying to the question) and link
        the message to the ticket, so a reply to it continues the ticket."""
        chat, question_id = hospital_thread(ticket)
        sent = await self.messenger.send(
            Reply(chat=chat, text=text, reply_to=question_id, buttons=buttons)
        )
        if sent is not None:
            await self.db.write(partial(self.link, sent, ticket.number, Side.HOSPITAL))
        return sent

    async def reply_to_hospital(
        self, number: str, engineer: Engineer, text: str, source: MessageRef | None = None
    ) -> MessageRef | None:
        """An engineer's message to the hospital, kept on the ticket, then relayed into its
        thread: recorded before it is sent, so a crash between the two loses nothing (the
        replay sends it). ``source``: the engineer's chat message, linked to the ticket in the
        same transaction (a replay that finds the link does not record it twice)."""
        ticket = await self.db.read(lambda: self.tickets.get(number))

        def record() -> int | None:
            with transaction(self.db.engine):
                if source is not None and not self.link_new(source, ticket.number, Side.DESK):
                    return None  # recorded by an earlier attempt of this event
                kept = self.tickets.append_message(
                    ticket.number, Direction.ENGINEER, engineer.id, text
                )
                return kept.id

        kept = await self.db.write(record)
        return await self.relay_reply(ticket, engineer.name, text, kept)

    async def relay_reply(
        self, ticket: Ticket, engineer_name: str, text: str, kept: int | None
    ) -> MessageRef | None:
        """Relay an engineer's message already kept on the ticket (row ``kept``; None: kept
        by an earlier attempt) into the hospital's thread, and note where it went."""
        sent = await self.tell_hospital(
            ticket, texts.relayed_from_engineer(engineer_name, ticket.number, text)
        )
        if sent is not None and kept is not None:
            await self.db.write(lambda: self.tickets.set_message_ref(kept, sent))
        return sent

    async def relay_to_desks(
        self, ticket: Ticket, hospital_name: str, author_name: str, body: str
    ) -> None:
        """Show a hospital's message on the ticket's card in every desk (as a reply to it).

        Not while a desk's budget has no room for an urgent message after it if nobody has
        claimed the ticket (a P1 too: its card or digest already shows it, and in a P1 storm
        the people repeating their question in its thread took the slots the next P1s waited
        for): the message is on the ticket (console, ``/ticket``), and the desk's budget stays
        free for urgent tickets. Once someone has claimed it, every follow-up is relayed.

        Within an inbox event each desk takes its own place in the event's keyed sends, sent
        or skipped: a retry of the event, when a desk's room has changed, then finds each
        desk's send under its key (a skipped desk is told then), never another desk's."""
        handling = handling_here()
        for desk in self.settings.desk_chats:
            key = handling.next_key() if handling is not None else None
            if ticket.status == "new" and not self.desk.has_room(desk):
                log.info(
                    "desk %s saturated: #%s's follow-up kept on it", desk.chat_id, ticket.number
                )
                continue
            card = await self.db.read(partial(self.cards.card_in, ticket.number, desk))
            sent = await self.messenger.send(
                Reply(
                    chat=desk,
                    text=texts.relayed_from_hospital(
                        hospital_name, author_name, ticket.number, body
                    ),
                    reply_to=card.message_id if card else None,
                ),
                key=key,
            )
            if sent is not None:
                await self.db.write(partial(self.link, sent, ticket.number, Side.DESK))

    async def hospital_follow_up(
        self,
        ticket: Ticket,
        hospital: Hospital,
        author: Actor,
        author_name: str,
        body: str,
        ref: MessageRef | None = None,
    ) -> None:
        """A hospital user adds to their ticket (in its chat thread or on the web): kept on
        the ticket and relayed to the engineers. ``body`` must already be redacted. ``ref``
        (their chat message) is linked to the ticket in the same transaction, so a replay of
        the message finds it recorded and only relays what was not relayed yet."""

        def record() -> None:
            with transaction(self.db.engine):
                if ref is not None and not self.link_new(ref, ticket.number, Side.HOSPITAL):
                    return  # recorded by an earlier attempt of this event
                self.tickets.append_message(ticket.number, Direction.HOSPITAL, author, body, ref)

        await self.db.write(record)
        await self.relay_to_desks(ticket, hospital.name, author_name, body)

    async def tell_reporters(self, ticket: Ticket, text: str) -> None:
        """Say ``text`` to everyone who joined the incident: one message per chat, replying
        to the latest report there and mentioning each reporter (the ticket's own reporter is
        told in its thread)."""
        rows = await self.db.read(lambda: incidents.reporters(self.db.engine, ticket.id or 0))
        for group in incidents.by_chat(rows):
            last = group[-1]
            await self.messenger.send(
                Reply(
                    chat=ChatRef(last.platform, last.chat_id, last.thread_id),
                    text=text,
                    reply_to=last.message_id,
                    mention_user_ids=tuple(dict.fromkeys(r.user_id for r in group)),
                )
            )

    def link(self, ref: MessageRef, number: str, side: Side) -> None:
        """Link a message to the ticket, so a reply to it continues the ticket."""
        self.links.link(ref.platform, ref.chat_id, ref.message_id, number, side)

    def link_new(self, ref: MessageRef, number: str, side: Side) -> bool:
        """Link a person's message to the ticket unless an earlier attempt of the same event
        did (then False: it was recorded already)."""
        if self.links.ticket_for(ref.platform, ref.chat_id, ref.message_id) is not None:
            return False
        self.link(ref, number, side)
        return True
