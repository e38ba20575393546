"""常见问题 (``/problems``): the common problems of recent days, for engineers, and the way from
a problem to a published article.

A problem's 起草文章 opens the KB editor filled with its draft (a new article) or with the near
article plus the hospitals' phrasings; nothing is in the KB until the engineer saves it there,
and a save re-indexes at once (``bot.kb.editing``), so the bot answers with it from then on.
The analysis embeds every question of the period: it runs in a worker thread and a result is
reused for 60 s.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from bot.kb.editing import Draft
from bot.kb.loop.drafting import (
    PhrasingProposal,
    common_module,
    problem_key,
    propose,
    proposed_article,
)
from bot.kb.loop.feedback import article_feedback
from bot.kb.loop.problems import Coverage, Problem, analyse, load_items
from bot.kb.loop.summary import coverage_text
from bot.registry.sessions import read_session
from bot.web.app import Console
from bot.web.kb_pages import FIELD_LABELS
from bot.web.report_cache import RecentResults
from kb_index.articles import CATEGORIES
from kb_index.store import KbArticle, load_articles

#: The periods offered, in days.
PERIODS = (7, 30, 90)


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    recent: RecentResults[list[Problem]] = RecentResults(ttl=60.0, parallel=1)

    def period(days: str) -> int:
        if days not in {str(p) for p in PERIODS}:
            raise HTTPException(400, "统计周期无效：请选择 7、30 或 90 天。")
        return int(days)

    def problems(days: int) -> list[Problem]:
        def compute() -> list[Problem]:
            since = console.services.clock() - dt.timedelta(days=days)
            items = load_items(console.db, since)
            return analyse(items, console.services.engine, console.settings.kbloop)

        return recent.get(days, compute)

    def hospital_name(hospital_id: str) -> str:
        h = console.services.registry.get_hospital(hospital_id)
        return h.name if h else hospital_id

    @router.get("/problems")
    def problem_list(request: Request, days: str = "7") -> Response:
        viewer = console.engineer(request)
        n = period(days)
        found = problems(n)
        return console.render(
            request,
            viewer,
            "problems.html",
            {
                "days": n,
                "periods": PERIODS,
                "problems": found,
                "key": problem_key,
                "verdict": lambda p: coverage_text(p, console.services.article),
                "hospital_name": hospital_name,
                "draftable": (Coverage.UNCOVERED, Coverage.NEAR),
            },
        )

    @router.get("/problems/articles")
    def article_feedback_page(request: Request) -> Response:
        viewer = console.engineer(request)
        rows = article_feedback(console.db)
        return console.render(
            request,
            viewer,
            "problem_feedback.html",
            {"rows": rows, "local_time": console.local_time, "pct": _pct},
        )

    @router.get("/problems/{key}/draft")
    def draft_page(request: Request, key: str, days: str = "7") -> Response:
        viewer = console.engineer(request)
        found = [p for p in problems(period(days)) if problem_key(p) == key]
        if not found:
            raise HTTPException(404)
        problem = found[0]
        articles = {a.id: a for a in load_articles(console.db)}

        def module_of(p: Problem) -> str:
            ranked = console.services.engine.rank(p.items[0].text, k=3)
            return common_module(
                p, [articles[c.article.id] for c in ranked if c.article.id in articles]
            )

        today = console.services.clock().astimezone(console.zone).date()
        proposal = propose(problem, articles.get, today, module_of)
        if proposal is None:
            raise HTTPException(404)
        article = proposed_article(proposal, articles.get)
        based_on: int | None = None
        if isinstance(proposal, PhrasingProposal):  # an edit of the near article
            with read_session(console.db) as session:
                row = session.get(KbArticle, article.id)
                based_on = row.version if row is not None else None
        return console.render(
            request,
            viewer,
            "kb_edit.html",
            {
                "draft": Draft.of(article),
                "is_new": based_on is None,
                "based_on": based_on,
                "action": "/kb/new" if based_on is None else f"/kb/{article.id}/edit",
                "categories": CATEGORIES,
                "labels": FIELD_LABELS,
                "errors": {},
                "from_problem": {
                    "questions": len(problem.items),
                    "hospitals": len(problem.hospitals),
                    "tickets": problem.tickets,
                    "phrasings": isinstance(proposal, PhrasingProposal),
                },
            },
        )

    return router


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
