"""Telegram's text arithmetic: every length and offset the Bot API uses is counted in UTF-16
code units (emoji and rare CJK characters outside the BMP count twice); so are ours."""

from __future__ import annotations


def utf16_len(text: str) -> int:
    """Length as the Bot API counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def u16_to_index(text: str, offset: int) -> int:
    """Python string index of a UTF-16 offset (clamped to the text)."""
    units = 0
    for i, ch in enumerate(text):
        if units >= offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def prefix_fitting(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose UTF-16 length is at most ``budget``."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > budget:
            return text[:i]
    return text
