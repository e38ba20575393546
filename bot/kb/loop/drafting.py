"""Drafts from a problem's tickets: a new article in the KB format, or — when an article
nearly covers the problem — the hospitals' phrasings to add to it instead of a duplicate.

Every text taken from a ticket passes the one redaction gate (``bot.privacy.gate.clean``)
before it is placed in a draft: a resolution that named a patient must not reach the KB.
A draft is not in the KB: an engineer edits and publishes it (the console's editor, or a file
and ``hisbot kb import``), and the bot answers with it from that save on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.kb.loop.problems import Coverage, Problem, ProblemItem
from bot.privacy.gate import clean
from kb_index.articles import Article, parse_article

#: Phrasings put in a draft's ``questions`` (the KB's own guidance is a few short ones).
MAX_QUESTIONS = 3
#: Phrasings proposed for an existing article at once.
MAX_NEW_PHRASINGS = 5
MAX_TITLE = 40
#: Exact tokens worth a tag: Oracle and HTTP errors, 医保 transaction numbers, versions.
_TOKEN = re.compile(r"[A-Za-z]{2,5}-?\d{3,5}|(?<![\d.])\d{4}(?![\d.])")
_SENTENCES = re.compile(r"(?<=[。；;！!\n])")
_CAUSE = re.compile(r"原因|因为|由于|导致")
_LEADING_NUMBER = re.compile(r"^\s*(?:\d+[.、)）]|[-*·])\s*")
DRAFT_SOURCE = "draft"


@dataclass(frozen=True)
class PhrasingProposal:
    """Add these phrasings to an existing article's ``questions`` (no new article)."""

    article_id: str
    phrasings: tuple[str, ...]

    def apply(self, article: Article) -> Article:
        """The article with the phrasings added (its own kept first, no repeats)."""
        merged = tuple(dict.fromkeys((*article.questions, *self.phrasings)))
        return parse_article(
            Article(
                article.id,
                article.title,
                article.category,
                article.module,
                article.tags,
                merged,
                article.updated,
                article.body,
            ).to_markdown(),
            DRAFT_SOURCE,
        )


def propose(
    problem: Problem,
    existing: Callable[[str], Article | None],
    today: dt.date,
    module_of: Callable[[Problem], str] = lambda p: "",
) -> Article | PhrasingProposal | None:
    """What to do about a problem: nothing (covered), phrasings for the near article, or a
    new article's draft."""
    if problem.coverage in (Coverage.COVERED, Coverage.NOT_KB):
        return None
    near = existing(problem.article_id) if problem.article_id else None
    if problem.coverage is Coverage.NEAR and near is not None:
        known = {_key(q) for q in (near.title, *near.questions)}
        # a question an engineer labelled otherwise (none, new, another article) is not one
        # of this article's phrasings, whatever the clustering said
        agreeing = [i for i in problem.items if i.label is None or i.label_article == near.id]
        fresh = [q for q in _phrasings(problem, agreeing) if _key(q) not in known]
        return PhrasingProposal(near.id, tuple(fresh[:MAX_NEW_PHRASINGS])) if fresh else None
    return draft_article(problem, today, module_of(problem))


def proposed_article(
    proposal: Article | PhrasingProposal, existing: Callable[[str], Article | None]
) -> Article:
    """The article a proposal would publish: the draft itself, or the near article with the
    phrasings added (``KeyError`` when that article is gone)."""
    if isinstance(proposal, Article):
        return proposal
    near = existing(proposal.article_id)
    if near is None:
        raise KeyError(proposal.article_id)
    return proposal.apply(near)


def draft_article(problem: Problem, today: dt.date, module: str = "") -> Article:
    """A new article from the problem's questions and its tickets' resolutions, redacted,
    validated like a KB file."""
    phrasings = _phrasings(problem)
    title = phrasings[0][:MAX_TITLE]
    resolutions = [clean(r) for r in problem.resolutions]
    sentences = [s.strip() for r in resolutions for s in _SENTENCES.split(r) if s.strip()]
    causes = [s for s in sentences if _CAUSE.search(s)]
    steps = list(dict.fromkeys(_LEADING_NUMBER.sub("", s) for s in sentences if s not in causes))
    tickets = "、".join(f"#{n}" for n in problem.tickets[:8]) or "（未建工单的提问）"
    body = "\n".join(
        [
            "## 现象",
            f"{title}。",
            f"近期共 {len(problem.items)} 次提问，来自 {len(problem.hospitals)} 家医院，例如：",
            *(f"- {q}" for q in phrasings[:5]),
            "",
            "## 原因",
            *(causes or ["（待补充：请根据处理记录写明原因）"]),
            "",
            "## 处理步骤",
            *(f"{n}. {s}" for n, s in enumerate(steps, start=1)),
            *([] if steps else ["1. （待补充：工单尚无处理记录）"]),
            "",
            "## 注意",
            f"本文为草稿，由工单 {tickets} 的提问与处理记录生成；发布前请工程师核对并修改。",
        ]
    )
    draft = Article(
        id=_draft_id(problem),
        title=title,
        category=problem.category,
        module=clean(module) or "未分类",
        tags=tuple(dict.fromkeys(m.group(0) for q in phrasings for m in _TOKEN.finditer(q)))[:8],
        questions=tuple(phrasings[1 : 1 + MAX_QUESTIONS]),
        updated=today,
        body=body,
    )
    return parse_article(draft.to_markdown(), DRAFT_SOURCE)


def _phrasings(problem: Problem, items: Sequence[ProblemItem] | None = None) -> list[str]:
    """The group's questions (or ``items``) as the hospitals asked them, redacted, most
    frequent first, one per wording (punctuation and spacing ignored)."""
    seen: dict[str, str] = {}
    counts: dict[str, int] = {}
    for item in problem.items if items is None else items:
        text = _one_line(clean(item.text))
        key = _key(text)
        if not key:
            continue
        seen.setdefault(key, text)
        counts[key] = counts.get(key, 0) + 1
    keys = sorted(seen, key=lambda k: (-counts[k], len(seen[k]), seen[k]))
    return [seen[k] for k in keys]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:120]


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def problem_key(problem: Problem) -> str:
    """A short name for a group that stays the same while its questions do."""
    digest = hashlib.sha256("\n".join(sorted(i.key for i in problem.items)).encode())
    return digest.hexdigest()[:8]


def _draft_id(problem: Problem) -> str:
    """Stable for the same group: ``draft-<category>-<problem key>``."""
    return f"draft-{problem.category}-{problem_key(problem)}"


def common_module(problem: Problem, candidates: Sequence[Article]) -> str:
    """The module most of the engine's candidates for the problem belong to (the HIS module
    the hospitals were in), or "" when there are none."""
    modules = Counter(a.module for a in candidates if a.module)
    return min(modules, key=lambda m: (-modules[m], m)) if modules else ""
