"""The bot's answers in a hospital chat and the buttons under them.

An article's steps (with 已解决 / 还是不行), 「是这个问题吗？」 before them when the engine is
not sure, the choices when several articles fit, and what each button does: solved,
escalated to an engineer (the ticket flow opens the ticket), confirmed, picked. An article
gone from the KB is never cited ("no citation, no answer"): the question goes to an engineer.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import (
    Button,
    ButtonPress,
    ChatRef,
    Citation,
    IncomingMessage,
    MessageRef,
    Reply,
)
from bot import texts
from bot.conversation.exchange_actions import (
    Confirmed,
    Declined,
    Escalate,
    ExchangeAction,
    Pick,
    Solved,
    Unsolved,
)
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry.store import RegistryStore
from bot.routing import encode
from bot.tickets.flow import TicketFlow
from intents.decide import Decision
from kb_index.articles import Article


class Answers:
    """``article``: a KB article by id (None: gone), read through ``db``; ``article_url``:
    its link on the console."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        exchanges: ExchangeStore,
        article: Callable[[str], Article | None],
        article_url: Callable[[str], str],
        flow: TicketFlow,
        messenger: Messenger,
    ) -> None:
        self.db = db
        self.registry = registry
        self.exchanges = exchanges
        self.article = article
        self.article_url = article_url
        self.flow = flow
        self.messenger = messenger

    async def reply_for(
        self,
        chat: ChatRef,
        exchange: Exchange,
        article_id: str,
        reply_to: str,
        with_buttons: bool = True,
    ) -> Reply | None:
        """The answer message for an article, or None if the article is gone from the KB
        ("no citation, no answer")."""
        article = await self.db.read(lambda: self.article(article_id))
        if article is None:
            return None
        buttons = (
            (
                (
                    Button(texts.SOLVED, encode(Solved(exchange.id or 0))),
                    Button(texts.UNSOLVED, encode(Unsolved(exchange.id or 0))),
                ),
            )
            if with_buttons
            else ()
        )
        return Reply(
            chat=chat,
            text=texts.answer(article.title, article.steps),
            reply_to=reply_to,
            citation=Citation(article.id, article.title, self.article_url(article.id)),
            buttons=buttons,
        )

    async def set_reply(self, exchange: Exchange, sent: MessageRef | None) -> None:
        """Remember the bot's reply to a question (a reply to it then finds the exchange)."""
        if sent is not None:
            message_id = sent.message_id
            await self.db.write(lambda: self.exchanges.set_reply(exchange.id or 0, message_id))

    async def set_outcome(self, exchange: Exchange, outcome: Outcome) -> None:
        await self.db.write(lambda: self.exchanges.set_outcome(exchange.id or 0, outcome))

    async def answer(
        self, chat: ChatRef, exchange: Exchange, article_id: str, reply_to: str
    ) -> None:
        """Send an article's steps; an article gone from the KB goes to an engineer instead."""
        reply = await self.reply_for(chat, exchange, article_id, reply_to)
        if reply is None:
            hospital = await self.db.read(lambda: self.registry.get_hospital(exchange.hospital_id))
            if hospital is not None:
                await self.flow.open(hospital, exchange, urgent=False, reply_to=reply_to, chat=chat)
            return
        sent = await self.messenger.send(reply)
        await self.set_reply(exchange, sent)

    async def confirm(self, msg: IncomingMessage, exchange: Exchange, article_id: str) -> None:
        """One plausible article, not sure: ask 「是这个问题吗？」 before sending its steps."""
        article = await self.db.read(lambda: self.article(article_id))
        if article is None:  # gone from the KB meanwhile: no citation, no answer
            await self.answer(msg.chat, exchange, article_id, msg.message_id)
            return
        sent = await self.messenger.send(
            Reply(
                chat=msg.chat,
                text=texts.confirm(article.title),
                reply_to=msg.message_id,
                buttons=(
                    (
                        Button(texts.CONFIRM_YES, encode(Confirmed(exchange.id or 0))),
                        Button(texts.CONFIRM_NO, encode(Declined(exchange.id or 0))),
                    ),
                ),
            )
        )
        await self.set_reply(exchange, sent)

    async def clarify(self, msg: IncomingMessage, exchange: Exchange, decision: Decision) -> None:
        rows = tuple(
            # the choice's position, not its article id (a short handle: see ``Pick``)
            (Button(a.title[:40], encode(Pick(exchange.id or 0, n))),)
            for n, a in enumerate(decision.choices)
        )
        rows += ((Button(texts.NONE_OF_THESE, encode(Declined(exchange.id or 0))),),)
        sent = await self.messenger.send(
            Reply(chat=msg.chat, text=texts.clarify(), reply_to=msg.message_id, buttons=rows)
        )
        await self.set_reply(exchange, sent)

    async def on_button(self, press: ButtonPress, action: ExchangeAction) -> None:
        """A button under an answer, pressed in the hospital's chat it was sent to."""
        hospital = await self.db.read(
            lambda: self.registry.hospital_for_chat(press.message.platform, press.message.chat_id)
        )
        exchange = await self.db.read(lambda: self.exchanges.get(action.exchange))
        if hospital is None or exchange is None or exchange.hospital_id != hospital.id:
            await self.messenger.acknowledge(press, texts.BUTTON_EXPIRED)
            return
        chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
        if isinstance(action, Solved):
            await self.set_outcome(exchange, Outcome.SOLVED)
            await self.messenger.acknowledge(press, texts.thanks_solved())
            done = (
                await self.reply_for(
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
                await self.messenger.edit(
                    press.message,
                    Reply(chat=chat, text=done.text + "\n\n✅ 已解决", citation=done.citation),
                )
        elif isinstance(action, Unsolved | Declined | Escalate):
            await self.messenger.acknowledge(press)
            await self.set_outcome(exchange, Outcome.UNSOLVED)
            ticket = await self.flow.open(
                hospital,
                exchange,
                urgent=False,
                reply_to=exchange.question_message_id,
                chat=chat,
            )
            asked = isinstance(action, Escalate | Declined)
            await self._close_buttons(press, chat, exchange, ticket.number, answer=not asked)
        elif isinstance(action, Confirmed) and exchange.articles:
            await self.messenger.acknowledge(press)
            first = exchange.articles[0]
            article = await self.db.read(lambda: self.article(first))
            if article is not None:
                await self.messenger.edit(
                    press.message, Reply(chat=chat, text=texts.confirmed(article.title))
                )
            await self.answer(chat, exchange, exchange.articles[0], exchange.question_message_id)
        elif isinstance(action, Pick) and action.choice < len(exchange.articles):
            await self.messenger.acknowledge(press)
            article_id = exchange.articles[action.choice]
            await self.answer(chat, exchange, article_id, exchange.question_message_id)
        else:  # a choice the exchange never offered
            await self.messenger.acknowledge(press, texts.BUTTON_EXPIRED)

    async def _close_buttons(
        self, press: ButtonPress, chat: ChatRef, exchange: Exchange, number: str, answer: bool
    ) -> None:
        """The pressed message without its buttons, saying where the question went (as 已解决
        does): nothing is left to press twice. ``answer``: it was the answer (its steps are
        kept), else the question asked (是这个问题吗 / the choices / the 转工程师 offer)."""
        shown: Reply | None = None
        if answer and exchange.articles:
            shown = await self.reply_for(
                chat, exchange, exchange.articles[0], exchange.question_message_id, False
            )
        if shown is None:
            first = exchange.articles[0] if exchange.articles else ""
            article = await self.db.read(lambda: self.article(first)) if first else None
            title = article.title if article is not None else ""
            text = {
                "confirm": texts.confirm(title),
                "clarify": texts.clarify(),
            }.get(exchange.decision, texts.offer_escalation())
            shown = Reply(chat=chat, text=text)
        note = texts.unsolved_to_ticket(number) if answer else texts.sent_to_ticket(number)
        await self.messenger.edit(
            press.message, Reply(chat=chat, text=f"{shown.text}\n\n{note}", citation=shown.citation)
        )
