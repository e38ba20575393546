"""The one path every chat message takes, as plain named steps.

    drop own/bot messages → cut and redact (``bot.privacy.gate``: text, sender name, file
    names) → engineers' desk? → hospital for the chat (unknown: say so once) → hospital
    commands → part of a ticket's thread? (relay; 「还是不行」 under a resolution reopens;
    「我也是」 joins) → an engineer's own message? (remembered, not answered) → an engineer
    already talking here? (stay out) → "still not solved" follow-up? (escalate, or find what
    it is about) → 「怎么还没人回」? (under the card of the ticket the person waits on; 「恢复了
    吗」 while an outage is open: where its P1 stands) → a
    piece of a question? (wait for the rest, or join the question before) → decide → a
    restoration told while the hospital's P1 is open? (under its card) → left
    alone or escalated, but 「我们这边也是」 right after someone else's question? (join its
    ticket) → the person's open ticket again? (point to it) → an outage already reported?
    (join its P1) → act → reply

The group-behaviour hooks live in ``bot.conversation`` (``Group``); the answers and the
buttons under them in ``bot.conversation.answers``; every ticket change is ``TicketFlow``'s.

Buttons and chat events (migration, removal) join here too. Every step is a function over one
message; nothing here knows which platform the message came from.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.base import (
    Button,
    ButtonPress,
    ChatEvent,
    ChatRef,
    IncomingMessage,
    Reply,
)
from bot import texts
from bot.cluster.warned_chats import WarnedChats
from bot.conversation.answers import Answers
from bot.conversation.exchange_actions import (
    EXCHANGE_ACTIONS,
    Escalate,
)
from bot.conversation.exchanges import Exchange, ExchangeStore
from bot.conversation.followups import FollowUps
from bot.conversation.group import Group
from bot.conversation.hospital_side import HospitalSide
from bot.conversation.said import Said
from bot.desk.commands import Desk
from bot.inbox.scope import replaying
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.privacy.gate import RedactionGate
from bot.registry.models import Hospital
from bot.registry.store import RegistryStore
from bot.routing import Router, encode, parse_command
from bot.sla.actions import AckPage
from bot.tickets.attachments import AttachmentStore
from bot.tickets.flow import TicketFlow
from bot.tickets.links import LinkStore
from bot.tickets.models import Ticket
from bot.tickets.opening import thread_root
from bot.tickets.services import BotSettings
from bot.tickets.store import Actor, TicketNotFound, TicketStore
from intents.addressing import Addressing
from intents.decide import AnswerEngine, Decision, DecisionKind
from intents.message_class import MessageClass

if TYPE_CHECKING:
    from bot.sla.watch import SlaWatch

log = logging.getLogger(__name__)


def message_text(msg: IncomingMessage) -> str:
    """What the user said: the text or a screenshot's caption (adapters put either in text)."""
    return msg.text.strip()


