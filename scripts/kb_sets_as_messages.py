"""Write the KB query sets as one labelled message corpus, to judge the message triage on them.

The KB query sets were written to judge answers, but every query is also a group message the
triage must pass on (questions), raise (outages) or leave alone (chit-chat, talk between people).
A classifier that reads story-told questions as talk between people silences questions nobody
would see again, so each candidate classifier is judged on these messages as well as on the blind
message sets (`eval/prereg/`). Kinds map as the bot decides them: faq / out-of-kb / pii →
question, urgent → outage, chitchat and people as they are.

    .venv/bin/python scripts/kb_sets_as_messages.py --out /tmp/kbsets.jsonl [--exclude tcm eyehospital]
    .venv/bin/hisbot kb eval-classifier /tmp/kbsets.jsonl --json

``--group a`` writes only the 1st, 3rd, 5th … KB in sorted order: the questions and outages the
classifier's scope head learns from (``hisbot kb train-classifier --scope-corpus``). ``--group b``
writes the others, heldout-lay and the shared dev set: the guard that head is judged on, never
trained on (``eval/prereg/2026-12-08-twenty-first-session.txt``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from intents.evaluate import read_queries

ROOT = Path(__file__).resolve().parent.parent
#: The message class the bot should take each query kind for (``intents.evaluate.KINDS``).
LABEL_OF_KIND = {
    "faq": "question",
    "out-of-kb": "question",
    "pii": "question",
    "urgent": "outage",
    "chitchat": "chitchat",
    "people": "people",
    "notice": "notice",
}
#: Kept unmeasured for a candidate's pre-registered test (README, "Measured figures").
RESERVED = ("tcm", "eyehospital")


def query_files(exclude: tuple[str, ...], group: str = "all") -> list[Path]:
    """Every KB's query set but the excluded, then heldout-lay and the shared dev set if present;
    ``group`` "a" keeps every other KB (from the first) and nothing more, "b" all the rest."""
    files = [
        kb / "queries.jsonl"
        for kb in sorted((ROOT / "eval" / "kbs").iterdir())
        if kb.name not in exclude and (kb / "queries.jsonl").is_file()
    ]
    if group == "a":
        return files[0::2]
    if group == "b":
        files = files[1::2]
    files += sorted((ROOT / "eval" / "heldout-lay").glob("*.jsonl"))
    shared = ROOT.parent / "shared" / "eval" / "queries-dev.jsonl"
    if shared.is_file():
        files.append(shared)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--exclude", nargs="*", default=list(RESERVED))
    parser.add_argument("--group", choices=("all", "a", "b"), default="all")
    args = parser.parse_args()
    written = 0
    with args.out.open("w", encoding="utf-8") as out:
        for path in query_files(tuple(args.exclude), args.group):
            # read_queries checks every line (keys, kind) and names the bad ones
            for query in read_queries(path):
                message = {
                    "id": f"{path.parent.name}/{query.id}",
                    "text": query.query,
                    "label": LABEL_OF_KIND[query.kind],
                }
                out.write(json.dumps(message, ensure_ascii=False) + "\n")
                written += 1
    print(f"{written} messages → {args.out}")


if __name__ == "__main__":
    main()
