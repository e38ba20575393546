"""Progress bars for long operations: shown on a terminal, silent in pipes, logs and CI."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(total: int, desc: str) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callable; a no-op when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    bar = tqdm(total=total, desc=desc, unit="", leave=False, file=sys.stderr)
    try:
        yield bar.update
    finally:
        bar.close()
