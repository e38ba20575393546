"""The one path every chat message takes, as plain named steps.

    drop own/bot messages → cut and redact (``bot.privacy.gate``: text, sender name, file
    names) → engineers' desk? → hospital for the chat (unknown: say so once) → hospital commands → part of a ticket's thread? (relay; 「还是不行」 under a resolution
    reopens) → an engineer's own message? (remembered, not answered) → an engineer already
    talking here? (stay out) → "still not solved" follow-up? (escalate, or find what it is
    about) → a piece of a question? (wait for the rest, or join the question before) →
    decide → the person's open ticket again? (point to it) → an outage already reported?
    (join its P1) → act → reply

The group-behaviour hooks live in ``bot.conversation`` (``Group``).

Buttons and chat events (migration, removal) join here too. Every step is a function over one
message; nothing here knows which platform the message came from.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.base import (
    Button,
    ButtonPress,
    ChatEvent,
    ChatRef,
    Citation,
    IncomingMessage,
    MessageRef,
    Reply,
)
from bot import hospital_side, operations, texts
from bot.conversation import category_taps, followups
from bot.conversation.group import Group
from bot.conversation.said import Said
from bot.core import Services, open_ticket_for, parse_command, thread_root
from bot.desk import Desk
from bot.exchanges import Exchange, Outcome
from bot.links import Side
from bot.privacy.gate import RedactionGate
from bot.registry.models import Hospital
from bot.sla.actions import decode_ack
from bot.tickets.models import Ticket
from bot.tickets.store import Actor, TicketNotFound
from bot.workflows.chat import ServiceChat
from intents.classify import Addressing
from intents.decide import Decision, DecisionKind

log = logging.getLogger(__name__)


def message_text(msg: IncomingMessage) -> str:
    """What the user said: the text or a screenshot's caption (adapters put either in text)."""
    return msg.text.strip()


