"""One tap on the desk after a resolution: which article answers this question?

The prompt offers the articles the bot tried and the engine's best candidates for the
question, then 无需文章 (not a KB matter) and 需要新文章. Database and engine calls run in
worker threads: the loop keeps serving chats.
"""

from __future__ import annotations

import logging

from sqlalchemy import func
from sqlmodel import Session, col, select

from adapters.base import Button, ButtonPress, ChatRef, Reply
from bot.kb.loop.actions import LabelArticle, LabelKind, LabelVerdict
from bot.kb.loop.labels import LabelRefused, LabelStore
from bot.kb.loop.models import Verdict
from bot.routing import Router, encode
from bot.tickets.models import Ticket
from bot.tickets.services import Services
from bot.tickets.store import TicketNotFound
from kb_index.store import KbArticleVersion

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


def _offered(services: Services, ticket: Ticket) -> list[tuple[str, str, int]]:
    """The candidates with their buttons' handles (blocking: engine + DB)."""
    articles = candidate_articles(services, ticket)
    handles = _latest_versions(services, [article_id for article_id, _ in articles])
    return [(a, title, handles[a]) for a, title in articles if a in handles]


def _latest_versions(services: Services, ids: list[str]) -> dict[str, int]:
    """Article id → its latest stored version's pk (the label button's handle)."""
    query = (
        select(KbArticleVersion.article_id, func.max(KbArticleVersion.pk))
        .where(col(KbArticleVersion.article_id).in_(ids))
        .group_by(col(KbArticleVersion.article_id))
    )
    with Session(services.db.engine) as session:
        return {article_id: pk for article_id, pk in session.exec(query) if pk is not None}


def _versioned_article(services: Services, version: int) -> str | None:
    """The article id a label button's handle names (None: erased from the history)."""
    with Session(services.db.engine) as session:
        row = session.get(KbArticleVersion, version)
        return row.article_id if row is not None else None


def prompt(
    ticket: Ticket,
    articles: list[tuple[str, str, int]],
    chat: ChatRef,
    lead: str = "",
    reply_to: str | None = None,
) -> Reply:
    rows: list[tuple[Button, ...]] = [
        (Button(f"📄 {title[:36]}", encode(LabelArticle(ticket.number, version))),)
        for _, title, version in articles
    ]
    rows.append(
        (
            Button(NONE_LABEL, encode(LabelVerdict(ticket.number, LabelKind.NONE))),
            Button(NEW_LABEL, encode(LabelVerdict(ticket.number, LabelKind.NEW))),
        )
    )
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
    articles = await services.db.reading(_offered, services, ticket)
    await services.messenger.send(prompt(ticket, articles, chat, lead, reply_to))


def verdict_text(verdict: Verdict, title: str | None) -> str:
    if verdict is Verdict.ARTICLE:
        return f"《{title}》"
    return NONE_LABEL if verdict is Verdict.NONE else NEW_LABEL


def register(router: Router, services: Services, labels: LabelStore) -> None:
    """The label prompt's two button actions."""

    async def on_press(press: ButtonPress, action: LabelVerdict | LabelArticle) -> None:
        await _label(services, labels, press, action)

    router.action(LabelVerdict, on_press)
    router.action(LabelArticle, on_press)


async def _label(
    services: Services, labels: LabelStore, press: ButtonPress, action: LabelVerdict | LabelArticle
) -> None:
    engineer = await services.db.read(
        lambda: services.registry.engineer_for_user(press.message.platform, press.sender.user_id)
    )
    if engineer is None:
        await services.messenger.acknowledge(press, "只有已登记的工程师可以标注。")
        return
    title = article_id = None
    verdict = Verdict.ARTICLE
    if isinstance(action, LabelArticle):
        version = action.version
        article_id = await services.db.read(lambda: _versioned_article(services, version))
        found = article_id
        article = await services.db.read(lambda: services.article(found)) if found else None
        if article is None:
            await services.messenger.acknowledge(press, "这篇文章已不在知识库中。")
            return
        title = article.title
    else:
        verdict = action.kind.verdict
    chosen_id = article_id
    try:
        await services.db.write(
            lambda: labels.record(action.number, verdict, chosen_id, engineer.id)
        )
    except (TicketNotFound, LabelRefused) as exc:
        await services.messenger.acknowledge(press, f"未记录：{exc}")
        return
    chosen = verdict_text(verdict, title)
    await services.messenger.acknowledge(press, f"已记录：{chosen}")
    chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
    await services.messenger.edit(
        press.message,
        Reply(chat=chat, text=f"工单 #{action.number} 的标注：{chosen}（{engineer.name}）"),
    )
    log.info("ticket %s labelled %s by %s", action.number, verdict.value, engineer.id)
