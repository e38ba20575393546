"""Write a labelled JSONL file (KB queries or group messages) typed in traditional characters,
to measure that the bot decides such messages as their simplified twins (README, "How a
message is decided"). Each character takes the first candidate of OpenCC's
``STCharacters.txt`` (Apache-2.0; from OpenCC or ``pip download opencc-python-reimplemented``):

    .venv/bin/python scripts/to_traditional.py PATH/STCharacters.txt IN.jsonl OUT.jsonl
    .venv/bin/hisbot kb eval --kb ../shared/eval/kb --queries OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dictionary", type=Path, help="OpenCC's STCharacters.txt")
    parser.add_argument("source", type=Path, help="JSONL with a 'query' or 'text' field")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    table: dict[int, str] = {}
    for line in args.dictionary.read_text(encoding="utf-8").splitlines():
        simplified, _, candidates = line.partition("\t")
        if len(simplified) == 1:
            table[ord(simplified)] = candidates.split(" ")[0]
    lines = []
    for line in args.source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            for field in ("query", "text"):
                if isinstance(row.get(field), str):
                    row[field] = row[field].translate(table)
            lines.append(json.dumps(row, ensure_ascii=False))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(lines)} lines")


if __name__ == "__main__":
    main()
