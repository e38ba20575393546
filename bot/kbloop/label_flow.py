"""One tap on the desk after a resolution: which article answers this question?

The prompt offers the articles the bot tried and the engine's best candidates for the
question, then 无需文章 (not a KB matter) and 需要新文章. Database and engine calls run in
worker threads: the loop keeps serving chats.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.base import Button, ButtonPress, ChatRef, Reply
from bot.core import Services
from bot.kbloop import actions
from bot.kbloop.labels import LabelRefused, LabelStore
from bot.kbloop.models import Verdict
from bot.tickets.models import Ticket
from bot.tickets.store import TicketNotFound

log = logging.getLogger(__name__)

#: Article buttons offered at most (the tried ones first, then the engine's candidates).
MAX_ARTICLES = 4
NONE_LABEL = "无需文章"
NEW_LABEL = "需要新文章"


def candidate_articles(services: Services, ticket: Ticket) -> list[tuple[str, str]]:
    """(id, title) of the articles worth offering, tried ones first; blocking (engine + DB)."""
    ids = [a.article_id for a in services.tickets.articles(ticket.number)]
    ids += [c.article.id for c in services.engine.rank(ticket.question, k=MAX_ARTICLES)]
    out: list[tuple[str, str]] = []
    for article_id in dict.fromkeys(ids):
        article = services.article(article_id)
        if article is not None:
            out.append((article.id, article.title))
    return out[:MAX_ARTICLES]


def prompt(
    ticket: Ticket,
    articles: list[tuple[str, str]],
    chat: ChatRef,
    lead: str = "",
    reply_to: str | None = None,
) -> Reply:
    rows: list[tuple[Button, ...]] = []
    for article_id, title in articles:
        data = actions.encode(actions.LabelAction(ticket.number, Verdict.ARTICLE, article_id))
        if data is not None:
            rows.append((Button(f"📄 {title[:36]}", data),))
    extra = [
        (label, actions.encode(actions.LabelAction(ticket.number, verdict)))
        for label, verdict in ((NONE_LABEL, Verdict.NONE), (NEW_LABEL, Verdict.NEW))
    ]
    rows.append(tuple(Button(label, data) for label, data in extra if data is not None))
    return Reply(
        chat=chat,
        text=(
            (f"{lead}\n" if lead else "")
            + f"工单 #{ticket.number} 的问题由哪篇知识库文章解答？（一键记录，用于评估和改进知识库）\n"
            f"问题：{ticket.question[:200]}"
        ),
        reply_to=reply_to,
        buttons=tuple(rows),
    )


async def ask(
    services: Services, chat: ChatRef, ticket: Ticket, lead: str = "", reply_to: str | None = None
) -> None:
    """Post the label prompt for a just-resolved ticket in the desk chat it was resolved in;
    ``lead`` (the resolution's confirmation) goes in the same message: a desk group may send
    20 messages a minute, so one message says both."""
    articles = await asyncio.to_thread(candidate_articles, services, ticket)
    await services.messenger.send(prompt(ticket, articles, chat, lead, reply_to))


def verdict_text(action: actions.LabelAction, title: str | None) -> str:
    if action.verdict is Verdict.ARTICLE:
        return f"《{title or action.article_id}》"
    return NONE_LABEL if action.verdict is Verdict.NONE else NEW_LABEL


async def on_press(services: Services, labels: LabelStore, press: ButtonPress) -> bool:
    """Handle a label button; False when the press is not a label's (someone else's button)."""
    action = actions.decode(press.action)
    if action is None:
        return False
    engineer = await asyncio.to_thread(
        services.registry.engineer_for_user, press.message.platform, press.sender.user_id
    )
    if engineer is None:
        await services.messenger.acknowledge(press, "只有已登记的工程师可以标注。")
        return True
    title = None
    if action.article_id:
        article = await asyncio.to_thread(services.article, action.article_id)
        if article is None:
            await services.messenger.acknowledge(press, "这篇文章已不在知识库中。")
            return True
        title = article.title
    try:
        await asyncio.to_thread(
            labels.record, action.number, action.verdict, action.article_id, engineer.id
        )
    except (TicketNotFound, LabelRefused) as exc:
        await services.messenger.acknowledge(press, f"未记录：{exc}")
        return True
    chosen = verdict_text(action, title)
    await services.messenger.acknowledge(press, f"已记录：{chosen}")
    chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
    await services.messenger.edit(
        press.message,
        Reply(chat=chat, text=f"工单 #{action.number} 的标注：{chosen}（{engineer.name}）"),
    )
    log.info("ticket %s labelled %s by %s", action.number, action.verdict.value, engineer.id)
    return True
