"""Drafts as files, and their labels through the round trip.

``hisbot kb problems --drafts DIR`` writes each proposal as ``<id>.md`` and, beside it,
``<id>.tickets``: the problem's ticket numbers, one a line. The KB format has no field for
them (its parser rejects unknown fields, and a published article should not carry ticket
numbers), so they travel in a sidecar paired by file name: an engineer may change the article's
id inside the file. ``hisbot kb import DIR`` reads the sidecars after importing: an article the
import added or changed takes its tickets' 需要新文章 labels (``LabelStore.adopt``), as
publishing from the console does; re-importing unchanged files changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.kb.loop.labels import LabelStore, ticket_numbers
from bot.tickets.numbering import parse_number
from kb_index.articles import Article, ArticleError, read_article

TICKETS_SUFFIX = ".tickets"
_HEADER = (
    "# 本草稿来自这些工单的常见问题：文章随 hisbot kb import 发布后，"
    "它们的“需要新文章”标注改为指向该文章。与同名 .md 文件放在一起。\n"
)


def write_draft(folder: Path, article: Article, tickets: Sequence[str]) -> Path:
    """Write ``<id>.md`` and, when the problem has tickets, ``<id>.tickets`` beside it."""
    path = folder / f"{article.id}.md"
    path.write_text(article.to_markdown(), encoding="utf-8")
    sidecar = path.with_suffix(TICKETS_SUFFIX)
    if tickets:
        sidecar.write_text(_HEADER + "".join(f"{n}\n" for n in tickets), encoding="utf-8")
    else:  # a stale sidecar from an earlier run must not adopt this draft's labels
        sidecar.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class Adopted:
    """One sidecar's outcome: ``changed`` of its tickets' labels now name ``article_id``."""

    sidecar: Path
    article_id: str
    tickets: int
    changed: int


@dataclass(frozen=True)
class SidecarReport:
    adopted: tuple[Adopted, ...]
    #: Sidecars that could not be used, each with why (the import itself is not affected).
    warnings: tuple[str, ...]


def adopt_published(labels: LabelStore, folder: Path, published: Collection[str]) -> SidecarReport:
    """Move the labels of every sidecar in ``folder`` whose article is in ``published`` (the
    ids an import added or updated); the others are left alone."""
    adopted: list[Adopted] = []
    warnings: list[str] = []
    for sidecar in sorted(folder.rglob(f"*{TICKETS_SUFFIX}")):
        if not sidecar.is_file():
            continue
        try:
            text = sidecar.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            warnings.append(f"{sidecar}: cannot be read as UTF-8 text ({exc}); labels not moved")
            continue
        lines = (line for line in text.splitlines() if not _is_comment(line))
        numbers, rejected = ticket_numbers("\n".join(lines))
        if rejected:
            words = ", ".join(repr(w) for w in rejected[:5])
            warnings.append(f"{sidecar}: not ticket numbers, skipped: {words}")
        article_file = sidecar.with_suffix(".md")
        if not article_file.is_file():
            warnings.append(f"{sidecar}: no {article_file.name} beside it; labels not moved")
            continue
        try:
            article_id = read_article(article_file).id
        except ArticleError:  # the import has reported the file already
            continue
        if article_id in published and numbers:
            changed = labels.adopt(numbers, article_id, None)
            adopted.append(Adopted(sidecar, article_id, len(numbers), changed))
    return SidecarReport(tuple(adopted), tuple(warnings))


def _is_comment(line: str) -> bool:
    """``# …`` is a comment; ``#2026-000123`` is a ticket number as the desk writes it."""
    words = line.split()
    return bool(words) and words[0].startswith("#") and parse_number(words[0]) is None
