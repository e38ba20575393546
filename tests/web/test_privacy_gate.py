"""The one redaction gate (issue 13, item 2): personal data fed through every write path —
chat messages, sender names, attachment file names, engineers' replies, notes and
resolutions, hospital forms, KB edits and imports, link labels — is found in no text column
of any table afterwards, and the playground shows what is stored (item 4)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, String, select
from sqlmodel import Session, SQLModel

from adapters.base import Attachment, ChatRef, IncomingMessage, Sender
from bot.kb.importing import import_kb
from bot.privacy.gate import NOT_PERSONAL, PERSONAL_TEXT
from tests.web.conftest import WebEnv
from tests.web.test_kb_pages import NEW_ARTICLE
from tests.web.test_playground import Chat, ticket_number

#: One distinct mobile or ID per write path, so a leak names its path.
PII = {
    "chat text": "13812345601",
    "chat sender": "13812345602",
    "attachment name": "110101199003074518",
    "engineer reply": "13812345604",
    "engineer note": "13812345605",
    "engineer resolution": "13812345606",
    "hospital form reporter": "13812345607",
    "hospital form question": "13812345608",
    "hospital follow-up name": "13812345609",
    "hospital follow-up text": "13812345610",
    "kb web module": "13812345611",
    "kb import module": "13812345612",
    "kb import body": "13812345613",
    "kb retire reason": "13812345614",
    "link label": "13812345615",
}
#: How they are written: split and spaced as people do.
WRITTEN = {path: f"{n[:3]} {n[3:7]}.{n[7:]}" if len(n) == 11 else n for path, n in PII.items()}


def text_type(column: Column[Any]) -> Any:
    """The column's SQL type under SQLModel's AutoString decorator."""
    return getattr(column.type, "impl", column.type)


def is_text(column: Column[Any]) -> bool:
    return isinstance(text_type(column), String)


def leaks(db: object) -> list[str]:
    """Every (table.column, path) whose text still holds a path's digits, however spaced."""
    found = []
    with Session(db) as session:  # type: ignore[call-overload]
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if is_text(c)]
            for row in session.execute(select(*columns)) if columns else []:
                for column, value in zip(columns, row, strict=True):
                    digits = re.sub(r"\D", "", value or "")
                    found += [
                        f"{table.name}.{column.name}: {path}"
                        for path, number in PII.items()
                        if number in digits
                    ]
    return found


