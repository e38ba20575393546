"""The pipeline's hooks for behaving well in a busy group (see the package docstring).

``Group`` holds the in-memory windows (pieces, engineers' presence) and answers the
pipeline's questions one hook at a time, so ``bot/conversation/pipeline.py`` keeps its one readable path.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from sqlmodel import Session

from adapters.base import ButtonPress, ChatRef, IncomingMessage, Reply
from bot import texts
from bot.conversation.actions import NotSameProblem
from bot.conversation.duplicates import same_open_ticket
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.conversation.followups import FollowUps
from bot.conversation.incident_flow import join_open_incident
from bot.conversation.nudge_model import NudgeModel
from bot.conversation.phrases import (
    asks_if_back,
    is_bare_follow_up,
    is_greeting,
    is_me_too,
    is_nudge,
    is_thanks,
    tells_a_symptom,
)
from bot.conversation.pieces import Pieces, Question, describe
from bot.conversation.presence import Presence
from bot.conversation.said import Said, record
from bot.conversation.same_problem import LastSpeakers, referred_ticket
from bot.conversation.settings import GroupSettings
from bot.conversation.skips import SkipReason, SkipStore
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.models import Hospital
from bot.registry.store import RegistryStore
from bot.tickets.flow import TicketFlow
from bot.tickets.links import LinkStore
from bot.tickets.models import Ticket
from bot.tickets.opening import IncidentReport, thread_root
from bot.tickets.store import Actor, TicketStore
from intents.rules import tells_a_restoration


class Group:
    """The busy group's windows and hooks, over the conversation's stores through the
    gateway ``db``; 「还是不行」 is ``followups``', ticket changes the ticket ``flow``'s."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        exchanges: ExchangeStore,
        tickets: TicketStore,
        links: LinkStore,
        flow: TicketFlow,
        followups: FollowUps,
        messenger: Messenger,
        clock: Clock,
        settings: GroupSettings,
        nudge_model: NudgeModel | None = None,
    ) -> None:
        """``nudge_model``: the learned second opinion on 「怎么还没人回」 (None: the rules
        alone)."""
        self.db = db
        self.registry = registry
        self.exchanges = exchanges
        self.tickets = tickets
        self.links = links
        self.flow = flow
        self.followups = followups
        self.messenger = messenger
        self.clock = clock
        self.settings = settings
        self.nudge_model = nudge_model
        self.pieces = Pieces(settings.gather_seconds, clock)
        self.presence = Presence(settings.engineer_quiet_minutes, clock)
        self.skips = SkipStore(db.engine, clock)
        self.speakers = LastSpeakers(clock)

    # ---- engineers in the group -------------------------------------------------------------

    async def engineer_posts(self, msg: IncomingMessage) -> bool:
        """An engineer's own message in a hospital chat: remembered (they are handling that
        thread and person now) and never answered by the bot."""
        engineer = await self.db.read(
            lambda: self.registry.engineer_for_user(msg.chat.platform, msg.sender.user_id)
        )
        if engineer is None:
            return False
        root = await self.db.read(lambda: thread_root(msg, self.exchanges))
        self.presence.engineer_spoke(
            msg.chat.platform, msg.chat.chat_id, engineer.id, root, msg.reply_to_user_id
        )
        return True

    async def engineer_handling(self, msg: IncomingMessage, hospital: Hospital) -> bool:
        """An engineer is talking in this thread or to this person: stay out, and record it."""
        if self.settings.engineer_quiet_minutes <= 0:
            return False
        root = await self.db.read(lambda: thread_root(msg, self.exchanges))
        engineer_id = self.presence.talking(
            msg.chat.platform, msg.chat.chat_id, root, msg.sender.user_id
        )
        if engineer_id is None:
            return False
        await self.db.write(
            partial(
                self.skips.record,
                hospital_id=hospital.id,
                platform=msg.chat.platform,
                chat_id=msg.chat.chat_id,
                message_id=msg.message_id,
                reason=SkipReason.ENGINEER_TALKING,
                engineer_id=engineer_id,
            )
        )
        return True

    # ---- 「还是不行」 ---------------------------------------------------------------------------

    async def bare_follow_up(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        """A 「还是不行」 replying to nothing: linked to what it is about, or asked which."""
        if msg.reply_to_message_id or msg.attachments or not is_bare_follow_up(text):
            return False
        await self.followups.bare(hospital, Said.of(msg, text), self.settings.follow_up_minutes)
        return True

    async def nudge(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        """「怎么还没人回」「进度怎么样了」: goes under the card of the ticket the person waits
        on, and they are told where it stands; 「恢复了吗」 or a nudge from someone else while
        the hospital's outage is open is told where its P1 stands. With no open ticket it is
        never one: 「人呢」 waits for the question like any greeting, a nudge to the bot is asked
        to describe the problem, anything else is left alone."""
        if msg.reply_to_message_id or msg.attachments:
            return False  # a reply to the ticket's messages is its thread's (relayed)
        nudged = self._says_nudge(text)
        if not nudged and not asks_if_back(text):
            return False
        if msg.mentions_others and not msg.mentions_bot:
            return False  # 「@王姐 进度怎么样了」: talk between people
        said = Said.of(msg, text)
        ticket = await self.db.read(lambda: self.followups.waiting_on(hospital, said))
        if ticket is not None:
            await self.followups.nudged(ticket, hospital, said)
            return True
        # 「HIS恢复了吗」 from anyone while the hospital's outage is open: where it stands
        outage = await self._open_outage(hospital)
        if outage is not None:
            await self.followups.outage_status(outage, said)
            return True
        if not nudged:
            return False  # asked whether it is back, and nothing is down: decided as usual
        if is_greeting(text):
            return False
        if msg.mentions_bot:
            await self.messenger.send(
                Reply(chat=msg.chat, text=texts.nudge_unknown(), reply_to=msg.message_id)
            )
        return True

    async def restoration_told(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        """「HIS恢复了」 (an exact notice rule: nothing still wrong or asked) while the
        hospital's P1 is open: the engineer on call is told under its card, so they can confirm
        and resolve it; nothing is said in the group."""
        if msg.mentions_others or not tells_a_restoration(text):
            return False
        outage = await self._open_outage(hospital)
        if outage is None:
            return False
        await self.followups.restoration_told(outage, hospital, Said.of(msg, text))
        return True

    async def _open_outage(self, hospital: Hospital) -> Ticket | None:
        """The hospital's P1 opened within ``outage_status_hours`` and still open (0: off)."""
        hours = self.settings.outage_status_hours
        if hours <= 0:
            return None
        return await self.db.read(lambda: self.followups.open_outage(hospital, hours))

    def _says_nudge(self, text: str) -> bool:
        """The rules, or the model when it is sure and the message tells no symptom (a report
        by someone with an open ticket must still be decided: 「门诊急诊都无法登录，麻烦尽快处理」)."""
        if is_nudge(text):
            return True
        model = self.nudge_model
        return model is not None and model.says_nudge(text) and not tells_a_symptom(text)

    # ---- pieces -----------------------------------------------------------------------------

    async def piece_of_earlier(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        """A screenshot right after the person's question joins that question: added to its
        ticket, or recorded in its thread (a later ticket carries it)."""
        exchange_id = self.pieces.follows_question(msg, text)
        if exchange_id is None:
            return False
        prior = await self.db.read(lambda: self.exchanges.get(exchange_id))
        if prior is None:
            return False
        body = describe(msg.attachments)
        if prior.ticket_number:
            ticket = await self.db.read(lambda: self.tickets.get(prior.ticket_number or ""))
            author = Actor.hospital_user(
                hospital.id, msg.chat.platform, msg.sender.user_id, msg.sender.display_name
            )
            await self.flow.relays.hospital_follow_up(
                ticket, hospital, author, msg.sender.display_name, body, msg.ref
            )
            return True
        said = Said.of(msg, body)
        await self.db.write(
            lambda: record(self.exchanges, hospital, said, prior.thread_root, Outcome.QUIET)
        )
        return True

    async def gather(self, msg: IncomingMessage, text: str) -> Question | None:
        """The whole question this message completes, or None while it waits for the rest
        (typing shown; a greeting addressed to the bot gets 「请直接描述问题」 once)."""
        if msg.mentions_others or msg.reply_to_person:  # people talking: nothing to wait for
            return Question((msg,), text, text)
        question = self.pieces.gather(msg, text)
        if question is not None:
            return question
        if msg.mentions_bot and is_greeting(text) and self.pieces.may_nudge(msg):
            await self.messenger.send(
                Reply(chat=msg.chat, text=texts.describe_directly(), reply_to=msg.message_id)
            )
        else:
            await self.messenger.typing(msg.chat)
        return None

    def decided(self, msg: IncomingMessage, exchange: Exchange | None) -> None:
        if exchange is not None and exchange.id is not None:
            self.pieces.decided(msg, exchange.id)

    def small_talk_reply(self, msg: IncomingMessage, text: str) -> str | None:
        """What to say to chit-chat addressed to the bot: nothing to thanks, 「请直接描述问题」
        to a greeting (once per window), else the short hint."""
        if is_thanks(text):
            return None
        if is_greeting(text):
            return texts.describe_directly() if self.pieces.may_nudge(msg) else None
        return texts.mention_ack()

    # ---- no duplicate tickets ---------------------------------------------------------------

    async def repeated(self, msg: IncomingMessage, hospital: Hospital, question: Question) -> bool:
        """The person asks again what their open ticket is about: pointed to it, and the
        message is added to it."""

        def find() -> Ticket | None:
            with Session(self.db.engine) as session:
                return same_open_ticket(
                    session,
                    hospital.id,
                    msg.chat.platform,
                    msg.sender.user_id,
                    question.text,
                    self.settings.same_question_overlap,
                )

        ticket = await self.db.read(find)
        if ticket is None:
            return False
        await self.followups.point(ticket, hospital, Said.of(msg, question.record))
        return True

    async def joins_incident(
        self, msg: IncomingMessage, hospital: Hospital, question: Question
    ) -> bool:
        """An outage report while the hospital's P1 for it is open: one incident."""
        ticket = await join_open_incident(
            self.flow,
            self.clock,
            msg,
            hospital,
            question.record,
            self.settings.incident_minutes,
        )
        return ticket is not None

    # ---- 「我们这边也是」 --------------------------------------------------------------------

    def heard(self, msg: IncomingMessage) -> None:
        """A person's message reached the group's steps (what a 「我也是」 after it refers to)."""
        self.speakers.heard(msg)

    async def same_problem(
        self, msg: IncomingMessage, hospital: Hospital, text: str
    ) -> Ticket | None:
        """「同问」「我们这边也是」 right after someone else's question: joins its ticket (see
        ``bot.conversation.same_problem``); None when it refers to no open ticket."""
        minutes = self.settings.same_problem_minutes
        if minutes <= 0 or not is_me_too(text) or (msg.mentions_others and not msg.mentions_bot):
            return None
        now = self.clock()
        since = now - dt.timedelta(minutes=minutes)
        before = self.speakers.before(msg)

        def find() -> str | None:
            with Session(self.db.engine) as session:
                return referred_ticket(session, self.links, msg, before, since)

        number = await self.db.read(find)
        if number is None:
            return None
        return await self._join(IncidentReport(msg, hospital, text, since, now), number)

    async def same_problem_reply(
        self, msg: IncomingMessage, hospital: Hospital, text: str, ticket: Ticket
    ) -> Ticket | None:
        """「我也是」 replying to one of an open ticket's messages: joins it, whatever its age."""
        if self.settings.same_problem_minutes <= 0 or not is_me_too(text):
            return None
        report = IncidentReport(msg, hospital, text, ticket.created_at, self.clock())
        return await self._join(report, ticket.number)

    async def on_not_same(self, press: ButtonPress, action: NotSameProblem) -> None:
        """「不是同一问题」 under a join's notice: the person who joined leaves the ticket and
        the notice says so (anyone else is told it is not theirs to press)."""
        chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
        hospital = await self.db.read(
            lambda: self.registry.hospital_for_chat(chat.platform, chat.chat_id)
        )
        left = None
        if hospital is not None:
            left = await self.flow.joins.leave_same_problem(
                action.number, hospital, chat.platform, press.sender.user_id
            )
        if left is None:
            await self.messenger.acknowledge(press, texts.not_same_not_yours())
            return
        await self.messenger.acknowledge(press)
        await self.messenger.edit(
            press.message, Reply(chat=chat, text=texts.left_same_problem(left.number))
        )

    async def _join(self, report: IncidentReport, number: str) -> Ticket | None:
        raise_at = self.settings.same_problem_p1_reporters
        return await self.flow.joins.join_same_problem(report, number, raise_at=raise_at)
