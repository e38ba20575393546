"""A hospital's message relayed to the desks is keyed per desk within its event, so a retry
of the event in which a desk's room changed sends nothing twice (the real outbox, SQLite and
PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import cast

from sqlalchemy import Engine

from adapters.base import Adapter, ChatRef, MessageRef, Reply
from bot.desk.posting import DeskCards
from bot.inbox import OutboxStore
from bot.inbox.scope import Handling, current
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.tickets.links import LinkStore
from bot.tickets.models import Ticket
from bot.tickets.relaying import Relays
from bot.tickets.services import BotSettings
from bot.tickets.store import TicketStore

FULL = ChatRef("telegram", "-100999")  # saturated at the first attempt only
OTHER = ChatRef("slack", "C0DESK")


class Recording:
    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sent: list[str] = []

    async def send(self, reply: Reply) -> MessageRef:
        self.sent.append(reply.text)
        return MessageRef(self.platform, reply.chat.chat_id, str(len(self.sent)))


class Desk:
    def __init__(self) -> None:
        self.full = True

    def notify(self) -> None: ...

    def has_room(self, desk: ChatRef) -> bool:
        return not (self.full and desk == FULL)

    def refresh_later(self, number: str, desk: ChatRef) -> None: ...


class NoCards:
    def card_in(self, number: str, desk: ChatRef) -> MessageRef | None:
        return None


async def test_a_retried_follow_up_reaches_each_desk_once(engine: Engine, db: Database) -> None:
    telegram, slack = Recording("telegram"), Recording("slack")
    messenger = Messenger(db, OutboxStore(engine))
    for adapter in (telegram, slack):
        messenger.register(cast(Adapter, adapter))
    desk = Desk()
    relays = Relays(
        db=db,
        tickets=TicketStore(engine),
        links=LinkStore(engine),
        messenger=messenger,
        settings=BotSettings(desk_chats=(FULL, OTHER)),
        desk=desk,
        cards=cast(DeskCards, NoCards()),
    )
    now = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    ticket = Ticket(
        number="2026-000001",
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id="7",
        source_platform="telegram",
        source_chat_id="-100123",
        source_message_id="5",
        category="consult",
        question="医保结算失败",
        created_at=now,
        updated_at=now,
    )
    task = asyncio.current_task()
    for attempt in (1, 2):  # the event's first handling, then its retry (room came back)
        token = current.set(Handling("telegram:m:-100123:9", attempt > 1, task))
        try:
            await relays.relay_to_desks(ticket, "一院", "护士小张", "还是报错")
        finally:
            current.reset(token)
        desk.full = False
    assert len(slack.sent) == 1  # not again at the retry
    assert len(telegram.sent) == 1  # the desk that had no room hears it at the retry
