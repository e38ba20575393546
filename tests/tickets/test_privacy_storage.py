"""The storage side of the redaction gate, on SQLite and PostgreSQL (issue 13, items 2, 17):
whatever store writes a personal-text column, it is masked and rid of control characters —
PostgreSQL refuses NUL in text, which used to drop a message or a whole KB import."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.kb.importing import import_kb
from bot.tickets import TicketStore
from kb_index.store import KbArticle, KbArticleVersion

ARTICLE = """+++
id = "{id}"
title = "{title}"
category = "usage"
module = "门诊"
updated = 2026-01-01
+++
## 现象
{symptom}

## 处理步骤
1. 重启客户端。
"""


def test_a_nul_byte_and_a_phone_never_reach_a_ticket(store: TicketStore) -> None:
    ticket = store.open_ticket(
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id="42",
        reporter_name="家属\x00138 1234 5678",
        source_platform="telegram",
        source_chat_id="-1001001",
        source_message_id="7",
        question="发票\x00打不出，电话13812345678",
        category="usage",
        thread=[("hospital", "家属", "发票\x00打不出", ticket_time())],
    )
    stored = store.get(ticket.number)
    assert stored.question == "发票打不出，电话[手机号]"
    assert stored.reporter_name == "家属[手机号]"
    assert [m.text for m in store.messages(ticket.number)] == ["发票打不出"]


def ticket_time():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2026, 3, 2, 8, 0)


def test_one_kb_file_with_a_nul_byte_does_not_stop_the_import(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text(
        ARTICLE.format(id="kb-a", title="发票打印", symptom="打印\x00卡住"), encoding="utf-8"
    )
    (tmp_path / "b.md").write_text(
        ARTICLE.format(id="kb-b", title="挂号", symptom="患者电话13812345678打不通"),
        encoding="utf-8",
    )
    result = import_kb(engine, tmp_path)
    assert sorted(result.report.added) == ["kb-a", "kb-b"]
    assert sorted(result.cleaned) == ["kb-a", "kb-b"]
    with Session(engine) as session:
        bodies = {a.id: a.body for a in session.exec(select(KbArticle))}
        versions = [v.markdown for v in session.exec(select(KbArticleVersion))]
    assert "\x00" not in bodies["kb-a"] and "[手机号]" in bodies["kb-b"]
    assert not any("13812345678" in v or "\x00" in v for v in versions)
    again = import_kb(engine, tmp_path)  # the cleaned article is what is compared: no churn
    assert sorted(again.report.unchanged) == ["kb-a", "kb-b"]
