"""Text formatting as the Telegram Bot API server does it, for the fake server.

``render()`` turns the ``text``/``caption`` a bot sent (with its ``parse_mode`` or ``entities``)
into what Telegram stores and returns: the plain text plus ``MessageEntity`` dicts with UTF-16
offsets. Parse errors mimic the real server's ``400 Bad Request: can't parse entities: ...``
messages (they follow TDLib's parser), so a bot that sends broken HTML or an unescaped ``.`` in
MarkdownV2 fails in tests the way it fails in production.

Deliberate simplifications: MarkdownV2 block quotes (``>`` at line start) are accepted but yield
no entity; legacy ``Markdown`` and ``MarkdownV2`` pre blocks take a language only from the first
line; nested same-type entities are not merged.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["EntityParseError", "detect_entities", "render", "utf16_len"]


class EntityParseError(ValueError):
    """Raised with the text Telegram puts after ``Bad Request: can't parse entities: ``."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Bot API entity offset and length."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Builder:
    """Accumulates output text while tracking its UTF-16 length."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.pos += utf16_len(s)

    def entity(self, type_: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            length = self.pos - start
            self.entities.append({"type": type_, "offset": start, "length": length, **extra})

    def text(self) -> str:
        return "".join(self.parts)


# --------------------------------------------------------------------------------------- HTML

_HTML_TAGS = {
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{1,10});")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR_RE = re.compile(r"""\s*([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")


def _html_char_ref(ref: str) -> str | None:
    if ref.startswith("#"):
        try:
            code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
            return chr(code)
        except (ValueError, OverflowError):
            return None
    return _HTML_NAMED.get(ref)


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    # stack entries: tag name, entity type or None, start offset, extra fields (mutable)
    stack: list[tuple[str, str | None, int, dict[str, Any]]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            ch = _html_char_ref(m.group(1)) if m else None
            if m and ch is not None:
                out.add(ch)
                i = m.end()
            else:  # unknown entities are left as they are
                out.add("&")
                i += 1
            continue
        if c != "<":
            out.add(c)
            i += 1
            continue
        offset = _byte_offset(text, i)
        if i + 1 < n and text[i + 1] == "/":
            j = text.find(">", i)
            if j < 0:
                raise EntityParseError(f"Unclosed end tag at byte offset {offset}")
            name = text[i + 2 : j].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
            open_name, etype, start, extra = stack.pop()
            if name != open_name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", '
                    f'found "</{name}>"'
                )
            if etype is not None:
                out.entity(etype, start, **extra)
            i = j + 1
            continue
        j = i + 1
        while j < n and not text[j].isspace() and text[j] not in ">/":
            j += 1
        name = text[i + 1 : j].lower()
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
        if name not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] == "/" and j + 1 < n and text[j + 1] == ">":
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
            if text[j] == ">":
                break
            m = _ATTR_RE.match(text, j)
            if not m or m.end() == j:
                raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
            value = m.group(2) or ""
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            attrs[m.group(1).lower()] = html.unescape(value)
            j = m.end()
        i = j + 1
        etype: str | None
        extra: dict[str, Any] = {}
        if name in _HTML_SIMPLE:
            etype = _HTML_SIMPLE[name]
        elif name == "span":
            if attrs.get("class") != "tg-spoiler":
                raise EntityParseError('Tag "span" must have class "tg-spoiler"')
            etype = "spoiler"
        elif name == "a":
            href = attrs.get("href", "")
            m_user = re.fullmatch(r"tg://user\?id=(\d+)", href)
            if m_user:
                etype = "text_mention"
                extra = {"user": {"id": int(m_user.group(1)), "is_bot": False, "first_name": ""}}
            elif href:
                etype, extra = "text_link", {"url": href}
            else:
                etype = None
        elif name == "tg-emoji":
            if "emoji-id" not in attrs:
                raise EntityParseError('Tag "tg-emoji" must have attribute "emoji-id"')
            etype, extra = "custom_emoji", {"custom_emoji_id": attrs["emoji-id"]}
        elif name == "blockquote":
            etype = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        elif name == "pre":
            etype = "pre"
        else:  # code
            lang = attrs.get("class", "")
            if stack and stack[-1][0] == "pre" and lang.startswith("language-"):
                stack[-1][3]["language"] = lang[len("language-") :]
                etype = None
            else:
                etype = "code"
        stack.append((name, etype, out.pos, extra))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), out.entities


# ------------------------------------------------------------------------- legacy Markdown


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i, n = 0, len(text)
    types = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        error = EntityParseError(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
        )
        start = out.pos
        if text.startswith("```", i):
            j = text.find("```", i + 3)
            if j < 0:
                raise error
            inner = text[i + 3 : j]
            language = ""
            first, sep, rest = inner.partition("\n")
            if sep and first and re.fullmatch(r"[\w+#-]+", first):
                language, inner = first, rest
            out.add(inner)
            out.entity("pre", start, **({"language": language} if language else {}))
            i = j + 3
        elif c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise error
            out.add(text[i + 1 : j])
            i = j + 1
            if i < n and text[i] == "(":
                k = text.find(")", i + 1)
                if k >= 0:
                    url = text[i + 1 : k]
                    if url:
                        out.entity("text_link", start, url=url)
                    i = k + 1
        else:
            j = text.find(c, i + 1)
            if j < 0:
                raise error
            out.add(text[i + 1 : j])
            out.entity(types[c], start)
            i = j + 1
    return out.text(), out.entities


