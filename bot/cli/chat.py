"""``hisbot chat``: type as a hospital user and see what the bot would decide, and why.

This is the demo of the answer engine before any chat platform is configured: it imports the
KB folder and (re)builds the index when needed, then reads messages line by line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.infra.config import Settings
from bot.infra.db import make_engine
from bot.kb.importing import import_kb
from bot.kb.knowledge import answer_engine, build_index, embedder_for
from bot.redact import redact
from intents.decide import Decision, DecisionKind

_LABELS = {
    DecisionKind.ANSWER: "回答",
    DecisionKind.CONFIRM: "先确认",
    DecisionKind.CLARIFY: "请选择",
    DecisionKind.ESCALATE: "转工程师",
    DecisionKind.URGENT: "紧急故障",
    DecisionKind.SMALLTALK: "不打扰",
}


def render(decision: Decision) -> str:
    """The decision as the terminal shows it: kind, article, and the evidence."""
    lines = [f"[{decision.kind.value} · {_LABELS[decision.kind]}] {decision.reason}"]
    if decision.article:
        lines.append(
            f"  文章 {decision.article.id}: {decision.article.title}  (置信度 {decision.confidence:.2f})"
        )
    for i, art in enumerate(decision.choices, 1):
        lines.append(f"  {i}. {art.id}: {art.title}")
    if decision.candidates:
        lines.append(
            "  候选: "
            + "  ".join(f"{c.article.id}={c.confidence:.2f}" for c in decision.candidates[:3])
        )
    return "\n".join(lines)


def run_chat(
    settings: Settings,
    kb_dir: Path | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    db = make_engine(settings.storage_url)
    folder = kb_dir or settings.path(settings.kb.dir)
    if folder.is_dir():
        report = import_kb(db, folder).report
        for err in report.errors:
            print(f"warning: {err}", file=sys.stderr)
    embedder = embedder_for(settings)
    index, embedded, _ = build_index(settings, db, embedder)
    engine = answer_engine(settings, index, embedder)
    interactive = stdin.isatty()
    print(
        f"hisbot chat — {len(index)} articles ({embedded} newly embedded), model {embedder.model_id}",
        file=out,
    )
    print("以医院用户身份输入问题；空行跳过，Ctrl-D 退出。", file=out)
    while True:
        if interactive:
            out.write("> ")
            out.flush()
        line = stdin.readline()
        if not line:
            return 0
        text = line.rstrip("\n")
        if not text.strip():
            continue
        safe = redact(text)
        if safe != text:
            print(f"  (已脱敏: {safe})", file=out)
        print(render(engine.decide(safe)), file=out)
        out.flush()
