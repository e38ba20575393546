"""通知 (``/notices``): compose, preview the exact text and the recipients, send, and follow the
receipts — through the running bot's broadcaster, to the hospitals' web chats."""

from __future__ import annotations

import re

import pytest

from bot.broadcasts import Broadcasts
from bot.web.playground import WEB_PLATFORM
from tests.web.conftest import WebEnv
from tests.web.test_playground import Chat


@pytest.fixture
def extra_config() -> str:
    return '[broadcast]\nquiet_hours = ""\n'  # the wall clock may be in quiet hours


PATCH = {
    "kind": "patch", "audience": "all", "product": "HIS", "module": "住院", "version": "5.2.4",
    "body": "修复医保结算 2304", "download_url": "https://dl.example.com/his-5.2.4.zip",
    "checksum": "sha256:ab12", "action": "停住院服务后升级", "deadline": "2030-01-10T18:00",
}  # fmt: skip


def broadcasts(web: WebEnv) -> Broadcasts:
    found = web.app.services.broadcasts
    assert found is not None
    return found


def open_web_chats(web: WebEnv) -> None:
    for h in ("h001", "h002"):
        web.app.services.registry.add_chat(WEB_PLATFORM, h, h, title=f"{h} 对话")


async def test_compose_preview_send_and_receipts(web: WebEnv) -> None:
    open_web_chats(web)
    client = await web.login("e01")  # a broadcaster
    page = await client.get("/notices")
    assert page.status_code == 200 and "还没有通知" in page.text

    # a missing field: 400, said in the form's words, and everything typed is kept
    incomplete = {k: v for k, v in PATCH.items() if k != "checksum"}
    r = await web.post_form(client, "/notices/new", incomplete, page="/notices/new")
    assert r.status_code == 400 and "还缺少：校验值" in r.text
    assert (
        'value="https://dl.example.com/his-5.2.4.zip"' in r.text and "修复医保结算 2304" in r.text
    )

    r = await web.post_form(client, "/notices/new", PATCH, page="/notices/new")
    assert r.status_code == 303
    path = r.headers["location"].split("?")[0]
    page = await client.get(path)
    text = re.search(r'<pre class="notice-text" id="notice-text">(.*?)</pre>', page.text, re.S)
    assert text and text.group(1).startswith("【补丁通知】HIS 住院 5.2.4 补丁")
    assert "截止时间：2030-01-10 18:00" in text.group(1)  # local time, as typed
    assert "第一人民医院（h001）" in page.text and "第二人民医院（h002）" in page.text
    assert '<a id="notice-download" href="https://dl.example.com/his-5.2.4.zip"' in page.text

    # no desk in this deployment: the test copy has nowhere to go, and the page says what to do
    assert "测试稿无处可发" in page.text
    r = await web.post_form(client, f"{path}/send", {}, page=path)
    assert r.status_code == 400 and "勾选“不发测试稿”" in r.text
    r = await web.post_form(client, f"{path}/send", {"skip_test": "yes"}, page=path)
    assert r.status_code == 303
    await broadcasts(web).broadcaster.process_once()
    chat = web.app.web_chat
    assert chat is not None
    [delivered] = [m for m in (await chat.changes("h001", 0, "")).messages if "5.2.4" in m["text"]]
    assert delivered["text"] == text.group(1).replace("&#34;", '"').replace("&#39;", "'")

    tab = await Chat.open(await web.as_hospital("h001"))
    await tab.poll(0)
    notice = tab.seen[delivered["id"]]
    await tab.press(notice, "已知悉")
    await tab.wait_for(lambda m: m["id"] == delivered["id"] and "✅ 已知悉" in m["text"])
    page = await client.get(path)
    assert "已发送" in page.text or "发送中" in page.text
    assert "群：共 2 个，已送达 2" in page.text and "已知悉 1" in page.text
    receipts = re.search(r'<table id="notice-receipts">(.*?)</table>', page.text, re.S)
    assert receipts and "第一人民医院（h001）</td>" in receipts.group(1)
    assert "第一人民医院" in receipts.group(1).split("</tr>")[1]  # h001's row: acknowledged
    audit = [(a.actor, a.via, a.action) for a in broadcasts(web).store.audit_log()]
    assert ("e01", "web", "create") in audit and ("e01", "web", "send") in audit


async def test_quiet_hours_shown_and_others_refused(web: WebEnv) -> None:
    open_web_chats(web)
    client = await web.login("e01")
    announcement = {"kind": "announcement", "audience": "filter", "targets": "hospital=h002",
                    "title": "春节值班安排", "body": "春节期间 7x24 值班电话不变。"}  # fmt: skip
    r = await web.post_form(client, "/notices/new", announcement, page="/notices/new")
    path = r.headers["location"].split("?")[0]
    page = await client.get(path)
    assert "第二人民医院（h002）" in page.text and "第一人民医院（h001）" not in page.text
    # quiet hours on (the fixture switched them off): a 23:30 notice waits until 07:00
    store = broadcasts(web).store
    store.settings = type(store.settings)(quiet_hours="22:00-07:00")
    r = await web.post_form(
        client, f"{path}/send", {"at": "2030-01-05T23:30", "skip_test": "yes"}, page=path
    )
    assert r.status_code == 303
    page = await client.get(path)
    assert "已排期" in page.text
    assert "非紧急通知顺延至 2030-01-06 07:00 发出" in page.text

    other = await web.login("e02", web.new_client())  # an engineer without the role
    for url in ("/notices", "/notices/new", path):
        assert (await other.get(url)).status_code == 404
    r = await web.post_form(other, f"{path}/cancel", {}, page="/tickets")
    assert r.status_code == 404
    assert "/notices" not in (await other.get("/tickets")).text
    assert 'href="/notices"' in (await client.get("/tickets")).text
