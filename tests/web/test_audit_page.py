"""操作审计 in Chinese with filters (who, what, on what, local date range), and the same time
zone on the page and in ``hisbot web audit``."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from tests.web.conftest import WebEnv


def rows(html: str) -> list[list[str]]:
    body = re.search(r'<table id="audit-rows">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


async def test_filters_and_chinese_labels(web: WebEnv) -> None:
    store = web.store
    store.audit("anonymous", "login_failed", "e02", ip="10.1.1.1")
    store.audit("engineer:e02", "kb_edit", "hb-003", "v2 updated")
    store.audit("hospital:h001#3", "cross_hospital", "ticket 2026-000042")
    lead = await web.login("e01")

    every = rows((await lead.get("/audit")).text)
    labels = {(r[1], r[2]) for r in every}
    assert ("未登录访客", "登录失败") in labels and ("工程师 e02", "编辑文章") in labels
    assert ("医院 h001（链接 #3）", "越权访问其他医院") in labels and (
        "工程师 e01",
        "登录",
    ) in labels

    only = rows((await lead.get("/audit", params={"action": "login_failed"})).text)
    assert [(r[1], r[3]) for r in only] == [("未登录访客", "e02")]
    by_who = rows((await lead.get("/audit", params={"actor": "e02"})).text)
    assert {r[2] for r in by_who} == {"编辑文章"}
    ticket = rows((await lead.get("/audit", params={"target": "2026-000042"})).text)
    assert [r[2] for r in ticket] == ["越权访问其他医院"]

    # the date range is local (Asia/Shanghai) days, and so are the times shown
    newest = store.audit_search(limit=1)[0]
    local = newest.at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert rows((await lead.get("/audit")).text)[0][0] == f"{local:%Y-%m-%d %H:%M:%S}"
    first, last = dt.date.fromisoformat(every[-1][0][:10]), dt.date.fromisoformat(every[0][0][:10])
    shown = rows(
        (await lead.get("/audit", params={"date_from": str(first), "date_to": str(last)})).text
    )
    assert len(shown) == len(every)
    before = (await lead.get("/audit", params={"date_to": str(first - dt.timedelta(days=1))})).text
    assert "没有符合条件的记录" in before
    page = await lead.get("/audit", params={"action": "login_failed", "actor": "x"})
    assert 'value="x"' in page.text and '<option value="login_failed" selected>' in page.text
    assert (await lead.get("/audit", params={"action": "drop table"})).status_code == 400
    assert (await lead.get("/audit", params={"date_from": "2026-13-01"})).status_code == 400
