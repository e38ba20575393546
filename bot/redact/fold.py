"""Fold text for detection, one character to one, so a span found in the fold indexes the
original text.

People write numbers with full-width digits (１３８), other scripts' digits (١٣٨, 𝟏𝟑𝟖),
Chinese numerals (一三八 or 幺三八) and invisible characters between them. The fold turns
each such character into its ASCII form (NFKC where it yields one character, then Unicode
digit values), every whitespace or invisible format character into one marker that patterns
treat as a separator, and a run of three or more Chinese numerals into digits. A single 一 is
left alone: it is a word (一直, 一下) far more often than a digit.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: What every whitespace and format (Cf) character folds to: a separator inside numbers.
SPACE = " "
#: Chinese numerals as read out digit by digit (幺 is how 1 is said in phone numbers).
_CHINESE_DIGITS = {c: str(i) for i, c in enumerate("〇一二三四五六七八九")} | {"零": "0", "幺": "1"}
_CHINESE_RUN = re.compile(f"[{''.join(_CHINESE_DIGITS)}]{{3,}}")


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    category = unicodedata.category(char)
    if char.isspace() or category == "Cf":
        return SPACE
    if category == "Nd":
        return str(unicodedata.decimal(char))
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1 and folded.isascii():
        return SPACE if folded.isspace() else folded
    return char


def fold(text: str) -> str:
    """``text`` folded for detection; ``len(fold(text)) == len(text)``."""
    folded = "".join(_fold_char(c) if not c.isascii() else c for c in text)
    return _CHINESE_RUN.sub(lambda m: "".join(_CHINESE_DIGITS[c] for c in m.group()), folded)
