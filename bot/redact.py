"""Mask patient personal data (PII) in chat text before it is stored, logged or passed on.

Hospital chats carry patient data, and none of it may reach the knowledge base, the logs, a
ticket or another hospital. Ticket text is stored through this module too, so masking must
be exact. Only the PII is replaced. Every other character stays as typed, because engineers
need the error codes, 医保 transaction numbers, dates, versions, amounts and addresses
around it.

What is masked (``PiiSpan.kind``), each replaced by a placeholder that names it:

* ``id_card``: 18-character resident IDs and 15-digit first-generation IDs (``[身份证号]``).
* ``mobile``: mainland mobiles ``1[3-9]x xxxx xxxx``, written straight or grouped 3-4-4 with
  spaces or dashes, optionally led by ``+86``, ``(+86)``, ``0086`` or ``86`` (``[手机号]``).
* ``medical_record``: the value after a label such as 住院号 or 门诊号. The label stays and
  only the value is replaced, e.g. ``住院号：[住院号]`` (see ``_LABELS``).
* ``bank_card``: 16 to 19 digits that pass Luhn, optionally in groups of 4 (``[银行卡号]``).

A number counts only if it stands alone. When an ASCII letter or digit touches it, it belongs
to a longer token such as a transaction serial or a hex code, and it is left alone. So a
20-digit run is never read as "an ID plus two digits". Full-width characters (``１３８``,
``：``) are folded to ASCII for detection only. The folding maps one character to one
character, so spans index the original text, and the original is what stays outside the
spans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal, NamedTuple

PiiKind = Literal["id_card", "mobile", "medical_record", "bank_card"]


@dataclass(frozen=True)
class PiiSpan:
    """``text[start:end]`` is PII of ``kind``. Spans are sorted and never overlap."""

    start: int
    end: int
    kind: PiiKind


_MASKS: dict[PiiKind, str] = {
    "id_card": "[身份证号]",
    "mobile": "[手机号]",
    "bank_card": "[银行卡号]",
}  # a medical_record value is masked with its label's name, see _LABELS

#: Label (lower case) → placeholder of its value. Besides the Chinese labels come the pinyin
#: initials that HIS databases use as column names (ZYH, MZH, BLH, BAH, JZKH), because
#: engineers paste SQL such as ``where zyh='2023001'`` into the chat.
_LABELS: dict[str, str] = {
    "住院号": "[住院号]",
    "住院号码": "[住院号]",
    "zyh": "[住院号]",
    "门诊号": "[门诊号]",
    "门诊号码": "[门诊号]",
    "mzh": "[门诊号]",
    "病历号": "[病历号]",
    "病历号码": "[病历号]",
    "blh": "[病历号]",
    "病案号": "[病案号]",
    "病案号码": "[病案号]",
    "bah": "[病案号]",
    "就诊卡号": "[就诊卡号]",
    "就诊卡号码": "[就诊卡号]",
    "jzkh": "[就诊卡号]",
    "id号": "[患者ID]",
    "患者id": "[患者ID]",
    "病人id": "[患者ID]",
}

#: Full-width ASCII (U+FF01..U+FF5E) and the ideographic space fold to ASCII, one to one.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

#: Stands in for a span once it is found. No pattern matches it, so the span cannot be found
#: again or grow, and its neighbours see what they will see once it is masked.
_FILL = "#"

_NOT_AFTER_ALNUM = r"(?<![0-9A-Za-z])"
_NOT_BEFORE_ALNUM = r"(?![0-9A-Za-z])"

_ID = re.compile(
    _NOT_AFTER_ALNUM + r"[1-9](?:[0-9]{16}[0-9Xx]|[0-9]{14})" + _NOT_BEFORE_ALNUM, re.ASCII
)

_MOBILE = re.compile(
    r"(?:\(\+?86\)[ -]?|\+86[ -]?|"  # these prefixes start with punctuation: no bound needed
    + _NOT_AFTER_ALNUM
    + r"(?:0086[ -]?|86)?)"
    + r"1[3-9][0-9]([ -]?)[0-9]{4}\1[0-9]{4}"  # 3-4-4, with one separator throughout
    + _NOT_BEFORE_ALNUM,
    re.ASCII,
)

# Grouped form: a longer run of groups is one longer number, not a card plus change.
_CARD = re.compile(
    _NOT_AFTER_ALNUM
    + r"(?:[0-9]{16,19}"
    + r"|(?<![0-9][ -])[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?(?![ -][0-9]))"
    + _NOT_BEFORE_ALNUM,
    re.ASCII,
)

_VALUE = r"(?P<value>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)"
_ASCII_LABELS = "|".join(sorted((k for k in _LABELS if k.isascii()), key=len, reverse=True))
_CJK_LABELS = "|".join(sorted((k for k in _LABELS if not k.isascii()), key=len, reverse=True))
_LABEL = re.compile(
    rf"(?P<label>(?<![A-Za-z0-9_])(?:{_ASCII_LABELS})(?![A-Za-z0-9_])|{_CJK_LABELS})"
    + r"[ \t]*(?:[:=]|是|为)?[ \t]*['\"]?"
    + _VALUE,
    re.ASCII | re.IGNORECASE,
)
#: Further values of an enumeration: 住院号2023001、2023002.
_NEXT_VALUE = re.compile(r"[ \t]*、[ \t]*" + _VALUE, re.ASCII)

#: First two digits of a resident ID: provinces, plus 71/81/82 (Taiwan, Hong Kong, Macao)
#: and 83 (residence permits for Taiwan residents).
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Where overlapping hits start together, the lowest rank names the span. A label is the
# writer's own word for the value. A valid ID beats a Luhn match. An ID with a wrong check
# digit loses to an 18-digit card that passes Luhn.
_RANK_LABEL, _RANK_ID, _RANK_MOBILE, _RANK_CARD, _RANK_ID_TYPO = range(5)


class _Hit(NamedTuple):
    start: int
    end: int
    rank: int
    kind: PiiKind
    mask: str


def _id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _is_birth_date(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= date.today().year:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _id_rank(number: str) -> int | None:
    """How sure we are that ``number`` (15 or 18 characters) is a resident ID, or None.

    An 18-character ID always needs a real birth date (year 1900 to this year). With a
    matching check digit that is enough. That tier also covers numbers outside the province
    list, such as the 9-prefixed permanent residence IDs of foreigners. A wrong check digit
    is still masked when the first two digits are a province. One mistyped digit always
    breaks the check digit, yet the other 17 still give the patient's region and birthday.
    Few other numbers have that shape: about 1 random number in 5,000, and serials that
    start with a year (20...) fail the province test. A 15-digit ID has no check digit, so
    it always needs both the province and the date.
    """
    province_ok = int(number[:2]) in _PROVINCES
    if len(number) == 15:
        born = _is_birth_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
        return _RANK_ID if province_ok and born else None
    if not _is_birth_date(int(number[6:10]), int(number[10:12]), int(number[12:14])):
        return None
    if _id_check_digit(number[:17]) == number[17].upper():
        return _RANK_ID
    return _RANK_ID_TYPO if province_ok else None


def _luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check, as used by bank card numbers."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_card_prefix(digits: str) -> bool:
    """Issuers seen on cards in China: 3 (JCB, Amex), 4 (Visa), 5 and 2221-2720 (Mastercard),
    6 (UnionPay) and 9 (old domestic debit cards). The test leaves out serial numbers that
    start with a year (20...) or a zero, which pass Luhn one time in ten."""
    return digits[0] in "34569" or 2221 <= int(digits[:4]) <= 2720


def _candidates(text: str) -> Iterator[_Hit]:
    for m in _LABEL.finditer(text):
        mask = _LABELS[m.group("label").lower()]
        value: re.Match[str] | None = m
        while value is not None and _is_record_value(value.group("value")):
            yield _Hit(
                value.start("value"), value.end("value"), _RANK_LABEL, "medical_record", mask
            )
            value = _NEXT_VALUE.match(text, value.end("value"))
    for m in _ID.finditer(text):
        rank = _id_rank(m.group())
        if rank is not None:
            yield _Hit(m.start(), m.end(), rank, "id_card", _MASKS["id_card"])
    for m in _MOBILE.finditer(text):
        yield _Hit(m.start(), m.end(), _RANK_MOBILE, "mobile", _MASKS["mobile"])
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if _is_card_prefix(digits) and _luhn_ok(digits):
            yield _Hit(m.start(), m.end(), _RANK_CARD, "bank_card", _MASKS["bank_card"])


def _is_record_value(value: str) -> bool:
    """A record number has a digit and 3+ characters, so that 住院号为10位 and
    病历号 error are left alone."""
    return len(value) >= 3 and any(c.isdigit() for c in value)


def _merge(hits: Iterable[_Hit]) -> list[_Hit]:
    """Overlapping hits become one span named by the earliest, longest, best-ranked hit.
    Taking the union, not picking one, keeps every digit that any detector claims masked."""
    merged: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end, h.rank)):
        if merged and hit.start < merged[-1].end:
            if hit.end > merged[-1].end:
                merged[-1] = merged[-1]._replace(end=hit.end)
        else:
            merged.append(hit)
    return merged


def _scan(text: str) -> list[_Hit]:
    """Find hits, then blank them and search again until nothing new turns up.

    Masking a number can show that its neighbour stands alone. In ``7890 138 1234 5678`` the
    card's last group ``7890`` only looks longer while the mobile next to it is still there.
    Searching to a fixed point makes ``redact`` idempotent: a second pass sees what the
    first pass ended with.
    """
    work = list(text.translate(_FOLD))
    found: list[_Hit] = []
    while new := _merge(_candidates("".join(work))):
        found += new
        for hit in new:
            work[hit.start : hit.end] = _FILL * (hit.end - hit.start)
    return sorted(found)


def find_pii(text: str) -> list[PiiSpan]:
    """The PII spans of ``text``: sorted, non-overlapping, indexing the original string."""
    return [PiiSpan(h.start, h.end, h.kind) for h in _scan(text)]


def redact(text: str) -> str:
    """``text`` with every PII span replaced by its placeholder. The rest stays as typed, so
    the result can be stored in tickets and logs. ``redact(redact(t)) == redact(t)``."""
    parts: list[str] = []
    pos = 0
    for hit in _scan(text):
        parts += (text[pos : hit.start], hit.mask)
        pos = hit.end
    parts.append(text[pos:])
    return "".join(parts)


def redact_lines(lines: Iterable[str]) -> Iterator[str]:
    """Mask a stream line by line, lazily, for ``hisbot redact`` on stdin. Line endings stay
    as they were, because no pattern crosses a line break."""
    for line in lines:
        yield redact(line)
