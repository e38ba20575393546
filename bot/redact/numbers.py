"""Numbers that identify a person by their shape: resident IDs, mobiles and bank cards.

People group and break numbers as they like (``110101 19900307 4518``, ``138.1234.5678``,
``138/1234/5678``, a line break in the middle), so detection works on *groups*: runs of
digits, chained when one to three separator characters (spaces, tabs, line breaks, ``.``,
``-``, ``/``, invisible characters) stand between them. A candidate is a few consecutive whole
groups in a grouping people use, checked like a lone number (birth date, check digit, Luhn).
Groups are never cut, so the digits of ``2207`` are never read as part of a mobile next to it.

A group touching an ASCII letter belongs to a longer token (``TXN13812345678``, a hex code)
and is left alone, unless the letters are a word people put before such numbers (``sfz``,
``ID``, ``tel``). IP addresses and dates are taken out before grouping, so ``13.81.234.56``
is never a mobile.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from bot.redact.hits import MASKS, RANK_CARD, RANK_ID, RANK_ID_TYPO, RANK_MOBILE, Hit

#: Separator characters between the groups of one number (after folding).
SEPARATORS = " \t\r\n./-_\\"
_GROUP = re.compile(r"[0-9]+")
_GAP = re.compile(f"[{re.escape(SEPARATORS)}]{{1,3}}")
_PREFIX_WORD = re.compile(r"(?<![A-Za-z])(?:sfzh?|id|tel|phone|mobile|sjh?|dh|no)$", re.I)
_COUNTRY_CODE = re.compile(r"(?:\(\+?86\)|\+86|(?<![0-9A-Za-z])0086)[ \-]?$")
_IP = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
_DATE = re.compile(r"(?<![0-9])(19|20)[0-9]{2}([-/.])[0-9]{1,2}\2[0-9]{1,2}(?![0-9])")
#: Stands in for what detection must not see again (a found span, an IP, a date).
FILL = "\x00"

#: Groupings of each kind's digits that people write, beyond one run and a two-part split
#: (a line break or a space anywhere).
_MOBILE_GROUPINGS = {(3, 4, 4), (4, 4, 3), (3, 3, 5)}
_ID_GROUPINGS = {(6, 8, 4), (6, 4, 4, 4), (3, 3, 4, 4, 4), (6, 4, 2, 2, 4), (6, 6, 3)}
_MAX_GROUPS = 5

#: First two digits of a resident ID: provinces, plus 71/81/82 (Taiwan, Hong Kong, Macao)
#: and 83 (residence permits for Taiwan residents).
_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class _Group:
    start: int
    end: int  # past the digits, or past a trailing ID check letter X
    digits: str
    free_left: bool  # no letter glued on the left (or a prefix word such as "ID")
    free_right: bool  # no letter glued on the right


def hide_engineering(text: str) -> str:
    """IP addresses and dates replaced by ``FILL``: they are never personal numbers, and
    their dots and dashes would otherwise chain them to their neighbours."""
    for pattern in (_IP, _DATE):
        text = pattern.sub(lambda m: FILL * len(m.group()), text)
    return text


def _groups(text: str) -> list[_Group]:
    groups = []
    for m in _GROUP.finditer(text):
        start, end, digits = m.start(), m.end(), m.group()
        if end < len(text) and text[end] in "Xx" and not _glued(text, end + 1):
            end, digits = end + 1, digits + "X"
        free_left = start == 0 or not text[start - 1].isascii() or not text[start - 1].isalpha()
        if not free_left:
            free_left = _PREFIX_WORD.search(text, max(0, start - 8), start) is not None
        groups.append(_Group(start, end, digits, free_left, not _glued(text, end)))
    return groups


def _glued(text: str, pos: int) -> bool:
    return pos < len(text) and text[pos].isascii() and text[pos].isalnum()


def _chains(text: str) -> Iterator[list[_Group]]:
    """Groups joined by short runs of separators (a trailing X ends a chain)."""
    chain: list[_Group] = []
    for group in _groups(text):
        if chain and (
            chain[-1].digits.endswith("X") or not _GAP.fullmatch(text, chain[-1].end, group.start)
        ):
            yield chain
            chain = []
        chain.append(group)
    if chain:
        yield chain


def candidates(text: str) -> Iterator[Hit]:
    """Every ID, mobile and card in ``text`` (already folded, engineering numbers hidden)."""
    for chain in _chains(text):
        for i, first in enumerate(chain):
            if not first.free_left:
                continue
            for j in range(i, min(i + _MAX_GROUPS, len(chain))):
                last = chain[j]
                if not last.free_right:
                    continue
                if any(g.digits.endswith("X") for g in chain[i:j]):
                    break
                yield from _judge(text, chain, i, j)


def _judge(text: str, chain: list[_Group], i: int, j: int) -> Iterator[Hit]:
    """What groups ``i..j`` of a chain are together: an ID, a mobile, a card (or nothing)."""
    parts = chain[i : j + 1]
    sizes = tuple(len(g.digits) for g in parts)
    digits = "".join(g.digits for g in parts)
    start, end = parts[0].start, parts[-1].end
    usual = len(parts) <= 2
    if len(digits) in (15, 18) and (usual or sizes in _ID_GROUPINGS):
        rank = _id_rank(digits)
        if rank is not None:
            yield Hit(start, end, rank, "id_card", MASKS["id_card"])
    if "X" in digits:
        return
    mobile = _mobile_digits(digits, sizes, usual)
    if mobile:
        code = _COUNTRY_CODE.search(text, max(0, start - 6), start)
        if code:
            start = code.start()
        elif start and text[start - 1] == "+":
            start -= 1
        yield Hit(start, end, RANK_MOBILE, "mobile", MASKS["mobile"])
    if (
        16 <= len(digits) <= 19
        and _card_grouping(chain, i, j, sizes, text)
        and _is_card_prefix(digits)
        and _luhn_ok(digits)
    ):
        yield Hit(start, end, RANK_CARD, "bank_card", MASKS["bank_card"])


def _mobile_digits(digits: str, sizes: tuple[int, ...], usual: bool) -> bool:
    """A mobile, once a leading 86 or 0086 (its own group or glued on) is taken off."""
    for code in ("0086", "86"):
        if digits.startswith(code) and len(digits) == 11 + len(code):
            digits = digits[len(code) :]
            rest = sizes[0] - len(code)
            sizes = (rest, *sizes[1:]) if rest > 0 else sizes[1:]
            usual = len(sizes) <= 2
            break
    if len(digits) != 11 or digits[0] != "1" or digits[1] not in "3456789":
        return False
    return usual or sizes in _MOBILE_GROUPINGS


def _card_grouping(chain: list[_Group], i: int, j: int, sizes: tuple[int, ...], text: str) -> bool:
    """One run; or a whole chain: two parts (a line break anywhere), or fours (the last group
    1-3) with one separator throughout. A longer run of groups is one longer number, not a
    card plus change."""
    if i == j:
        return True
    if i != 0 or j != len(chain) - 1:
        return False
    gaps = {text[chain[k].end : chain[k + 1].start] for k in range(i, j)}
    fours = len(gaps) == 1 and all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4
    return len(sizes) == 2 or (len(sizes) >= 4 and fours)


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
    is still masked when the first two digits are a province: one mistyped digit always
    breaks the check digit, yet the other 17 still give the patient's region and birthday.
    A 15-digit ID has no check digit, so it always needs both the province and the date.
    """
    if not number[:17].isdigit() or (len(number) == 15 and not number.isdigit()):
        return None
    province_ok = int(number[:2]) in _PROVINCES
    if len(number) == 15:
        born = _is_birth_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
        return RANK_ID if province_ok and born else None
    if not _is_birth_date(int(number[6:10]), int(number[10:12]), int(number[12:14])):
        return None
    if _id_check_digit(number[:17]) == number[17].upper():
        return RANK_ID
    return RANK_ID_TYPO if province_ok else None


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
