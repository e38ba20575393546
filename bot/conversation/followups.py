"""「还是不行」: the help given did not work.

* A reply to a resolution (the resolution message invites exactly that) reopens the ticket,
  says so, and tells the engineers (the store audits the reopening).
* A reply to an answer escalates that answer's question (``escalate``).
* A bare 「还是不行」 with no reply refers to the person's latest answered question or ticket
  of the last ``follow_up_minutes``: one of them is acted on at once, several are offered as
  buttons (``again:<follow-up>:<x|t><id>``, encoded and decoded here only), none gets a
  question back — never a ticket for the words 「还是不行」 alone.

A nudge (「怎么还没人回」「进度怎么样了」) is a follow-up too: it goes under the card of the
ticket the person is waiting on (theirs, or one they joined with 「我也是」), marked 催办, and
they are told where it stands (``nudged``) — never a ticket of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from adapters.base import Button, ButtonPress, ChatRef, MessageRef, Reply
from bot import texts
from bot.conversation.actions import WhichFollowUp
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.conversation.said import Said, record
from bot.infra.clock import Clock, as_utc
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Hospital
from bot.registry.store import RegistryStore
from bot.routing import encode
from bot.tickets.flow import TicketFlow
from bot.tickets.incidents import IncidentReporter, open_incident
from bot.tickets.links import LinkStore, Side
from bot.tickets.models import OPEN_STATUSES, Status, Ticket
from bot.tickets.store import TicketNotFound, TicketStore

#: Decisions after which the person was shown an article (or asked about one).
ANSWERED = ("answer", "confirm", "clarify")
#: At most this many choices are offered (newest first).
MAX_CHOICES = 4


@dataclass(frozen=True)
class Earlier:
    """Something the person was helped with recently: an answered question or a ticket."""

    label: str
    exchange: Exchange | None = None
    ticket: Ticket | None = None

    @property
    def code(self) -> str:
        return (
            f"t{self.ticket.number}"
            if self.ticket
            else f"x{self.exchange.id if self.exchange else 0}"
        )


class FollowUps:
    """「还是不行」 acted on: over the conversation's stores, through the gateway ``db``; the
    ticket changes are the ticket ``flow``'s."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        exchanges: ExchangeStore,
        links: LinkStore,
        tickets: TicketStore,
        flow: TicketFlow,
        messenger: Messenger,
        clock: Clock,
    ) -> None:
        self.db = db
        self.registry = registry
        self.exchanges = exchanges
        self.links = links
        self.tickets = tickets
        self.flow = flow
        self.messenger = messenger
        self.clock = clock

    def recent(self, hospital: Hospital, said: Said, minutes: float) -> list[Earlier]:
        """The person's answered questions (in this chat) and tickets of the last ``minutes``,
        newest first, one entry per ticket (reads the database)."""
        since = as_utc(self.clock()) - dt.timedelta(minutes=minutes)
        with Session(self.db.engine) as s:
            exchanges = s.exec(
                select(Exchange)
                .where(
                    Exchange.platform == said.chat.platform,
                    Exchange.chat_id == said.chat.chat_id,
                    Exchange.reporter_user_id == said.user_id,
                    col(Exchange.decision).in_(ANSWERED),
                )
                .order_by(col(Exchange.id).desc())
                .limit(20)
            ).all()
            tickets = s.exec(
                select(Ticket)
                .where(
                    Ticket.hospital_id == hospital.id,
                    Ticket.reporter_platform == said.chat.platform,
                    Ticket.reporter_user_id == said.user_id,
                    col(Ticket.updated_at) >= since,
                )
                .order_by(col(Ticket.id).desc())
                .limit(20)
            ).all()
        # a ticket ranks by when it was opened: its updated_at also moves with the bot's own
        # work on it (the card posted, a clock step), which says nothing of what the person did
        found: list[tuple[dt.datetime, Earlier]] = [
            (as_utc(t.created_at), Earlier(f"工单 #{t.number} {t.question[:14]}", ticket=t))
            for t in tickets
        ]
        numbers = {t.number for t in tickets}
        for ex in exchanges:
            at = as_utc(ex.updated_at)
            if at < since or ex.ticket_number in numbers:
                continue
            if ex.ticket_number:  # escalated to a ticket of someone else's: leave it
                continue
            found.append((at, Earlier(ex.question[:20], exchange=ex)))
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [e for _, e in found]

    def waiting_on(self, hospital: Hospital, said: Said) -> Ticket | None:
        """The newest open ticket the person reported or joined (an outage's P1, a 「我也是」);
        reads the database."""
        platform, user = said.chat.platform, said.user_id
        joined = select(IncidentReporter.ticket_id).where(
            IncidentReporter.platform == platform, IncidentReporter.user_id == user
        )
        with Session(self.db.engine) as s:
            return s.exec(
                select(Ticket)
                .where(
                    Ticket.hospital_id == hospital.id,
                    col(Ticket.status).in_(OPEN_STATUSES),
                    or_(
                        and_(
                            col(Ticket.reporter_platform) == platform,
                            col(Ticket.reporter_user_id) == user,
                        ),
                        col(Ticket.id).in_(joined),
                    ),
                )
                .order_by(col(Ticket.id).desc())
            ).first()

    async def nudged(self, ticket: Ticket, hospital: Hospital, said: Said) -> None:
        """「怎么还没人回」 about ``ticket``: kept on it and relayed under its card, marked 催办
        (a replay relays it once), and the person told where it stands."""
        await self._relay_marked(ticket, hospital, said, "催办")
        engineer, minutes = await self._where_it_stands(ticket)
        if engineer is not None:
            told = texts.nudge_in_hand(ticket.number, engineer)
        else:
            told = texts.nudge_waiting(ticket.number, minutes)
        await self._tell(said, told)

    def open_outage(self, hospital: Hospital, hours: float) -> Ticket | None:
        """The hospital's newest P1 still open and opened in the last ``hours``; reads the
        database."""
        since = as_utc(self.clock()) - dt.timedelta(hours=hours)
        return open_incident(self.db.engine, hospital.id, since)

    async def outage_status(self, ticket: Ticket, said: Said) -> None:
        """「恢复了吗」 while the hospital's outage is open: told where its P1 stands. Not
        relayed to the engineers (who have the P1 and its reporters already): everyone in the
        group may ask, and none of them reported anything new."""
        engineer, minutes = await self._where_it_stands(ticket)
        await self._tell(said, texts.outage_status(ticket.number, engineer, minutes))

    async def restoration_told(self, ticket: Ticket, hospital: Hospital, said: Said) -> None:
        """「HIS恢复了」 while the hospital's P1 is open: kept on it and relayed under its card,
        marked 告知已恢复, for the engineer to confirm and resolve; the group is not answered."""
        await self._relay_marked(ticket, hospital, said, "告知已恢复")

    async def _relay_marked(
        self, ticket: Ticket, hospital: Hospital, said: Said, marker: str
    ) -> None:
        """Keep ``said`` on the ticket and relay it under its card, marked 「（marker）」 so the
        engineer sees why it came (a replay relays it once: keyed by the message)."""
        ref = MessageRef(said.chat.platform, said.chat.chat_id, said.message_id)
        body = f"（{marker}）{said.text}"
        await self.flow.relays.hospital_follow_up(
            ticket, hospital, said.author(hospital), said.name, body, ref
        )

    async def _where_it_stands(self, ticket: Ticket) -> tuple[str | None, int]:
        """Who accepted the ticket (their name), or None and how many minutes it has waited."""
        if ticket.accepted_by:
            engineer_id = ticket.accepted_by
            engineer = await self.db.read(lambda: self.registry.get_engineer(engineer_id))
            return (engineer.name if engineer else engineer_id), 0
        waited = as_utc(self.clock()) - as_utc(ticket.created_at)
        return None, max(1, int(waited.total_seconds() // 60))

    async def reopen(self, ticket: Ticket, hospital: Hospital, said: Said) -> None:
        """The hospital says a resolved ticket is not solved: reopened (audited), the
        engineers told on the card, the person told here."""
        await self.db.write(
            lambda: self.links.link(
                said.chat.platform, said.chat.chat_id, said.message_id, ticket.number, Side.HOSPITAL
            )
        )
        await self.flow.hospital_reopen(
            ticket, hospital, said.author(hospital), said.name, said.text
        )
        await self._tell(said, texts.reopened_by_hospital(ticket.number))

    async def point(self, ticket: Ticket, hospital: Hospital, said: Said) -> None:
        """The person's ticket is still open: their message joins it (linked to the ticket in
        the same transaction, so a replay adds it once) and they are told where it is."""
        ref = MessageRef(said.chat.platform, said.chat.chat_id, said.message_id)
        await self.flow.relays.hospital_follow_up(
            ticket, hospital, said.author(hospital), said.name, said.text, ref
        )
        await self._tell(said, texts.already_registered(ticket.number))

    async def escalate(self, hospital: Hospital, said: Said, prior: Exchange) -> None:
        """「还是不行」 about an answered question: recorded in its thread, the ticket opened."""
        follow = await self.db.write(
            lambda: record(self.exchanges, hospital, said, prior.thread_root, Outcome.UNSOLVED)
        )
        await self.flow.open(
            hospital, follow, urgent=False, reply_to=said.message_id, chat=said.chat
        )

    async def act_on(self, hospital: Hospital, said: Said, earlier: Earlier) -> None:
        if earlier.ticket is not None:
            number = earlier.ticket.number
            ticket = await self.db.read(lambda: self.tickets.get(number))
            if ticket.status in (Status.RESOLVED, Status.CLOSED):
                await self.reopen(ticket, hospital, said)
            else:
                await self.point(ticket, hospital, said)
        elif earlier.exchange is not None:
            await self.escalate(hospital, said, earlier.exchange)

    async def bare(self, hospital: Hospital, said: Said, minutes: float) -> None:
        """A 「还是不行」 that replies to nothing: find what it is about, or ask."""
        found = await self.db.read(lambda: self.recent(hospital, said, minutes))
        if not found:
            await self._tell(said, texts.follow_up_unknown())
            return
        if len(found) == 1:
            await self.act_on(hospital, said, found[0])
            return
        asked = await self.db.write(  # kept, so the press knows what was said and by whom
            lambda: record(self.exchanges, hospital, said, said.message_id, Outcome.QUIET)
        )
        rows = tuple(
            (Button(e.label[:40], encode(WhichFollowUp(asked.id or 0, e.code))),)
            for e in found[:MAX_CHOICES]
        )
        await self.messenger.send(
            Reply(
                chat=said.chat, text=texts.which_follow_up(), reply_to=said.message_id, buttons=rows
            )
        )

    async def on_button(self, press: ButtonPress, choice: WhichFollowUp) -> None:
        """A press of one of ``bare``'s choices (only the person who said it may choose)."""
        code = choice.earlier
        asked = await self.db.read(lambda: self.exchanges.get(choice.asked))
        hospital = (
            await self.db.read(lambda: self.registry.get_hospital(asked.hospital_id))
            if asked is not None
            else None
        )
        if asked is None or hospital is None or asked.outcome != Outcome.QUIET:
            await self.messenger.acknowledge(press, texts.BUTTON_EXPIRED)
            return
        if press.sender.user_id != asked.reporter_user_id:
            await self.messenger.acknowledge(press, texts.follow_up_not_yours())
            return
        earlier = await self.db.read(lambda: self._decode(hospital, code))
        if earlier is None:
            await self.messenger.acknowledge(press, texts.BUTTON_EXPIRED)
            return
        await self.messenger.acknowledge(press)
        await self.db.write(lambda: self.exchanges.set_outcome(asked.id or 0, Outcome.PENDING))
        said = Said(
            ChatRef(asked.platform, asked.chat_id, press.thread_id),
            asked.question_message_id,
            asked.reporter_user_id,
            asked.reporter_name,
            asked.question,
        )
        await self.act_on(hospital, said, earlier)

    def _decode(self, hospital: Hospital, code: str) -> Earlier | None:
        kind, value = code[:1], code[1:]
        if kind == "t":
            try:
                return Earlier("", ticket=self.tickets.get(value, hospital_id=hospital.id))
            except TicketNotFound:
                return None
        if kind == "x" and value.isdigit():
            exchange = self.exchanges.get(int(value))
            if exchange is not None and exchange.hospital_id == hospital.id:
                return Earlier("", exchange=exchange)
        return None

    async def _tell(self, said: Said, text: str) -> None:
        await self.messenger.send(Reply(chat=said.chat, text=text, reply_to=said.message_id))
