"""Cutting a long text into pieces a platform takes, shared by the adapters: each passes its
own measure of length (Telegram counts UTF-16 code units, Slack its escaped characters)."""

from __future__ import annotations

from collections.abc import Callable


def split_at_lines(
    text: str,
    limit: int,
    measure: Callable[[str], int],
    prefix_fitting: Callable[[str, int], str],
) -> list[str]:
    """Chunks whose ``measure`` is at most ``limit``, cut after a line break when one is in the
    second half of the window (else hard), stripped, none empty. ``prefix_fitting(text, n)``:
    the longest prefix of ``text`` measuring at most ``n``. A first character longer than the
    limit on its own is cut alone rather than looping on an empty window."""
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            chunks.append(rest)
            break
        window = prefix_fitting(rest, limit)
        cut = window.rfind("\n")
        if cut < len(window) // 2:
            cut = max(1, len(window))
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            chunks.append(piece)
    return chunks