# ------------------------------------------------------------------------------ MarkdownV2

_V2_RESERVED = "_*[]()~`>#+-=|{}.!"
_V2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
    "custom_emoji": "CustomEmoji",
}
_V2_CLOSERS = {
    "bold": "*",
    "italic": "_",
    "underline": "__",
    "strikethrough": "~",
    "spoiler": "||",
    "text_link": "]",
    "custom_emoji": "]",
    "code": "`",
    "pre": "```",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[dict[str, Any]] = []  # type, start, byte offset, extra
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        top = stack[-1]["type"] if stack else None
        reserved = "`" if top in ("code", "pre") else _V2_RESERVED
        if c not in reserved:
            out.add(c)
            i += 1
            continue
        closer = _V2_CLOSERS.get(top or "")
        if closer is not None and text.startswith(closer, i):
            entry = stack.pop()
            i += len(closer)
            extra = entry["extra"]
            if entry["type"] in ("text_link", "custom_emoji"):
                url = ""
                if i < n and text[i] == "(":
                    j = i + 1
                    chars: list[str] = []
                    while j < n and text[j] != ")":
                        if text[j] == "\\" and j + 1 < n:
                            j += 1
                        chars.append(text[j])
                        j += 1
                    if j >= n:
                        raise EntityParseError(
                            f"Can't find end of a url at byte offset {_byte_offset(text, i)}"
                        )
                    url = "".join(chars)
                    i = j + 1
                if entry["type"] == "custom_emoji":
                    m = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                    if not m:
                        raise EntityParseError("Custom emoji URL must have an emoji identifier")
                    extra = {"custom_emoji_id": m.group(1)}
                elif not url:
                    continue
                else:
                    extra = {"url": url}
            out.entity(entry["type"], entry["start"], **extra)
            continue
        offset = _byte_offset(text, i)
        extra: dict[str, Any] = {}
        if c == "_":
            etype = "underline" if text.startswith("__", i) else "italic"
            i += 2 if etype == "underline" else 1
        elif c == "*":
            etype = "bold"
            i += 1
        elif c == "~":
            etype = "strikethrough"
            i += 1
        elif c == "|" and text.startswith("||", i):
            etype = "spoiler"
            i += 2
        elif c == "[":
            etype = "text_link"
            i += 1
        elif c == "!" and text.startswith("![", i):
            etype = "custom_emoji"
            i += 2
        elif c == "`" and text.startswith("```", i):
            etype = "pre"
            i += 3
            nl = text.find("\n", i)
            if nl >= 0 and re.fullmatch(r"[\w+#-]*", text[i:nl]):
                if text[i:nl]:
                    extra = {"language": text[i:nl]}
                i = nl + 1
        elif c == "`":
            etype = "code"
            i += 1
        elif c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # block quote marker: accepted, no entity (see module docstring)
            continue
        else:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        stack.append({"type": etype, "start": out.pos, "offset": offset, "extra": extra})
    if stack:
        e = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_V2_NAMES[e['type']]} entity at byte offset {e['offset']}"
        )
    return out.text(), out.entities


# --------------------------------------------------------------------- automatic entities

_AUTO_PATTERNS = [
    ("url", re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)\]}'，。；：！？）]")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
]


def detect_entities(text: str, taken: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Entities Telegram finds by itself (commands, mentions, URLs, e-mails, hashtags).

    Ranges already covered by ``taken`` entities are skipped. Offsets are UTF-16 units.
    """
    spans = [(e["offset"], e["offset"] + e["length"]) for e in taken or []]
    found: list[dict[str, Any]] = []
    for etype, pattern in _AUTO_PATTERNS:
        for m in pattern.finditer(text):
            start = utf16_len(text[: m.start()])
            end = start + utf16_len(m.group(0))
            if any(s < end and start < e for s, e in spans):
                continue
            spans.append((start, end))
            found.append({"type": etype, "offset": start, "length": end - start})
    return found


def _sort(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def render(
    text: str,
    parse_mode: str | None = None,
    entities: list[dict[str, Any]] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` as Telegram would store the message.

    Raises ``EntityParseError`` for markup Telegram rejects and ``ValueError`` for an unknown
    parse mode. Leading and trailing whitespace is trimmed like the real server does.
    """
    if entities:
        plain, ents = text, [dict(e) for e in entities]
    elif not parse_mode:
        plain, ents = text, []
    else:
        mode = parse_mode.lower()
        if mode == "html":
            plain, ents = _parse_html(text)
        elif mode == "markdown":
            plain, ents = _parse_markdown(text)
        elif mode == "markdownv2":
            plain, ents = _parse_markdown_v2(text)
        else:
            raise ValueError(parse_mode)
    stripped = plain.lstrip()
    lead = utf16_len(plain) - utf16_len(stripped)
    plain = stripped.rstrip()
    total = utf16_len(plain)
    trimmed = []
    for e in ents:
        start = max(0, e["offset"] - lead)
        end = min(total, e["offset"] - lead + e["length"])
        if end > start:
            trimmed.append({**e, "offset": start, "length": end - start})
    trimmed += detect_entities(
        plain, [e for e in trimmed if e["type"] in ("code", "pre", "text_link", "url")]
    )
    return plain, _sort(trimmed)
