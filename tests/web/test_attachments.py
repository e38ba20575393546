"""Screenshots and logs with a ticket: uploads on the web (size, types from the content,
owner-only files, who may download) and a chat's photos and files kept with its ticket."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

import httpx

from adapters.base import Attachment, ChatRef, IncomingMessage, Sender
from bot.tickets.attachments import AttachmentStore
from tests.web.conftest import WebEnv, csrf_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


async def upload(
    web: WebEnv, client: httpx.AsyncClient, number: str, name: str, data: bytes
) -> httpx.Response:
    page = await client.get(f"/tickets/{number}")
    token = csrf_of(page.text)
    return await client.post(
        f"/tickets/{number}/files", data={"csrf": token}, files={"file": (name, data)}
    )


async def test_a_hospital_uploads_and_an_engineer_downloads(web: WebEnv) -> None:
    ticket = web.register_ticket("h001", "挂号单打印偏移")
    hospital = await web.as_hospital("h001")
    r = await upload(web, hospital, ticket.number, "挂号单_13812345678.png", PNG)
    assert (r.status_code, r.headers["location"]) == (
        303,
        f"/tickets/{ticket.number}?done=attached",
    )
    page = (await hospital.get(r.headers["location"])).text
    assert "附件已上传。" in page and "请遮挡" in page
    assert "13812345678" not in page  # the file name passed the redaction gate
    link = re.search(rf'href="(/tickets/{ticket.number}/files/\d+)">([^<]+)</a>', page)
    assert link and link.group(2).endswith(".png")

    engineer = await web.login("e02")
    r = await engineer.get(link.group(1))
    assert r.status_code == 200 and r.content == PNG and r.headers["content-type"] == "image/png"
    assert unquote(r.headers["content-disposition"]).endswith(link.group(2))
    assert r.headers["x-content-type-options"] == "nosniff"
    stored = list((web.settings.path(web.settings.data_dir) / "attachments").rglob("*.png"))
    assert len(stored) == 1 and stored[0].stat().st_mode & 0o077 == 0
    assert "13812345678" not in str(stored[0])

    # another hospital sees neither the ticket nor its file
    other = await web.as_hospital("h002")
    assert (await other.get(link.group(1))).status_code == 404
    assert (await upload(web, hospital, "2026-999999", "x.png", PNG)).status_code == 404


async def test_bad_files_are_refused_clearly(web: WebEnv) -> None:
    ticket = web.register_ticket("h001", "LIS 结果不回传")
    hospital = await web.as_hospital("h001")
    cases = [
        ("setup.exe", b"MZ" + b"\x00" * 100, "不支持这种文件"),
        ("fake.png", b"not really a png", "不支持这种文件"),  # the name does not decide
        ("empty.txt", b"", "文件是空的"),
        ("big.png", PNG + b"\x00" * (web.settings.web.attachment_max_kb * 1024), "文件太大"),
    ]
    for name, data, says in cases:
        r = await upload(web, hospital, ticket.number, name, data)
        assert r.status_code in (400, 413) and (says in r.text or r.status_code == 413), name
    r = await upload(web, hospital, ticket.number, "lis.log", "2026-12-05 接口超时\n".encode())
    assert r.status_code == 303
    rows = AttachmentStore(web.app.db).of_ticket(ticket.id or 0)  # type: ignore[arg-type]
    assert [(a.file_name, a.content_type) for a in rows] == [
        ("lis.log", "text/plain; charset=utf-8")
    ]
    # multipart anywhere else is still refused before it is parsed
    r = await hospital.post("/kb/new", files={"file": ("x.png", PNG)})
    assert r.status_code == 415


async def test_a_chat_screenshot_is_kept_with_its_ticket(web: WebEnv) -> None:
    app = web.app
    app.services.registry.add_chat("web", "h001", "h001", title="web")
    shot = Attachment("photo", "AgADBAAD-file-id", "报错截图.png", "image/png", 48_000)
    message = IncomingMessage(
        ChatRef("web", "h001"), "m1", Sender("u1", "护士小张"), "全院HIS都登不上了，急！",
        dt.datetime.now(dt.UTC), attachments=(shot,), mentions_bot=True,
    )  # fmt: skip
    await app.pipeline.on_message(message)
    [ticket] = app.services.tickets.open_tickets()
    [row] = AttachmentStore(app.db).of_ticket(ticket.id or 0)  # type: ignore[arg-type]
    assert (row.source, row.kind, row.platform_file_id, row.size) == (
        "web", "photo", "AgADBAAD-file-id", 48_000,
    )  # fmt: skip
    # a log sent later in the ticket's thread (a reply to the bot's ticket notice) joins it
    assert app.web_chat is not None
    # the ticket notice (a P1's paging outcome, naming the ticket too, may follow it)
    notice = next(
        m
        for m in (await app.web_chat.changes("h001", 0, "")).messages
        if ticket.number in m["text"]
    )
    log = Attachment("document", "BQADBAAD-log", "his_client.log", "text/plain", 1_200)
    follow_up = IncomingMessage(
        ChatRef("web", "h001"), "m2", Sender("u1", "护士小张"), "这是客户端日志",
        dt.datetime.now(dt.UTC), reply_to_message_id=notice["id"], attachments=(log,),
    )  # fmt: skip
    await app.pipeline.on_message(follow_up)
    rows = AttachmentStore(app.db).of_ticket(ticket.id or 0)  # type: ignore[arg-type]
    assert [r.file_name for r in rows] == ["报错截图.png", "his_client.log"]
    engineer = await web.login("e01")
    page = (await engineer.get(f"/tickets/{ticket.number}")).text
    assert "报错截图.png（web 群内图片，保存在聊天平台）" in page and "web:u1" in page
    assert "his_client.log（web 群内文件，保存在聊天平台）" in page


async def test_erasing_a_ticket_erases_its_attachments(web: WebEnv) -> None:
    from bot.privacy.purge import Eraser, Scope

    ticket = web.register_ticket("h001", "检验条码打印模糊")
    hospital = await web.as_hospital("h001")
    assert (await upload(web, hospital, ticket.number, "条码.png", PNG)).status_code == 303
    folder = web.settings.path(web.settings.data_dir) / "attachments"
    [stored] = list(folder.rglob("*.png"))
    db = web.app.db
    assert db is not None
    Eraser(db, attachments=folder).erase(Scope.ticket(ticket.number), "e01")
    assert not stored.exists()
    assert AttachmentStore(db).of_ticket(ticket.id or 0) == []


async def test_a_screenshot_with_a_new_ticket(web: WebEnv) -> None:
    """The registration form takes a screenshot too; a refused file registers nothing and
    keeps what was typed."""
    hospital = await web.as_hospital("h001")
    form = {"reporter": "收费处", "category": "usage", "urgency": "P3", "question": "发票打印偏移"}
    token = csrf_of((await hospital.get("/tickets/new")).text)
    bad = await hospital.post(
        "/tickets/new", data={**form, "csrf": token}, files={"file": ("a.exe", b"MZ\x00\x00")}
    )
    assert bad.status_code == 400 and "不支持这种文件" in bad.text and "发票打印偏移" in bad.text
    assert web.app.services.tickets.open_tickets() == []
    r = await hospital.post(
        "/tickets/new", data={**form, "csrf": token}, files={"file": ("偏移.png", PNG)}
    )
    assert r.status_code == 303
    [ticket] = web.app.services.tickets.open_tickets()
    [row] = AttachmentStore(web.app.db).of_ticket(ticket.id or 0)  # type: ignore[arg-type]
    assert (row.file_name, row.source, row.size) == ("偏移.png", "web", len(PNG))
    # without a file the form works as before
    r = await hospital.post("/tickets/new", data={**form, "csrf": token})
    assert r.status_code == 303 and len(web.app.services.tickets.open_tickets()) == 2
