"""Reading labelled JSONL files (query sets, message corpora) with errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_objects(
    path: Path, error: type[ValueError]
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(line number, object) of every non-blank line, and one ``file:line: problem`` per bad
    line. A file that cannot be read at all raises ``error``."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not valid UTF-8 (byte {exc.start})") from exc
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[str] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{n}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{path}:{n}: expected a JSON object")
            continue
        rows.append((n, obj))
    return rows, errors
