"""One tap on the desk after a resolution: which article answers this question?

The prompt offers the articles the bot tried and the engine's best candidates for the
question, then 无需文章 (not a KB matter) and 需要新文章. Database and engine calls run in
worker threads: the loop keeps serving chats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from adapters.base import Button, ButtonPress, ChatRef, Reply
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.kb.loop.actions import LabelArticle, LabelKind, LabelVerdict
from bot.kb.loop.labels import LabelRefused, LabelStore
from bot.kb.loop.models import Verdict
from bot.registry.store import RegistryStore
from bot.routing import Router, encode
from bot.tickets.models import Ticket
from bot.tickets.store import TicketNotFound, TicketStore
from intents.decide import AnswerEngine
from kb_index.articles import Article
from kb_index.store import KbArticleVersion

log = logging.getLogger(__name__)

#: Article buttons offered at most (the tried ones first, then the engine's candidates).
MAX_ARTICLES = 4
NONE_LABEL = "无需文章"
NEW_LABEL = "需要新文章"


def candidate_articles(
    tickets: TicketStore,
    engine: AnswerEngine,
    article: Callable[[str], Article | None],
    ticket: Ticket,
) -> list[tuple[str, str]]:
    """(id, title) of the articles worth offering, tried ones first; blocking (engine + DB)."""
    ids = [a.article_id for a in tickets.articles(ticket.number)]
    ids += [c.article.id for c in engine.rank(ticket.question, k=MAX_ARTICLES)]
    out: list[tuple[str, str]] = []
    for article_id in dict.fromkeys(ids):
        found = article(article_id)
        if found is not None:
            out.append((found.id, found.title))
    return out[:MAX_ARTICLES]


def _latest_versions(db: Engine, ids: list[str]) -> dict[str, int]:
    """Article id → its latest stored version's pk (the label button's handle)."""
    query = (
        select(KbArticleVersion.article_id, func.max(KbArticleVersion.pk))
        .where(col(KbArticleVersion.article_id).in_(ids))
        .group_by(col(KbArticleVersion.article_id))
    )
    with Session(db) as session:
        return {article_id: pk for article_id, pk in session.exec(query) if pk is not None}


def _versioned_article(db: Engine, version: int) -> str | None:
    """The article id a label button's handle names (None: erased from the history)."""
    with Session(db) as session:
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


def verdict_text(verdict: Verdict, title: str | None) -> str:
    if verdict is Verdict.ARTICLE:
        return f"《{title}》"
    return NONE_LABEL if verdict is Verdict.NONE else NEW_LABEL


class LabelPrompt:
    """The prompt after a resolution (``ask``, the desk's ``ask_label``) and its buttons."""

    def __init__(
        self,
        *,
        db: Database,
        registry: RegistryStore,
        tickets: TicketStore,
        engine: AnswerEngine,
        article: Callable[[str], Article | None],
        messenger: Messenger,
        labels: LabelStore,
    ) -> None:
        """``engine`` ranks the question's candidates; ``article`` looks one up by id."""
        self._db = db
        self._registry = registry
        self._tickets = tickets
        self._engine = engine
        self._article = article
        self._messenger = messenger
        self._labels = labels

    def register(self, router: Router) -> None:
        """The label prompt's two button actions."""
        router.action(LabelVerdict, self.on_press)
        router.action(LabelArticle, self.on_press)

    def _offered(self, ticket: Ticket) -> list[tuple[str, str, int]]:
        """The candidates with their buttons' handles (blocking: engine + DB)."""
        articles = candidate_articles(self._tickets, self._engine, self._article, ticket)
        handles = _latest_versions(self._db.engine, [article_id for article_id, _ in articles])
        return [(a, title, handles[a]) for a, title in articles if a in handles]

    async def ask(
        self, chat: ChatRef, ticket: Ticket, lead: str = "", reply_to: str | None = None
    ) -> None:
        """Post the label prompt for a just-resolved ticket in the desk chat it was resolved
        in; ``lead`` (the resolution's confirmation) goes in the same message: a desk group
        may send 20 messages a minute, so one message says both."""
        articles = await self._db.reading(self._offered, ticket)
        await self._messenger.send(prompt(ticket, articles, chat, lead, reply_to))

    async def on_press(self, press: ButtonPress, action: LabelVerdict | LabelArticle) -> None:
        db, messenger = self._db, self._messenger
        engineer = await db.read(
            lambda: self._registry.engineer_for_user(press.message.platform, press.sender.user_id)
        )
        if engineer is None:
            await messenger.acknowledge(press, "只有已登记的工程师可以标注。")
            return
        title = article_id = None
        verdict = Verdict.ARTICLE
        if isinstance(action, LabelArticle):
            article_id = await db.reading(_versioned_article, db.engine, action.version)
            found = article_id
            article = await db.read(lambda: self._article(found)) if found else None
            if article is None:
                await messenger.acknowledge(press, "这篇文章已不在知识库中。")
                return
            title = article.title
        else:
            verdict = action.kind.verdict
        chosen_id = article_id
        try:
            await db.write(
                lambda: self._labels.record(action.number, verdict, chosen_id, engineer.id)
            )
        except (TicketNotFound, LabelRefused) as exc:
            await messenger.acknowledge(press, f"未记录：{exc}")
            return
        chosen = verdict_text(verdict, title)
        await messenger.acknowledge(press, f"已记录：{chosen}")
        chat = ChatRef(press.message.platform, press.message.chat_id, press.thread_id)
        await messenger.edit(
            press.message,
            Reply(chat=chat, text=f"工单 #{action.number} 的标注：{chosen}（{engineer.name}）"),
        )
        log.info("ticket %s labelled %s by %s", action.number, verdict.value, engineer.id)