class Pipeline:
    """Every chat message, button and chat event of the bot. Its collaborators are given by
    the composition root (``bot.wiring``): the stores it reads through the gateway ``db``,
    the answer ``engine`` and the ``answers`` it leads to, the ticket ``flow`` for every ticket change, and the parts of the
    conversation it hands steps to (``desk``, ``group``, ``followups``, ``hospital_side``)."""

    def __init__(
        self,
        *,
        router: Router,
        db: Database,
        registry: RegistryStore,
        exchanges: ExchangeStore,
        links: LinkStore,
        tickets: TicketStore,
        engine: AnswerEngine,
        answers: Answers,
        flow: TicketFlow,
        messenger: Messenger,
        warned_chats: WarnedChats,
        settings: BotSettings,
        gate: RedactionGate,
        is_desk: Callable[[ChatRef], bool],
        sla: SlaWatch | None,
        desk: Desk,
        group: Group,
        followups: FollowUps,
        hospital_side: HospitalSide,
    ) -> None:
        """``engine``: decides what a question is; ``answers``: says it and handles the
        buttons under it; ``gate``: cuts and masks every incoming message; ``is_desk``:
        whether a chat is an engineers' desk; ``sla``: None when ``[sla]`` is off."""
        self.router = router
        self.db = db
        self.registry = registry
        self.exchanges = exchanges
        self.links = links
        self.tickets = tickets
        self.engine = engine
        self.answers = answers
        self.flow = flow
        self.messenger = messenger
        self.warned_chats = warned_chats
        self.settings = settings
        self.gate = gate
        self.is_desk = is_desk
        self.sla = sla
        self.desk = desk
        self.group = group
        self.followups = followups
        self.hospital_side = hospital_side

    def register(self, router: Router) -> None:
        """The conversation's own routes: the buttons under answers and replies in a ticket's
        thread (the first message hook). ``acknowledge_page`` is routed by app.py when the
        SLA watch runs."""
        for cls in EXCHANGE_ACTIONS:
            router.action(cls, self.answers.on_button)
        router.hook("ticket-thread", self._relay_to_ticket)

    # ---- messages ---------------------------------------------------------------------------

    async def on_message(self, msg: IncomingMessage) -> None:
        if msg.from_self or msg.sender.is_bot:
            return
        msg = self.gate.incoming(msg)  # cut, then masked: text, sender, file names
        if self.is_desk(msg.chat):
            await self.desk.on_message(msg)
            return
        hospital = await self.db.read(
            lambda: self.registry.hospital_for_chat(msg.chat.platform, msg.chat.chat_id)
        )
        if hospital is None:
            await self._unregistered(msg)
            return
        text = message_text(msg)
        if not text and not msg.attachments:
            return
        command = parse_command(text)
        if command is not None:
            await self._hospital_command(msg, hospital, *command)
            return
        if await self.router.hooks(msg, hospital, text):  # a ticket's thread, a notice's reply
            return
        if msg.edited and await self._already_handled(msg):
            return  # an edit of a question we already answered: do not answer twice
        if await self.group.engineer_posts(msg) or await self.group.engineer_handling(
            msg, hospital
        ):
            return
        self.group.heard(msg)
        if msg.reply_to_message_id and texts.says_unsolved(text):
            replied_to = msg.reply_to_message_id
            prior = await self.db.read(
                lambda: self.exchanges.for_message(msg.chat.platform, msg.chat.chat_id, replied_to)
            )
            if prior is not None:
                await self.followups.escalate(hospital, Said.of(msg, text), prior)
                return
        if await self.group.bare_follow_up(msg, hospital, text):
            return
        if await self.group.nudge(msg, hospital, text):  # 「怎么还没人回」: under its card
            return
        if await self.group.piece_of_earlier(msg, hospital, text):
            return
        question = await self.group.gather(msg, text)
        if question is None:
            return  # waiting for the rest of the question
        addressing = Addressing(msg.mentions_bot, msg.mentions_others, msg.reply_to_person)
        decision = await asyncio.to_thread(self.engine.decide, question.text, addressing)
        if (
            decision.kind is DecisionKind.SMALLTALK
            and decision.message_class != MessageClass.PEOPLE.value
            and await self.group.restoration_told(msg, hospital, question.text)
        ):
            return  # 「HIS恢复了」 while its P1 is open: told under the P1's card
        if decision.kind in (DecisionKind.SMALLTALK, DecisionKind.ESCALATE):
            # 「我们这边也是」 right after someone else's question: their ticket, not talk between
            # people nor a ticket of its own (an outage told this way was paged above)
            joined = await self.group.same_problem(msg, hospital, question.text)
            if joined is not None:
                await self._keep_attachments(msg, joined)
                return
        # a replay of the message that opened a ticket repeats nothing and joins nothing: it
        # finishes what the crash interrupted (act() finds its exchange and ticket)
        own = replaying() and await self._already_linked(msg)
        if (
            not own
            and decision.kind is not DecisionKind.SMALLTALK
            and await self.group.repeated(msg, hospital, question)
        ):
            return
        if (
            not own
            and decision.kind is DecisionKind.URGENT
            and await self.group.joins_incident(msg, hospital, question)
        ):
            return
        exchange = await self.act(msg, hospital, question.record, decision)
        self.group.decided(msg, exchange)

    async def _already_linked(self, msg: IncomingMessage) -> bool:
        """The message already belongs to a ticket (it opened one, or was added to one)."""
        link = await self.db.read(
            lambda: self.links.ticket_for(msg.chat.platform, msg.chat.chat_id, msg.message_id)
        )
        return link is not None

    async def _already_handled(self, msg: IncomingMessage) -> bool:
        found = await self.db.read(
            lambda: self.exchanges.for_message(msg.chat.platform, msg.chat.chat_id, msg.message_id)
        )
        return found is not None

    async def _unregistered(self, msg: IncomingMessage) -> None:
        """Say once per chat (whichever worker sees it first) that the group is not
        registered; store nothing of the message."""
        key = (msg.chat.platform, msg.chat.chat_id)
        if not await self.db.write(lambda: self.warned_chats.first_warning(*key)):
            return
        log.info("message from unregistered chat %s:%s", *key)
        await self.messenger.send(Reply(chat=msg.chat, text=texts.unregistered_group()))

    async def _relay_to_ticket(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        """A message in a ticket's thread goes to the ticket and to the engineers' card."""
        replied_to = msg.reply_to_message_id
        if not replied_to:
            return False
        ticket = await self.db.read(lambda: self._thread_ticket(msg, replied_to, hospital.id))
        if ticket is None:
            return False
        if not ticket.is_open and texts.says_unsolved(text):
            await self.followups.reopen(ticket, hospital, Said.of(msg, text))
            return True
        if ticket.is_open:  # 「我也是」 under someone else's ticket: one more reporter
            joined = await self.group.same_problem_reply(msg, hospital, text, ticket)
            if joined is not None:
                await self._keep_attachments(msg, joined)
                return True
        author = Actor.hospital_user(
            hospital.id, msg.chat.platform, msg.sender.user_id, msg.sender.display_name
        )
        body = text or "（附件）"
        if msg.attachments:
            body += "\n" + "\n".join(
                f"[{a.kind}: {a.file_name or a.file_id}]" for a in msg.attachments
            )
        await self.flow.relays.hospital_follow_up(
            ticket, hospital, author, msg.sender.display_name, body, msg.ref
        )
        await self._keep_attachments(msg, ticket)
        if self.sla is not None:  # the hospital answered: clocks paused for it go on
            await self.sla.resume(ticket.number, "医院回复")
        return True

    def _thread_ticket(
        self, msg: IncomingMessage, replied_to: str, hospital_id: str
    ) -> Ticket | None:
        """The hospital's ticket whose thread the replied-to message belongs to."""
        link = self.links.ticket_for(msg.chat.platform, msg.chat.chat_id, replied_to)
        if link is None:
            return None
        try:
            return self.tickets.get(link.ticket_number, hospital_id=hospital_id)
        except TicketNotFound:
            return None

    # ---- acting on a decision ---------------------------------------------------------------

    async def act(
        self, msg: IncomingMessage, hospital: Hospital, text: str, decision: Decision
    ) -> Exchange | None:
        """Do what the decision says; returns the exchange recorded (None for small talk)."""
        kind = decision.kind
        if kind is DecisionKind.SMALLTALK:
            said = self.group.small_talk_reply(msg, text)
            if msg.mentions_bot and self.settings.ack_mentions and said:
                await self.messenger.send(Reply(chat=msg.chat, text=said, reply_to=msg.message_id))
            return None
        articles = shown_articles(decision)
        exchange = await self._record_once(
            msg,
            lambda: self.exchanges.record(
                hospital_id=hospital.id,
                platform=msg.chat.platform,
                chat_id=msg.chat.chat_id,
                thread_root=thread_root(msg, self.exchanges),
                question_message_id=msg.message_id,
                reporter_user_id=msg.sender.user_id,
                reporter_name=msg.sender.display_name,
                question=text,
                decision=kind.value,
                article_ids=articles,
                confidence=decision.confidence,
            ),
        )
        if kind is DecisionKind.ANSWER and decision.article is not None:
            await self.answers.answer(msg.chat, exchange, decision.article.id, msg.message_id)
        elif kind is DecisionKind.CONFIRM and decision.article is not None:
            await self.answers.confirm(msg, exchange, decision.article.id)
        elif kind is DecisionKind.CLARIFY:
            await self.answers.clarify(msg, exchange, decision)
        elif kind is DecisionKind.URGENT:
            ticket = await self.flow.open(
                hospital, exchange, urgent=True, reply_to=msg.message_id, chat=msg.chat
            )
            await self._keep_attachments(msg, ticket)
        elif self.settings.escalation == "offer":
            sent = await self.messenger.send(
                Reply(
                    chat=msg.chat,
                    text=texts.offer_escalation(),
                    reply_to=msg.message_id,
                    buttons=((Button(texts.TO_ENGINEER, encode(Escalate(exchange.id or 0))),),),
                )
            )
            await self.answers.set_reply(exchange, sent)
        else:
            ticket = await self.flow.open(
                hospital, exchange, urgent=False, reply_to=msg.message_id, chat=msg.chat
            )
            await self._keep_attachments(msg, ticket)
        return exchange

    async def _record_once(self, msg: IncomingMessage, record: Callable[[], Exchange]) -> Exchange:
        """Record the message's exchange; a replay of the message (a crash or a database
        outage interrupted its handling) finds the one recorded before and goes on with it."""
        replay = replaying()

        def once() -> Exchange:
            if replay:
                found = self.exchanges.for_question(
                    msg.chat.platform, msg.chat.chat_id, msg.message_id
                )
                if found is not None:
                    return found
            return record()

        return await self.db.write(once)

    # ---- hospital commands ------------------------------------------------------------------

    async def _hospital_command(
        self, msg: IncomingMessage, hospital: Hospital, name: str, args: str
    ) -> None:
        await self.hospital_side.command(msg, hospital, name, args)

    # ---- buttons ----------------------------------------------------------------------------

    async def on_button(self, press: ButtonPress) -> None:
        if not await self.router.press(press):  # another bot's, a retired format, damaged
            await self.messenger.acknowledge(press, texts.BUTTON_EXPIRED)

    async def _keep_attachments(self, msg: IncomingMessage, ticket: Ticket) -> None:
        """A screenshot or file sent with a ticket's message is kept with the ticket (its
        platform reference: engineers see it on the ticket page)."""
        if not msg.attachments or ticket.id is None:
            return
        ticket_id, by = ticket.id, f"{msg.chat.platform}:{msg.sender.user_id}"
        store = AttachmentStore(self.db.engine)
        await self.db.write(
            lambda: store.add_chat(ticket_id, msg.chat.platform, msg.attachments, by)
        )

    async def acknowledge_page(self, press: ButtonPress, action: AckPage) -> None:
        """收到 on an SLA page (a direct message): the ticket's breached clocks stop paging."""
        engineer = await self.db.read(
            lambda: self.registry.engineer_for_user(press.message.platform, press.sender.user_id)
        )
        if engineer is None or self.sla is None:
            await self.messenger.acknowledge(press, texts.only_engineers())
            return
        number = action.number
        done = await self.sla.acknowledge(number, engineer.id)
        await self.messenger.acknowledge(
            press, f"已确认工单 #{number}" if done else f"工单 #{number} 已有人确认"
        )

    # ---- chat events ------------------------------------------------------------------------

    async def on_chat_event(self, event: ChatEvent) -> None:
        await self.hospital_side.on_chat_event(event)


def shown_articles(decision: Decision) -> list[str]:
    """The articles the person is shown: the answer or the one asked about, or the choices.
    An outage's hint and an escalation's nearest article are not shown, so a ticket never
    lists them as tried."""
    if decision.kind in (DecisionKind.ANSWER, DecisionKind.CONFIRM) and decision.article:
        return [decision.article.id]
    if decision.kind is DecisionKind.CLARIFY:
        return [a.id for a in decision.choices]
    return []
