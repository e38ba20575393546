"""Text normalisation and lexical terms for colloquial Chinese support chat.

Chinese is matched on character unigrams and bigrams rather than segmented words: a word
segmenter trained on news splits "医保结算" or "单边账" unpredictably and fails on typos, while
character n-grams degrade gracefully. Latin runs are kept whole (error codes such as ORA-01653,
transaction numbers such as 2207, acronyms such as LIS) because they are the most precise signal
a user can paste. Hospital staff also write pinyin initials (yb = 医保); those are expanded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

#: Common Chinese surnames, for finding a person's name in chat text (the redaction of names
#: after 患者/病人, a colleague called by name). Left out: those that more often start an
#: ordinary word in hospital chat — 高 (高血压), 余 (余额), 金 (金额), 方 (方面) …; a caller that
#: has a stronger context (a title right after the name) adds them back.
COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶苏魏吕丁"
    "沈姚卢姜崔钟谭陆汪范石廖贾夏韦付邹孟熊秦邱江尹薛闫段雷侯龙陶黎贺顾毛郝龚邵覃戴莫孔"
)
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "司徒", "公孙",
)  # fmt: skip

#: Pinyin-initial shorthand seen in hospital chats. Only whole Latin tokens are expanded, and a
#: token may be a run of several (``ybjs`` = 医保 + 结算).
SHORTHAND: dict[str, str] = {
    "yb": "医保",
    "zy": "住院",
    "mz": "门诊",
    "sf": "收费",
    "js": "结算",
    "gh": "挂号",
    "tf": "退费",
    "fp": "发票",
    "dy": "打印",
    "bl": "病历",
    "dzbl": "电子病历",
    "hs": "护士",
    "ys": "医生",
    "yz": "医嘱",
    "yf": "药房",
    "yk": "药库",
    "cy": "出院",
    "ry": "入院",
    "jc": "检查",
    "jy": "检验",
    "sjk": "数据库",
    "fwq": "服务器",
    "zyh": "住院号",
    "mzh": "门诊号",
    "hsz": "护士站",
    "ysz": "医生站",
    "xt": "系统",
    "cw": "财务",
    "bb": "报表",
    "dz": "对账",
    "dm": "对码",
}

#: @mentions: platform usernames are Latin; a Chinese display name is only known to end where
#: whitespace follows (or, after a space, where the message ends). Otherwise just the "@" goes,
#: never the text glued to it.
_MENTION = re.compile(r"@[a-z0-9_.]{2,32}\b|@[^\s@]{1,12}\s|(?<=\s)@[^\s@]{1,12}$|@")
_LATIN_RUN = re.compile(r"[a-z0-9][a-z0-9._\-]*[a-z0-9]|[a-z0-9]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_MAX_SHORTHAND = max(len(k) for k in SHORTHAND)

#: Characters so common in questions that on their own they carry no topic.
STOP_CHARS = frozenset(
    "的了吗呢吧啊呀么是我你他她它们在有就都也还又和与及或把被这那哪个怎么样什为啥没不要会能可以一下请问下上中里到给让说看用了过着啦嘛哦哈好"
)


def _traditional_to_simplified() -> dict[int, str]:
    """The ``str.translate`` table of ``traditional.txt`` (OpenCC's single characters): a
    message typed in traditional characters (an input method left on 繁體, staff from Hong
    Kong or Taiwan) reads as the simplified KB does. None of its characters occurs in our
    simplified KBs and message sets, so simplified text is read exactly as before."""
    table: dict[int, str] = {}
    path = Path(__file__).with_name("traditional.txt")
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            traditional, simplified = line.split("\t")
            table[ord(traditional)] = simplified
    return table


_SIMPLIFIED = _traditional_to_simplified()


class _Invisible(dict[int, int | None]):
    """``str.translate`` table that deletes format characters (category Cf: zero-width
    spaces and joiners, BOM, bidi marks) and control characters other than whitespace, so
    ``医\u200b保`` reads as 医保. Looked up per code point and remembered."""

    def __missing__(self, code: int) -> int | None:
        char = chr(code)
        category = unicodedata.category(char)
        gone = category == "Cf" or (category == "Cc" and not char.isspace())
        self[code] = None if gone else code
        return self[code]


_INVISIBLE = _Invisible()


def simplified(text: str) -> str:
    """Traditional characters replaced by simplified ones, nothing else changed."""
    return text.translate(_SIMPLIFIED)


def visible(text: str) -> str:
    """NFKC (full-width → half-width), lower case, simplified characters, invisible
    characters deleted: the text every reader (retrieval, the message classifier) starts
    from. Each character maps to one, so positions in it are positions in the NFKC text."""
    return unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).lower().translate(_SIMPLIFIED)


def normalise(text: str) -> str:
    """``visible`` text with @mentions and runs of whitespace removed."""
    text = visible(text)
    text = _MENTION.sub(" ", text)
    return " ".join(text.split())


def _split_shorthand(token: str) -> list[str] | None:
    """Split a Latin token into known shorthand pieces, or None if it is not all shorthand."""
    if not token.isalpha() or len(token) < 2:
        return None
    pieces: list[str] = []
    i = 0
    while i < len(token):
        for size in range(min(_MAX_SHORTHAND, len(token) - i), 1, -1):
            piece = token[i : i + size]
            if piece in SHORTHAND:
                pieces.append(SHORTHAND[piece])
                i += size
                break
        else:
            return None
    return pieces


def expand_shorthand(text: str) -> str:
    """Replace pinyin-initial tokens (``yb``, ``zyh``, ``ybjs``) with their Chinese words."""

    def repl(m: re.Match[str]) -> str:
        pieces = _split_shorthand(m.group(0))
        return "".join(pieces) if pieces else m.group(0)

    # not inside file, host or column names (main.js, hs_err.log, his.yb.gov.cn)
    return re.sub(r"(?<![a-z0-9._\-])[a-z]{2,8}(?![a-z0-9._\-])", repl, text)


def prepare_query(text: str) -> str:
    """The text a retriever sees for a user message."""
    return expand_shorthand(normalise(text))


def latin_tokens(text: str) -> list[str]:
    """Whole Latin/number runs (``ora-01653``, ``2207``, ``his``) of normalised text."""
    return _LATIN_RUN.findall(text)


def lexical_terms(text: str) -> list[str]:
    """Terms for the lexical index: CJK unigrams (minus stop characters) and bigrams, and Latin
    tokens both whole and split at punctuation (``ora-01653`` → ``ora-01653``, ``ora``, ``01653``).

    Prefixes keep the term kinds apart (``c:`` character, ``b:`` bigram, ``w:`` Latin word).
    """
    text = normalise(text)
    terms: list[str] = []
    for run in _CJK_RUN.findall(text):
        terms.extend("c:" + ch for ch in run if ch not in STOP_CHARS)
        terms.extend("b:" + run[i : i + 2] for i in range(len(run) - 1))
    for tok in latin_tokens(text):
        terms.append("w:" + tok)
        parts = [p for p in re.split(r"[._\-]", tok) if p]
        if len(parts) > 1:
            terms.extend("w:" + p for p in parts)
    return terms


def content_bigrams(terms: Sequence[str]) -> set[str]:
    """The bigram terms of ``terms`` without a stop character: the ones that name a topic."""
    return {t for t in terms if t.startswith("b:") and not STOP_CHARS.intersection(t[2:])}


def cjk_runs(text: str) -> list[str]:
    """The runs of CJK characters in ``text`` (Chinese has no spaces: a run is a "word")."""
    return _CJK_RUN.findall(text)
