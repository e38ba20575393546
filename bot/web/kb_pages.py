"""Knowledge-base pages: browse, search, read an article and its history; engineers edit.

Search runs the bot's own engine, so what a hospital user finds here is what the bot would
answer with. Article text is only ever escaped (templates) or rendered from Markdown with raw
HTML disabled; highlighting escapes first and only then adds ``<mark>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import unicodedata
from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from starlette.datastructures import FormData

from bot.kb.editing import Draft, EditConflict
from bot.kb.loop.feedback import article_feedback
from bot.kb.loop.labels import LabelStore, problem_tickets
from bot.registry.sessions import read_session
from bot.web import kb_retire
from bot.web.app import Console
from bot.web.auth import Viewer
from kb_index.articles import CATEGORIES, Article, ArticleError
from kb_index.store import WEB_SOURCE, KbArticle, article_history, list_articles
from kb_index.text import STOP_CHARS, cjk_runs, latin_tokens, prepare_query

MAX_QUERY = 200
RESULTS = 10
SNIPPET_CHARS = 120
_MD = MarkdownIt("commonmark", {"html": False})

FIELD_LABELS = {
    "id": "编号",
    "title": "标题",
    "category": "分类",
    "module": "模块",
    "tags": "标签",
    "questions": "常见问法",
    "body": "正文",
}
#: After-save notices, chosen by a code in the redirect (never text from the request).
NOTICES = {
    "saved": "已保存并重新索引：机器人和搜索现在就使用这一版。",
    "masked": "已保存并重新索引。注意：内容中的个人信息（身份证号、手机号、住院号等）已被自动隐去，请核对。",
    "unchanged": "内容没有变化，未生成新版本。",
    "stale": "已保存，但搜索索引更新失败：机器人暂时仍按旧内容回答，请稍后再次保存或联系管理员。",
    **kb_retire.NOTICES,
}
ERROR_NOTICES = {"stale", *kb_retire.ERRORS}


# -- text helpers ---------------------------------------------------------------------------


def markdown(text: str) -> Markup:
    """Markdown as HTML; raw HTML in the text comes out as escaped text."""
    return Markup(_MD.render(text))  # safe: html disabled, markdown-it escapes it


def query_terms(query: str) -> list[str]:
    """What to highlight for a query, longest first: the CJK bigrams (Chinese has no spaces,
    and the engine matches bigrams too) and Latin words, after the same shorthand expansion the
    bot applies (yb → 医保). Single characters only when nothing longer is left."""
    text = prepare_query(query)
    terms: set[str] = set()
    singles: set[str] = set()
    for run in cjk_runs(text):
        terms.update(
            run[i : i + 2]
            for i in range(len(run) - 1)
            if not (run[i] in STOP_CHARS and run[i + 1] in STOP_CHARS)
        )
        singles.update(ch for ch in run if ch not in STOP_CHARS)
    terms.update(t for t in latin_tokens(text) if len(t) > 1)
    return sorted(terms or singles, key=len, reverse=True)


def _fold(text: str) -> str:
    """Per character NFKC + lower case, so positions in the folded text are positions in the
    original."""
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch).lower()
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


def match_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Where the terms occur, merged into non-overlapping spans (医保 + 保结 → 医保结)."""
    folded = _fold(text)
    found = []
    for term in terms:
        start = folded.find(term)
        while start != -1:
            found.append((start, start + len(term)))
            start = folded.find(term, start + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(found):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def marked(text: str, spans: list[tuple[int, int]]) -> Markup:
    """``text`` escaped, with the spans wrapped in ``<mark>``."""
    parts: list[Markup] = []
    pos = 0
    for s, e in spans:
        parts += [escape(text[pos:s]), Markup("<mark>"), escape(text[s:e]), Markup("</mark>")]
        pos = e
    parts.append(escape(text[pos:]))
    return Markup("").join(parts)


def plain_text(body: str) -> str:
    """Article Markdown as one line of text for snippets (headings, list marks, emphasis go)."""
    lines = (
        re.sub(r"^\s*(\d+\.|[-*+>])\s+", "", line)
        for line in body.splitlines()
        if not line.lstrip().startswith("#")
    )
    return re.sub(r"\*+|__|`+", "", " ".join(line.strip() for line in lines if line.strip()))


def snippet(body: str, terms: list[str], width: int = SNIPPET_CHARS) -> Markup:
    """The window of the article with the most matches, highlighted."""
    text = plain_text(body)
    spans = match_spans(text, terms)
    start = 0
    if spans:
        windows = [max(0, s - width // 4) for s, _ in spans]
        start = max(windows, key=lambda w: sum(1 for s, e in spans if w <= s and e <= w + width))
    end = min(len(text), start + width)
    inside = [
        (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
    ]
    out = marked(text[start:end], inside)
    return Markup("").join(["…" if start else "", out, "…" if end < len(text) else ""])


def steps_and_rest(article: Article) -> tuple[str, str]:
    """The steps section (shown first: it is what the reader came for) and the rest of the
    body without it; ("", body) when the article has no steps section."""
    steps = article.steps
    if steps == article.body.strip():
        return "", article.body
    parts = re.split(r"(?m)^(?=##\s+)", article.body)
    rest = [p for p in parts if p.partition("\n")[2].strip() != steps]
    return steps, "".join(rest)


def problem_text(err: ArticleError) -> str:
    """An ``ArticleError`` as the Chinese editor reads it."""
    problem = err.problem
    if problem == "missing" or problem == "is empty" or problem.startswith("must be a non-empty"):
        return "不能为空"
    if m := re.match(r"longer than (\d+) characters", problem):
        return f"不能超过 {m.group(1)} 个字符"
    if err.field == "category":
        return "请选择一个分类"
    if err.field == "id":
        return "只能使用小写字母、数字和 - _ .，以字母或数字开头，最多 64 个字符"
    return problem


# -- data -----------------------------------------------------------------------------------


def _rows(console: Console) -> list[KbArticle]:
    """Every article, retired ones included (pages decide who sees those)."""
    with read_session(console.db) as s:
        return list_articles(s)


def _row(console: Console, article_id: str) -> KbArticle | None:
    if len(article_id) > 64:
        return None
    with read_session(console.db) as s:
        return s.get(KbArticle, article_id)


async def _read_row(console: Console, article_id: str) -> KbArticle | None:
    return await console.services.db.read(lambda: _row(console, article_id))


def _draft(form: FormData, article_id: str | None = None) -> Draft:
    def field(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    return Draft(
        id=article_id if article_id is not None else field("id"),
        **{name: field(name) for name in FIELD_LABELS if name != "id"},
    )


def _based_on(form: FormData) -> int | None:
    raw = form.get("based_on", "")
    if not isinstance(raw, str) or not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise HTTPException(400)
    return int(raw)


def routes(console: Console) -> APIRouter:
    router = APIRouter()
    live = console.knowledge
    decide = console.settings.decide

    def editor(
        request: Request,
        viewer: Viewer,
        draft: Draft,
        based_on: int | None,
        status_code: int = 200,
        **extra: Any,
    ) -> Response:
        is_new = based_on is None
        return console.render(
            request,
            viewer,
            "kb_edit.html",
            {
                "draft": draft,
                "is_new": is_new,
                "based_on": based_on,
                "action": "/kb/new" if is_new else f"/kb/{draft.id}/edit",
                "categories": CATEGORIES,
                "labels": FIELD_LABELS,
                "errors": {},
                **extra,
            },
            status_code=status_code,
        )

    @router.get("/kb")
    async def browse(
        request: Request, category: str = "", module: str = "", retired: str = ""
    ) -> Response:
        viewer = console.kb_reader(request)
        every = await console.services.db.read(lambda: _rows(console))
        # retired articles: only engineers see them, and only when they ask to (?retired=1)
        show_retired = viewer.is_engineer and retired == "1"
        rows = [r for r in every if r.retired == show_retired]
        in_category = [r for r in rows if not category or r.category == category]
        shown = [r for r in in_category if not module or r.module == module]
        shown.sort(key=lambda r: (r.updated, r.id), reverse=True)
        return console.render(
            request,
            viewer,
            "kb_browse.html",
            {
                "articles": shown,
                "total": len(rows),
                "categories": Counter(r.category for r in rows),
                "modules": sorted(Counter(r.module for r in in_category).items()),
                "category": category,
                "module": module,
                "show_retired": show_retired,
                "retired_count": sum(r.retired for r in every) if viewer.is_engineer else 0,
            },
        )

    @router.get("/kb/search")
    async def search(request: Request, q: str = "") -> Response:
        viewer = console.kb_reader(request)
        query = q.strip()
        ctx: dict[str, Any] = {"q": query, "results": [], "error": ""}
        if len(query) > MAX_QUERY:
            ctx["error"] = f"搜索内容过长，请精简到 {MAX_QUERY} 字以内。"
        elif query:
            ranked = await asyncio.to_thread(console.services.engine.rank, query, RESULTS)
            hits = [
                h
                for h in ranked
                if h.hit.coverage >= 0.5 or h.confidence >= decide.clarify_threshold
            ]
            rows = {r.id: r for r in await console.services.db.read(lambda: _rows(console))}
            terms = query_terms(query)
            for h in hits:
                row = rows.get(h.article.id)
                if row is None or row.retired:  # retired since the index was built
                    continue
                ctx["results"].append(
                    {
                        "row": row,
                        "title": marked(row.title, match_spans(row.title, terms)),
                        "snippet": snippet(row.body, terms),
                        "answer": h.confidence >= decide.answer_threshold,
                    }
                )
        return console.render(request, viewer, "kb_search.html", ctx)

    @router.get("/kb/new")
    async def new_page(request: Request) -> Response:
        return editor(request, console.engineer(request), Draft(), None)

    @router.post("/kb/new")
    async def create(request: Request) -> Response:
        viewer = console.engineer(request)
        form = await console.form(request, viewer)
        return await save(request, viewer, _draft(form), None, problem_tickets(form))

    @router.post("/kb/preview")
    async def preview(request: Request) -> Response:
        viewer = console.engineer(request)
        form = await console.form(request, viewer)
        based_on = _based_on(form)
        draft = _draft(form)
        if based_on is not None and await _read_row(console, draft.id) is None:
            raise HTTPException(404)
        clean, masked = draft.redacted(console.services.redact)
        return editor(request, viewer, draft, based_on, preview=markdown(clean.body), masked=masked)

    @router.get("/kb/{article_id}")
    async def article_page(request: Request, article_id: str, n: str = "") -> Response:
        viewer = console.kb_reader(request)
        row = await _read_row(console, article_id)
        if row is None:
            raise HTTPException(404)
        article = row.to_article()
        steps, rest = steps_and_rest(article)
        feedback = None
        if viewer.is_engineer:  # how the bot's answers with it fared (flagged: 需复核)
            found = await console.services.db.read(
                lambda: article_feedback(console.db, only=article_id)
            )
            feedback = found[0] if found else None
        return console.render(
            request,
            viewer,
            "kb_article.html",
            {
                "feedback": feedback,
                "row": row,
                "article": article,
                "steps": markdown(steps) if steps else "",
                "body": markdown(rest),
                "flash": NOTICES.get(n, ""),
                "flash_kind": "error" if n in ERROR_NOTICES else "ok",
                "max_reason": kb_retire.MAX_REASON,
            },
        )

    @router.get("/kb/{article_id}/history")
    async def history(request: Request, article_id: str, v: str = "") -> Response:
        viewer = console.kb_reader(request)
        row = await _read_row(console, article_id)
        if row is None:
            raise HTTPException(404)
        versions = await console.services.db.read(lambda: article_history(console.db, article_id))
        shown = next((x for x in versions if str(x.version) == v), None)
        if v and shown is None:
            raise HTTPException(404)
        return console.render(
            request,
            viewer,
            "kb_history.html",
            {
                "row": row,
                "versions": versions[::-1],
                "shown": shown,
                "web_source": WEB_SOURCE,
                "events": await console.services.db.read(
                    lambda: kb_retire.retire_events(console, article_id)
                ),
                "can_erase": "lead" in viewer.roles,
                "erased": request.query_params.get("n") == "erased",
            },
        )

    @router.get("/kb/{article_id}/edit")
    async def edit_page(request: Request, article_id: str) -> Response:
        viewer = console.engineer(request)
        row = await _read_row(console, article_id)
        if row is None:
            raise HTTPException(404)
        return editor(request, viewer, Draft.of(row.to_article()), row.version)

    @router.post("/kb/{article_id}/edit")
    async def edit(request: Request, article_id: str) -> Response:
        viewer = console.engineer(request)
        form = await console.form(request, viewer)
        based_on = _based_on(form)
        if await _read_row(console, article_id) is None or based_on is None:
            raise HTTPException(404)
        return await save(
            request, viewer, _draft(form, article_id), based_on, problem_tickets(form)
        )

    async def save(
        request: Request,
        viewer: Viewer,
        draft: Draft,
        based_on: int | None,
        adopting: tuple[str, ...] = (),
    ) -> Response:
        """Save an edit; ``adopting``: the tickets of the common problem the draft came from,
        whose 需要新文章 labels then name this article (``bot.kb.loop``)."""
        kept = {"from_problem": {"tickets": adopting}} if adopting else {}
        clean, masked = draft.redacted(console.services.redact)
        today = dt.datetime.now(console.zone).date()
        try:
            article = clean.to_article(today)
            result = await live.save(article, viewer.engineer_id or "", based_on)
        except ArticleError as err:
            field = err.field if err.field in FIELD_LABELS else "body"
            errors = {field: problem_text(err)}
            return editor(request, viewer, draft, based_on, 400, errors=errors, **kept)
        except EditConflict as conflict:
            if based_on is None:
                errors = {"id": f"编号 {draft.id} 已被其他文章使用，请换一个。"}
                return editor(request, viewer, draft, None, 409, errors=errors, **kept)
            if conflict.current_version is None:
                raise HTTPException(404) from None
            # the input is kept and now based on the newer version: saving again, after
            # looking at it, overwrites it knowingly
            current = conflict.current_version
            return editor(request, viewer, draft, current, 409, conflict=conflict, **kept)
        ip = console.client_ip(request)
        await console.services.db.write(
            lambda: console.store.audit(
                viewer.audit_name,
                "kb_create" if based_on is None else "kb_edit",
                article.id,
                f"v{result.version} {result.outcome}" + (" masked" if masked else ""),
                ip,
            )
        )
        if adopting:
            await console.services.db.writing(
                LabelStore(console.db).adopt, adopting, article.id, viewer.engineer_id or ""
            )
        if not result.indexed:
            notice = "stale"
        elif result.outcome == "unchanged":
            notice = "unchanged"
        else:
            notice = "masked" if masked else "saved"
        return RedirectResponse(f"/kb/{article.id}?n={notice}", status_code=303)

    return router
