"""Mask personal data (PII) in text before it is stored, logged, shown or passed on.

Hospital chats carry patient data, and none of it may reach the knowledge base, the logs, a
ticket or another hospital. Only the PII is replaced. Every other character stays as typed,
because engineers need the error codes, 医保 transaction numbers, dates, versions, amounts and
addresses around it.

What is masked (``PiiSpan.kind``), each replaced by a placeholder that names it:

* ``id_card``: 18-character resident IDs and 15-digit first-generation IDs, however grouped
  (``110101 19900307 4518``, ``sfz110101…``), and any value after 身份证/证件号
  (``[身份证号]``).
* ``mobile``: mainland mobiles ``1[3-9]x xxxx xxxx`` in any usual grouping (spaces, dots,
  slashes, dashes, a line break), optionally led by ``+86``, ``(+86)``, ``0086`` or ``86``;
  ``phone``: any 7+ digit value after 电话/手机/联系方式 (``[手机号]``, ``[电话]``).
* ``medical_record``: the value after a label such as 住院号 or 门诊号, and every value of a
  list after it. The label stays and only the value is replaced: ``住院号：[住院号]``.
* ``bank_card``: 16 to 19 digits that pass Luhn, in one run or in groups of 4.
* ``name``: a name after 患者/病人/家属 (a common surname and up to two characters) or after
  姓名 (``[姓名]``).

Digits are read however they are written: full-width, other scripts, Chinese numerals in runs
(一三八…), with invisible characters between them (see ``fold``). Numbers stand alone: a
number glued to ASCII letters or digits belongs to a longer token (a transaction serial, a
hex code) and is kept, unless the letters are a prefix word such as ``ID``, ``sfz`` or
``tel``. Spans index the original text, and the original is what stays outside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.redact import labels, numbers
from bot.redact.fold import fold
from bot.redact.hits import Hit, PiiKind

__all__ = ["PiiKind", "PiiSpan", "find_pii", "redact", "redact_lines"]


@dataclass(frozen=True)
class PiiSpan:
    """``text[start:end]`` is PII of ``kind``. Spans are sorted and never overlap."""

    start: int
    end: int
    kind: PiiKind


def _merge(hits: Iterable[Hit]) -> list[Hit]:
    """Overlapping hits become one span named by the earliest, longest, best-ranked hit.
    Taking the union, not picking one, keeps every digit that any detector claims masked."""
    merged: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end, h.rank)):
        if merged and hit.start < merged[-1].end:
            if hit.end > merged[-1].end:
                merged[-1] = merged[-1]._replace(end=hit.end)
        else:
            merged.append(hit)
    return merged


def _scan(text: str) -> list[Hit]:
    """Find hits, then blank them and search again until nothing new turns up.

    Masking a number can show that its neighbour stands alone. In ``7890 138 1234 5678`` the
    card's last group ``7890`` only looks longer while the mobile next to it is still there.
    Searching to a fixed point makes ``redact`` idempotent: a second pass sees what the
    first pass ended with.
    """
    work = list(fold(text))
    found: list[Hit] = []
    while True:
        folded = "".join(work)
        hits = [*labels.candidates(folded), *numbers.candidates(numbers.hide_engineering(folded))]
        new = _merge(hits)
        if not new:
            return sorted(found)
        found += new
        for hit in new:
            work[hit.start : hit.end] = numbers.FILL * (hit.end - hit.start)


def find_pii(text: str) -> list[PiiSpan]:
    """The PII spans of ``text``: sorted, non-overlapping, indexing the original string."""
    return [PiiSpan(h.start, h.end, h.kind) for h in _merge(_scan(text))]


def redact(text: str) -> str:
    """``text`` with every PII span replaced by its placeholder. The rest stays as typed, so
    the result can be stored in tickets and logs. ``redact(redact(t)) == redact(t)``."""
    parts: list[str] = []
    pos = 0
    for hit in _merge(_scan(text)):
        parts += (text[pos : hit.start], hit.mask)
        pos = hit.end
    parts.append(text[pos:])
    return "".join(parts)


#: ``redact_lines`` masks at most this many characters at once when no blank line comes.
_BLOCK_CHARS = 64 * 1024


def redact_lines(lines: Iterable[str]) -> Iterator[str]:
    """Mask a stream of lines (``hisbot redact`` on stdin), a paragraph at a time, so a number
    broken over two lines is still found; line endings stay as they were. A paragraph ends at
    a blank line (or after 64 KB), and is yielded line by line once it has ended."""
    block: list[str] = []
    size = 0
    for line in lines:
        block.append(line)
        size += len(line)
        if not line.strip() or size >= _BLOCK_CHARS:
            yield from redact("".join(block)).splitlines(keepends=True)
            block, size = [], 0
    if block:
        yield from redact("".join(block)).splitlines(keepends=True)