class Pipeline:
    def __init__(self, services: Services) -> None:
        self.s = services
        self.desk = Desk(services)
        self.gate = RedactionGate(services.settings.max_message_chars, services.redact)
        self.group = Group(services, services.settings.group)

    # ---- messages ---------------------------------------------------------------------------

    async def on_message(self, msg: IncomingMessage) -> None:
        if msg.from_self or msg.sender.is_bot:
            return
        msg = self.gate.incoming(msg)  # cut, then masked: text, sender, file names
        if self.s.is_desk(msg.chat):
            await self.desk.on_message(msg)
            return
        hospital = await self.s.db.read(
            lambda: self.s.registry.hospital_for_chat(msg.chat.platform, msg.chat.chat_id)
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
        if await self._relay_to_ticket(msg, hospital, text):
            return
        if self.s.broadcasts is not None:  # a reply to a notice is recorded, then handled as usual
            await self.s.broadcasts.on_hospital_reply(msg, hospital.id)
        if msg.edited and await self._already_handled(msg):
            return  # an edit of a question we already answered: do not answer twice
        if await self.group.engineer_posts(msg) or await self.group.engineer_handling(
            msg, hospital
        ):
            return
        if msg.reply_to_message_id and texts.says_unsolved(text):
            replied_to = msg.reply_to_message_id
            prior = await self.s.db.read(
                lambda: self.s.exchanges.for_message(
                    msg.chat.platform, msg.chat.chat_id, replied_to
                )
            )
            if prior is not None:
                await followups.escalate(self.s, hospital, Said.of(msg, text), prior)
                return
        if await self.group.bare_follow_up(msg, hospital, text):
            return
        if await self.group.piece_of_earlier(msg, hospital, text):
            return
        question = await self.group.gather(msg, text)
        if question is None:
            return  # waiting for the rest of the question
        addressing = Addressing(msg.mentions_bot, msg.mentions_others, msg.reply_to_person)
        decision = await asyncio.to_thread(self.s.engine.decide, question.text, addressing)
        if decision.kind is not DecisionKind.SMALLTALK and await self.group.repeated(
            msg, hospital, question
        ):
            return
        if decision.kind is DecisionKind.URGENT and await self.group.joins_incident(
            msg, hospital, question
        ):
            return
        exchange = await self.act(msg, hospital, question.record, decision)
        self.group.decided(msg, exchange)

    async def _already_handled(self, msg: IncomingMessage) -> bool:
        found = await self.s.db.read(
            lambda: self.s.exchanges.for_message(
                msg.chat.platform, msg.chat.chat_id, msg.message_id
            )
        )
        return found is not None

    async def _unregistered(self, msg: IncomingMessage) -> None:
        """Say once per chat (per process) that the group is not registered; store nothing."""
        key = (msg.chat.platform, msg.chat.chat_id)
        if key in self.s.warned_chats:
            return
        self.s.warned_chats.add(key)
        log.info("message from unregistered chat %s:%s", *key)
        await self.s.messenger.send(Reply(chat=msg.chat, text=texts.unregistered_group()))

    async def _relay_to_ticket(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        """A message in a ticket's thread goes to the ticket and to the engineers' card."""
        replied_to = msg.reply_to_message_id
        if not replied_to:
            return False
        ticket = await self.s.db.read(lambda: self._thread_ticket(msg, replied_to, hospital.id))
        if ticket is None:
            return False
        if not ticket.is_open and texts.says_unsolved(text):
            await followups.reopen(self.s, ticket, hospital, Said.of(msg, text))
            return True
        author = Actor.hospital_user(
            hospital.id, msg.chat.platform, msg.sender.user_id, msg.sender.display_name
        )
        body = text or "（附件）"
        if msg.attachments:
            body += "\n" + "\n".join(
                f"[{a.kind}: {a.file_name or a.file_id}]" for a in msg.attachments
            )
        await self.s.db.write(
            lambda: self.s.links.link(
                msg.chat.platform, msg.chat.chat_id, msg.message_id, ticket.number, Side.HOSPITAL
            )
        )
        await operations.hospital_follow_up(
            self.s, ticket, hospital, author, msg.sender.display_name, body, msg.ref
        )
        if self.s.sla is not None:  # the hospital answered: clocks paused for it go on
            await self.s.sla.resume(ticket.number, "医院回复")
        return True

    def _thread_ticket(
        self, msg: IncomingMessage, replied_to: str, hospital_id: str
    ) -> Ticket | None:
        """The hospital's ticket whose thread the replied-to message belongs to."""
        link = self.s.links.ticket_for(msg.chat.platform, msg.chat.chat_id, replied_to)
        if link is None:
            return None
        try:
            return self.s.tickets.get(link.ticket_number, hospital_id=hospital_id)
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
            if msg.mentions_bot and self.s.settings.ack_mentions and said:
                await self.s.messenger.send(
                    Reply(chat=msg.chat, text=said, reply_to=msg.message_id)
                )
            return None
        articles = shown_articles(decision)
        exchange = await self.s.db.write(
            lambda: self.s.exchanges.record(
                hospital_id=hospital.id,
                platform=msg.chat.platform,
                chat_id=msg.chat.chat_id,
                thread_root=thread_root(msg, self.s),
                question_message_id=msg.message_id,
                reporter_user_id=msg.sender.user_id,
                reporter_name=msg.sender.display_name,
                question=text,
                decision=kind.value,
                article_ids=articles,
                confidence=decision.confidence,
            )
        )
        if kind is DecisionKind.ANSWER and decision.article is not None:
            await self._answer(msg.chat, exchange, decision.article.id, msg.message_id)
        elif kind is DecisionKind.CONFIRM and decision.article is not None:
            await self._confirm(msg, exchange, decision.article.id)
        elif kind is DecisionKind.CLARIFY:
            await self._clarify(msg, exchange, decision)
        elif kind is DecisionKind.URGENT:
            await open_ticket_for(
                self.s, hospital, exchange, urgent=True, reply_to=msg.message_id, chat=msg.chat
            )
        elif self.s.settings.escalation == "offer":
            sent = await self.s.messenger.send(
                Reply(
                    chat=msg.chat,
                    text=texts.offer_escalation(),
                    reply_to=msg.message_id,
                    buttons=((Button(texts.TO_ENGINEER, f"esc:{exchange.id}"),),),
                )
            )
            await self._set_reply(exchange, sent)
        else:
            await open_ticket_for(
                self.s, hospital, exchange, urgent=False, reply_to=msg.message_id, chat=msg.chat
            )
        return exchange

    async def _answer_reply(
        self,
        chat: ChatRef,
        exchange: Exchange,
        article_id: str,
        reply_to: str,
        with_buttons: bool = True,
    ) -> Reply | None:
        """The answer message for an article, or None if the article is gone from the KB
        ("no citation, no answer")."""
        article = await self.s.db.read(lambda: self.s.article(article_id))
        if article is None:
            return None
        buttons = (
            (
                (
                    Button(texts.SOLVED, f"ok:{exchange.id}"),
                    Button(texts.UNSOLVED, f"no:{exchange.id}"),
                ),
            )
            if with_buttons
            else ()
        )
        return Reply(
            chat=chat,
            text=texts.answer(article.title, article.steps),
            reply_to=reply_to,
            citation=Citation(article.id, article.title, self.s.article_url(article.id)),
            buttons=buttons,
        )

    async def _set_reply(self, exchange: Exchange, sent: MessageRef | None) -> None:
        """Remember the bot's reply to a question (a reply to it then finds the exchange)."""
        if sent is not None:
            message_id = sent.message_id
            await self.s.db.write(lambda: self.s.exchanges.set_reply(exchange.id or 0, message_id))

    async def _set_outcome(self, exchange: Exchange, outcome: Outcome) -> None:
        await self.s.db.write(lambda: self.s.exchanges.set_outcome(exchange.id or 0, outcome))

    async def _answer(
        self, chat: ChatRef, exchange: Exchange, article_id: str, reply_to: str
    ) -> None:
        """Send an article's steps; an article gone from the KB goes to an engineer instead."""
        reply = await self._answer_reply(chat, exchange, article_id, reply_to)
        if reply is None:
            hospital = await self.s.db.read(
                lambda: self.s.registry.get_hospital(exchange.hospital_id)
            )
            if hospital is not None:
                await open_ticket_for(
                    self.s, hospital, exchange, urgent=False, reply_to=reply_to, chat=chat
                )
            return
        sent = await self.s.messenger.send(reply)
        await self._set_reply(exchange, sent)

    async def _confirm(self, msg: IncomingMessage, exchange: Exchange, article_id: str) -> None:
        """One plausible article, not sure: ask 「是这个问题吗？」 before sending its steps."""
        article = await self.s.db.read(lambda: self.s.article(article_id))
        if article is None:  # gone from the KB meanwhile: no citation, no answer
            await self._answer(msg.chat, exchange, article_id, msg.message_id)
            return
        sent = await self.s.messenger.send(
            Reply(
                chat=msg.chat,
                text=texts.confirm(article.title),
                reply_to=msg.message_id,
                buttons=(
                    (
                        Button(texts.CONFIRM_YES, f"yes:{exchange.id}"),
                        Button(texts.CONFIRM_NO, f"no:{exchange.id}"),
                    ),
                ),
            )
        )
        await self._set_reply(exchange, sent)

    async def _clarify(self, msg: IncomingMessage, exchange: Exchange, decision: Decision) -> None:
        rows = tuple(
            # the choice's position, not its article id: an id may be 64 characters and
            # Telegram's callback data is 64 bytes (the press would go unanswered)
            (Button(a.title[:40], f"pick:{exchange.id}:{n}"),)
            for n, a in enumerate(decision.choices)
        )
        rows += ((Button(texts.NONE_OF_THESE, f"no:{exchange.id}"),),)
        sent = await self.s.messenger.send(
            Reply(chat=msg.chat, text=texts.clarify(), reply_to=msg.message_id, buttons=rows)
        )
        await self._set_reply(exchange, sent)

    # ---- hospital commands ------------------------------------------------------------------

    async def _hospital_command(
        self, msg: IncomingMessage, hospital: Hospital, name: str, args: str
    ) -> None:
        await hospital_side.hospital_command(self.s, msg, hospital, name, args)

    # ---- buttons ----------------------------------------------------------------------------

    async def on_button(self, press: ButtonPress) -> None:
        if self.s.broadcasts is not None and await self.s.broadcasts.on_button(press):
            return  # a notice's 已知悉/已升级, or a /notice confirmation
        if await followups.on_button(self.s, press):
            return  # which question a bare 「还是不行」 was about
        if await category_taps.on_button(self.s, press):
            return  # one tap corrects a ticket's category (desk card or hospital notice)
        if (acked := decode_ack(press.action)) is not None:  # a page's 收到, in a direct message
            await self._acknowledge_page(press, acked)
            return
        if self.s.workflows is not None and await ServiceChat(self.s, self.s.workflows).on_button(
            press
        ):
            return  # remote consent 同意/拒绝/撤销, visit 确认
        action, _, rest = press.action.partition(":")
        if action == "claim" or self.s.is_desk(
            ChatRef(press.message.platform, press.message.chat_id)
        ):
            await self.desk.on_button(press)
            return
        hospital = await self.s.db.read(
            lambda: self.s.registry.hospital_for_chat(press.message.platform, press.message.chat_id)
        )
        key = rest.split(":")[0]
        exchange = (
            await self.s.db.read(lambda: self.s.exchanges.get(int(key))) if key.isdigit() else None
        )
        if hospital is None or exchange is None or exchange.hospital_id != hospital.id:
            await self.s.messenger.acknowledge(press, "这个按钮已失效。")
            return
        chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
        if action == "ok":
            await self._set_outcome(exchange, Outcome.SOLVED)
            await self.s.messenger.acknowledge(press, texts.thanks_solved())
            done = (
                await self._answer_reply(
                    chat,
                    exchange,
                    exchange.articles[0],
                    exchange.question_message_id,
                    with_buttons=False,
                )
                if exchange.articles
                else None
            )
            if done is not None:
                await self.s.messenger.edit(
                    press.message,
                    Reply(chat=chat, text=done.text + "\n\n✅ 已解决", citation=done.citation),
                )
        elif action in ("no", "esc"):
            await self.s.messenger.acknowledge(press)
            await self._set_outcome(exchange, Outcome.UNSOLVED)
            await open_ticket_for(
                self.s,
                hospital,
                exchange,
                urgent=False,
                reply_to=exchange.question_message_id,
                chat=chat,
            )
        elif action == "yes" and exchange.articles:
            await self.s.messenger.acknowledge(press)
            first = exchange.articles[0]
            article = await self.s.db.read(lambda: self.s.article(first))
            if article is not None:
                await self.s.messenger.edit(
                    press.message, Reply(chat=chat, text=texts.confirmed(article.title))
                )
            await self._answer(chat, exchange, exchange.articles[0], exchange.question_message_id)
        elif action == "pick":
            article_id = _picked(exchange, rest.split(":", 1)[1] if ":" in rest else "")
            await self.s.messenger.acknowledge(press)
            await self._answer(chat, exchange, article_id, exchange.question_message_id)
        else:
            await self.s.messenger.acknowledge(press)

    # ---- chat events ------------------------------------------------------------------------

    async def _acknowledge_page(self, press: ButtonPress, number: str) -> None:
        engineer = await self.s.db.read(
            lambda: self.s.registry.engineer_for_user(press.message.platform, press.sender.user_id)
        )
        if engineer is None or self.s.sla is None:
            await self.s.messenger.acknowledge(press, texts.only_engineers())
            return
        done = await self.s.sla.acknowledge(number, engineer.id)
        await self.s.messenger.acknowledge(
            press, f"已确认工单 #{number}" if done else f"工单 #{number} 已有人确认"
        )

    async def on_chat_event(self, event: ChatEvent) -> None:
        await hospital_side.on_chat_event(self.s, event)


def _picked(exchange: Exchange, choice: str) -> str:
    """The article a clarify button names: its position among the exchange's choices, or
    (buttons sent before positions were used) the article id itself."""
    if choice in exchange.articles:
        return choice
    if choice.isdigit() and int(choice) < len(exchange.articles):
        return exchange.articles[int(choice)]
    return ""


def shown_articles(decision: Decision) -> list[str]:
    """The articles the person is shown: the answer or the one asked about, or the choices.
    An outage's hint and an escalation's nearest article are not shown, so a ticket never
    lists them as tried."""
    if decision.kind in (DecisionKind.ANSWER, DecisionKind.CONFIRM) and decision.article:
        return [decision.article.id]
    if decision.kind is DecisionKind.CLARIFY:
        return [a.id for a in decision.choices]
    return []
