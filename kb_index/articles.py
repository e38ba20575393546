"""KB articles: Markdown files with TOML front matter between ``+++`` lines.

Parsing is strict and every error names the file and the field, because the people who edit the
KB are support engineers, not programmers, and "invalid article" tells them nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The service categories of the annual support contract.
CATEGORIES: tuple[str, ...] = (
    "consult",
    "install",
    "usage",
    "upgrade",
    "report",
    "data-fix",
    "insurance",
    "lis",
    "pacs",
    "data-report",
    "third-party",
)

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FENCE = "+++"
_KNOWN_FIELDS = {"id", "title", "category", "module", "tags", "questions", "updated"}


class ArticleError(ValueError):
    """An article that cannot be loaded; ``str()`` names the file and the field."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: field '{field}'" if field else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    category: str
    module: str
    tags: tuple[str, ...]
    questions: tuple[str, ...]
    updated: dt.date
    body: str

    @property
    def content_hash(self) -> str:
        """Hash of everything that is searched; a change here means the article is re-embedded."""
        h = hashlib.sha256()
        for part in (
            self.title,
            self.module,
            *self.tags,
            "\x1e",
            *self.questions,
            "\x1e",
            self.body,
        ):
            h.update(part.encode("utf-8"))
            h.update(b"\x1f")
        return h.hexdigest()

    @property
    def steps(self) -> str:
        """The ``处理步骤`` section if there is one, else the whole body: what a user should do."""
        section = section_text(self.body, ("处理步骤", "处理方法", "解决办法", "步骤"))
        return section or self.body.strip()

    def to_markdown(self) -> str:
        """Serialize back to the on-disk format (used by the web editor and for versions)."""

        def q(s: str) -> str:
            # a JSON string is a valid TOML basic string: quotes, backslashes, newlines and
            # control characters all come out escaped
            return json.dumps(s, ensure_ascii=False)

        lines = [
            _FENCE,
            f"id = {q(self.id)}",
            f"title = {q(self.title)}",
            f"category = {q(self.category)}",
            f"module = {q(self.module)}",
            "tags = [" + ", ".join(q(t) for t in self.tags) + "]",
            "questions = [" + ", ".join(q(t) for t in self.questions) + "]",
            f'updated = "{self.updated.isoformat()}"',
            _FENCE,
            self.body.rstrip() + "\n",
        ]
        return "\n".join(lines)


def section_text(body: str, names: tuple[str, ...]) -> str:
    """Text of the first ``## name`` section found, without its heading."""
    parts = re.split(r"(?m)^##\s+", body)
    for part in parts[1:]:
        heading, _, text = part.partition("\n")
        if heading.strip() in names:
            return text.strip()
    return ""


def parse_article(text: str, source: str) -> Article:
    """Parse one article's text; raise ``ArticleError`` naming ``source`` and the field."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise ArticleError(source, None, "must start with a '+++' line (TOML front matter)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise ArticleError(source, None, "front matter has no closing '+++' line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise ArticleError(source, None, f"front matter is not valid TOML: {exc}") from exc
    body = "\n".join(lines[end + 1 :]).strip()

    unknown = sorted(set(meta) - _KNOWN_FIELDS)
    if unknown:
        raise ArticleError(
            source, unknown[0], f"unknown field (known: {', '.join(sorted(_KNOWN_FIELDS))})"
        )

    def text_field(name: str) -> str:
        value = meta.get(name)
        if value is None:
            raise ArticleError(source, name, "missing")
        if not isinstance(value, str) or not value.strip():
            raise ArticleError(source, name, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def list_field(name: str, required: bool) -> tuple[str, ...]:
        value = meta.get(name, None)
        if value is None:
            if required:
                raise ArticleError(source, name, "missing")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ArticleError(source, name, "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    article_id = text_field("id")
    if not _ID_RE.match(article_id):
        raise ArticleError(
            source,
            "id",
            f"{article_id!r} is not a valid id (lower-case letters, digits, '-', '_', '.')",
        )
    category = text_field("category")
    if category not in CATEGORIES:
        raise ArticleError(
            source, "category", f"{category!r} is not one of {', '.join(CATEGORIES)}"
        )
    updated_raw = meta.get("updated")
    if isinstance(updated_raw, dt.datetime):
        updated = updated_raw.date()
    elif isinstance(updated_raw, dt.date):
        updated = updated_raw
    elif isinstance(updated_raw, str):
        try:
            updated = dt.date.fromisoformat(updated_raw.strip())
        except ValueError:
            raise ArticleError(
                source, "updated", f"{updated_raw!r} is not a date (YYYY-MM-DD)"
            ) from None
    elif updated_raw is None:
        raise ArticleError(source, "updated", "missing")
    else:
        raise ArticleError(source, "updated", f"{updated_raw!r} is not a date (YYYY-MM-DD)")
    if not body:
        raise ArticleError(source, "body", "is empty")
    return Article(
        id=article_id,
        title=text_field("title"),
        category=category,
        module=text_field("module"),
        tags=list_field("tags", required=False),
        questions=list_field("questions", required=False),
        updated=updated,
        body=body,
    )


def read_article(path: Path) -> Article:
    """Read and parse one file; invalid UTF-8 is an ``ArticleError``, not a traceback."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArticleError(str(path), None, f"cannot be read: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(str(path), None, f"is not valid UTF-8 (byte {exc.start})") from exc
    return parse_article(text, str(path))


@dataclass(frozen=True)
class FolderScan:
    """Articles read from a folder, and the files that were rejected (with why)."""

    articles: tuple[Article, ...]
    errors: tuple[ArticleError, ...]


def article_files(folder: Path) -> Iterator[Path]:
    """Markdown files of a KB folder in a stable order (README files are documentation)."""
    for path in sorted(folder.rglob("*.md")):
        if path.name.lower() != "readme.md" and path.is_file():
            yield path


def scan_folder(folder: Path) -> FolderScan:
    """Parse every article of ``folder``; a duplicate id rejects the later file, naming both."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: KB folder not found")
    articles: list[Article] = []
    errors: list[ArticleError] = []
    seen: dict[str, str] = {}
    for path in article_files(folder):
        try:
            article = read_article(path)
        except ArticleError as exc:
            errors.append(exc)
            continue
        if article.id in seen:
            errors.append(
                ArticleError(
                    str(path),
                    "id",
                    f"duplicate id {article.id!r}, already used by {seen[article.id]}",
                )
            )
            continue
        seen[article.id] = str(path)
        articles.append(article)
    return FolderScan(tuple(articles), tuple(errors))