async def wait_until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_personal_data_through_every_write_path_is_stored_nowhere(
    web: WebEnv, tmp_path: Path
) -> None:
    services = web.app.services
    # a hospital user in the playground: text and display name
    hospital = await web.as_hospital("h001")
    chat = await Chat.open(hospital)
    shown = await chat.say(
        f"手术麻醉系统的排班表怎么导出？回电 {WRITTEN['chat text']}",
        name=f"家属{WRITTEN['chat sender']}",
    )
    notice = await chat.wait_for(lambda m: "已为您登记工单" in m["text"])
    number = ticket_number(notice["text"])
    # item 4: the chat shows what is stored, to everyone
    assert "[手机号]" in shown["text"] and "[手机号]" in shown["sender"]
    assert services.tickets.get(number).question in shown["text"]
    assert notice["quote"] is not None and "[手机号]" in notice["quote"]["text"]  # the bot's quote

    # an attachment in the ticket's thread. The notice's link is recorded right after it is
    # sent; the chat's lane would queue this reply behind that, but it is handed to the
    # pipeline directly here, so wait for the link first
    await wait_until(lambda: services.links.ticket_for("web", "h001", notice["id"]) is not None)
    await web.app.pipeline.on_message(
        IncomingMessage(
            chat=ChatRef("web", "h001"),
            message_id="att-1",
            sender=Sender("u9", "收费处"),
            text="截图",
            sent_at=dt.datetime.now(dt.UTC),
            reply_to_message_id=notice["id"],
            attachments=(Attachment("document", "f1", file_name=f"{PII['attachment name']}.pdf"),),
        )
    )
    await wait_until(lambda: any("截图" in m.text for m in services.tickets.messages(number)))

    # the engineer on the web: claim, reply, note, resolve
    engineer = await web.login()
    for action, text in [
        ("claim", ""),
        ("reply", f"请家属回电 {WRITTEN['engineer reply']}"),
        ("note", f"家属电话 {WRITTEN['engineer note']}"),
        ("resolve", f"已电话 {WRITTEN['engineer resolution']} 联系处理"),
    ]:
        r = await web.post_form(
            engineer, f"/tickets/{number}/{action}", {"text": text}, f"/tickets/{number}"
        )
        assert r.status_code == 303, (action, r.text)
    relayed = await chat.wait_for(lambda m: "请家属回电" in m["text"])
    assert PII["engineer reply"] not in re.sub(r"\D", "", relayed["text"])

    # the hospital registers a ticket on the web and adds to it
    r = await web.post_form(
        hospital,
        "/tickets/new",
        {
            "reporter": f"收费处 {WRITTEN['hospital form reporter']}",
            "category": "usage",
            "urgency": "P3",
            "question": f"发票打不出，患者电话{WRITTEN['hospital form question']}",
        },
        "/tickets/new",
    )
    assert r.status_code == 303, r.text
    form_ticket = r.headers["location"].split("/")[2].split("?")[0]
    r = await web.post_form(
        hospital,
        f"/tickets/{form_ticket}/message",
        {
            "name": f"李{WRITTEN['hospital follow-up name']}",
            "text": f"补充：{WRITTEN['hospital follow-up text']}",
        },
        f"/tickets/{form_ticket}",
    )
    assert r.status_code == 303, r.text

    # the KB: a web edit, a file import (with a NUL byte), a retirement; a link label
    article = {**NEW_ARTICLE, "module": f"自助服务{WRITTEN['kb web module']}"}
    r = await web.post_form(engineer, "/kb/new", article, "/kb/new")
    assert r.status_code in (200, 303), r.text
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "x.md").write_text(
        '+++\nid = "hb-990"\ntitle = "测试文章"\ncategory = "usage"\n'
        f'module = "门诊{WRITTEN["kb import module"]}"\nupdated = 2026-01-01\n+++\n'
        f"## 现象\n电话{WRITTEN['kb import body']}\x00\n\n## 处理步骤\n1. 重启。\n",
        encoding="utf-8",
    )
    imported = import_kb(web.app.db, folder)
    assert imported.report.added == ("hb-990",) and imported.cleaned == ("hb-990",)
    r = await web.post_form(
        engineer, "/kb/hb-003/retire", {"reason": f"问 {WRITTEN['kb retire reason']}"}, "/kb/hb-003"
    )
    assert r.status_code == 303, r.text
    web.store.create_link("h002", label=f"信息科 {WRITTEN['link label']}")
    await services.ticket_flow.reply_to_hospital(  # the same call the chat desk makes
        form_ticket,
        services.registry.get_engineer("e02"),
        "已处理",  # type: ignore[arg-type]
    )

    assert leaks(web.app.db) == []


def test_every_free_text_column_is_classified() -> None:
    """A new unbounded text column must be put in PERSONAL_TEXT (masked, erasable) or in
    NOT_PERSONAL (with a reason) before it can hold anything."""
    import bot.app  # noqa: F401  - every model module

    unclassified = []
    for table in SQLModel.metadata.sorted_tables:
        for column in table.columns:
            if is_text(column) and text_type(column).length is None:
                listed = PERSONAL_TEXT.get(table.name, ()) + NOT_PERSONAL.get(table.name, ())
                if column.name not in listed:
                    unclassified.append(f"{table.name}.{column.name}")
    assert unclassified == []
    for table, columns in {**PERSONAL_TEXT}.items():
        if table in SQLModel.metadata.tables:
            assert set(columns) <= set(SQLModel.metadata.tables[table].columns.keys()), table
