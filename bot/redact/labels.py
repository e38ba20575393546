"""Values people announce with a label (住院号：…, 电话 …, 身份证 …) and names after 患者.

The label stays and only the value is replaced: ``住院号为：[住院号]``. Between label and
value people put anything from nothing to ``为：（``; a value may be written in groups
(``2023 0016``, ``ZY-2023-001``), and one label may introduce a list
(``住院号2023001,2023002、2023003``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from bot.redact.hits import MASKS, RANK_LABEL, RANK_PHONE_LABEL, Hit, PiiKind
from kb_index.text import COMMON_SURNAMES, COMPOUND_SURNAMES

#: Label (lower case) → placeholder of a medical record number. Besides the Chinese labels
#: come the pinyin initials that HIS databases use as column names (ZYH, MZH, BLH, BAH,
#: JZKH), because engineers paste SQL such as ``where zyh='2023001'`` into the chat.
RECORD_LABELS: dict[str, str] = {
    **dict.fromkeys(["住院号", "住院号码", "住院编号", "zyh"], "[住院号]"),
    **dict.fromkeys(["门诊号", "门诊号码", "门诊编号", "mzh"], "[门诊号]"),
    **dict.fromkeys(["病历号", "病历号码", "病历编号", "blh"], "[病历号]"),
    **dict.fromkeys(["病案号", "病案号码", "病案编号", "bah"], "[病案号]"),
    **dict.fromkeys(["就诊卡号", "就诊卡号码", "jzkh", "医保卡号", "社保卡号"], "[就诊卡号]"),
    **dict.fromkeys(["id号", "患者id", "病人id", "患者编号", "病人编号"], "[患者ID]"),
}
#: Labels of a phone number (any number of 7+ digits: landlines too) and of an ID number
#: (a typo or a cut ID still names the patient).
_PHONE_LABELS = ["手机号码", "手机号", "手机", "电话号码", "联系电话", "电话", "联系方式"]
_ID_LABELS = ["身份证号码", "身份证号", "身份证", "证件号码", "证件号", "sfzh", "sfz"]
_NAME_LABELS = ["姓名", "名字", "患者姓名", "病人姓名"]

_ALL = [*RECORD_LABELS, *_PHONE_LABELS, *_ID_LABELS]
_ASCII = "|".join(sorted((k for k in _ALL if k.isascii()), key=len, reverse=True))
_CJK = "|".join(sorted((k for k in _ALL if not k.isascii()), key=len, reverse=True))
#: What people put between a label and its value (after folding: full-width is ASCII).
_GAP = r"(?:[ \t:=#是为(\[【「『<《\"'“‘]){0,6}"
_LABEL = re.compile(
    rf"(?P<label>(?<![A-Za-z0-9_])(?:{_ASCII})(?![A-Za-z0-9_])|{_CJK}){_GAP}(?=[A-Za-z0-9])",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_JOIN = re.compile(r"[-./_]|[ \t]{1,2}")
_LIST_GAP = re.compile(r"[ \t]*[,;/、，；和及与][ \t]*|[ \t]+")

#: Characters that end a name: particles, verbs of the ward and the till, punctuation.
_NOT_IN_NAME = set(
    "的了在是和与及等说把被就都也还又要会能可已没不很个们来去到这那有为对从以住入出挂结缴费退做查检开办因所"
)
#: Surname + next character that is an ordinary word, not a name.
_NOT_NAMES = {
    "黄疸", "马上", "陆续", "叶酸", "何时", "何种", "何处", "谢谢", "许多", "许可", "曾经",
    "苏醒", "范围", "石膏", "付费", "付款", "陈述", "胡说", "周末", "周一", "周二", "周三",
    "周四", "周五", "周六", "周日", "龙头", "江湖", "毛病", "孔径", "钟点", "段时",
}  # fmt: skip
_CJK_CHAR = "\u4e00-\u9fff"
_NAME_AFTER = re.compile(
    rf"(?:患者|病人|病患|患儿|家属)[ :]{{0,2}}"
    rf"(?P<name>(?:{'|'.join(COMPOUND_SURNAMES)}|[{COMMON_SURNAMES}])[{_CJK_CHAR}]{{1,2}})"
)
_LABELLED_NAME = re.compile(
    rf"(?:{'|'.join(_NAME_LABELS)})[ :：是为叫]{{1,3}}"
    rf"(?P<name>(?:{'|'.join(COMPOUND_SURNAMES)}|[{COMMON_SURNAMES}])[{_CJK_CHAR}·]{{1,3}})"
)


def candidates(text: str) -> Iterator[Hit]:
    """Labelled values and names in ``text`` (already folded)."""
    for m in _LABEL.finditer(text):
        label = m.group("label").lower()
        if label in RECORD_LABELS:
            yield from _values(text, m.end(), "medical_record", RECORD_LABELS[label], _record)
        elif label in _PHONE_LABELS:
            for hit in _values(text, m.end(), "phone", MASKS["phone"], _phone):
                yield hit._replace(rank=RANK_PHONE_LABEL)
        else:
            yield from _values(text, m.end(), "id_card", MASKS["id_card"], _id_like)
    yield from _names(text)


def _record(value: str) -> bool:
    """A record number has a digit and 3+ characters, so that 住院号为10位 and
    病历号 error are left alone."""
    return len(value) >= 3 and any(c.isdigit() for c in value)


def _phone(value: str) -> bool:
    return sum(c.isdigit() for c in value) >= 7


def _id_like(value: str) -> bool:
    return sum(c.isdigit() for c in value) >= 6


def _value_end(text: str, start: int) -> int:
    """Where a value that starts at ``start`` ends: tokens joined by ``-./_``, or by a space
    when the token before is short (``2023 0016``) or letters only (``ZY 2023001``)."""
    m = _TOKEN.match(text, start)
    if m is None:
        return start
    end = m.end()
    while (gap := _JOIN.match(text, end)) and (nxt := _TOKEN.match(text, gap.end())):
        before = text[start:end].split()[-1] if gap.group().isspace() else ""
        if gap.group().isspace() and not (
            nxt.group().isdigit() and (len(before) <= 4 or before.isalpha())
        ):
            break
        end = nxt.end()
    return end


def _values(
    text: str, start: int, kind: PiiKind, mask: str, valid: Callable[[str], bool]
) -> Iterator[Hit]:
    """The value at ``start`` and each further value of a list after it, while ``valid``."""
    end = _value_end(text, start)
    first = text[start:end]
    while valid(text[start:end]):
        yield Hit(start, end, RANK_LABEL, kind, mask)
        gap = _LIST_GAP.match(text, end)
        if gap is None:
            return
        start = gap.end()
        end = _value_end(text, start)
        value = text[start:end]
        if gap.group().isspace() and (not value.isalnum() or abs(len(value) - len(first)) > 1):
            return  # a space-separated list holds values of one shape only


def _names(text: str) -> Iterator[Hit]:
    for m in _NAME_AFTER.finditer(text):
        name = m.group("name")
        if name[:2] in _NOT_NAMES:
            continue
        surname = 2 if name[:2] in COMPOUND_SURNAMES else 1
        if (length := _name_length(name, surname)) > surname:
            yield Hit(m.start("name"), m.start("name") + length, RANK_LABEL, "name", MASKS["name"])
    for m in _LABELLED_NAME.finditer(text):
        surname = 2 if m.group("name")[:2] in COMPOUND_SURNAMES else 1
        if (length := _name_length(m.group("name"), surname)) > surname:
            yield Hit(m.start("name"), m.start("name") + length, RANK_LABEL, "name", MASKS["name"])


def _name_length(name: str, surname: int) -> int:
    """How much of ``name`` is the name: the surname, then characters up to a particle."""
    length = surname
    while length < len(name) and name[length] not in _NOT_IN_NAME:
        length += 1
    return length
