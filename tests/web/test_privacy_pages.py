"""Erasure in the console (issue 13, item 3): a lead erases an old KB version, which stays
listed as erased and audited without its text; an erased ticket shows that it was erased."""

from __future__ import annotations

from sqlmodel import Session

from bot.privacy.purge import ERASED, Eraser, Scope
from kb_index.store import KbArticle
from tests.web.conftest import WebEnv
from tests.web.test_kb_pages import edit_form


async def test_a_lead_erases_an_old_kb_version(web: WebEnv) -> None:
    lead = await web.login("e01")
    for title in ("医保结算：第二版", "医保结算：第三版"):
        with Session(web.app.db) as s:
            row = s.get(KbArticle, "hb-001")
            assert row is not None
        form = edit_form(row, title=title)
        r = await web.post_form(lead, "/kb/hb-001/edit", form, "/kb/hb-001/edit")
        assert r.status_code == 303, r.text
    engineer = await web.login("e02", web.new_client())
    r = await web.post_form(engineer, "/kb/hb-001/history/2/erase", {}, "/kb/hb-001/history")
    assert r.status_code == 404  # not a lead
    for refused in ("3", "1"):  # the article itself; what the next folder import compares with
        r = await web.post_form(lead, f"/kb/hb-001/history/{refused}/erase", {}, "/kb/hb-001")
        assert r.status_code == 404
    r = await web.post_form(lead, "/kb/hb-001/history/2/erase", {}, "/kb/hb-001/history")
    assert r.status_code == 303 and r.headers["location"] == "/kb/hb-001/history?n=erased"
    page = (await web.client.get("/kb/hb-001/history?v=2")).text
    assert "该版本的内容已删除" in page and "第二版" not in page
    [entry] = [a for a in web.store.audit_search() if a.action == "kb_erase"]
    assert (entry.target, entry.detail) == ("hb-001", "v2")
    assert [e.scope for e in Eraser(web.app.db).log()] == ["kb_version"]


async def test_an_erased_ticket_says_so_in_its_trail(web: WebEnv) -> None:
    ticket = web.register_ticket("h001", "发票打印机不出纸", reporter="收费处老王")
    Eraser(web.app.db).erase(Scope.ticket(ticket.number), by="e01")
    page = (await (await web.login()).get(f"/tickets/{ticket.number}")).text
    assert "个人信息已删除" in page and ERASED in page and "收费处老王" not in page


def test_erased_questions_are_no_topic_of_the_report() -> None:
    from datetime import datetime

    from bot.web.reports import _Question, top_unanswered

    at = datetime(2026, 11, 2, 9, 0)
    asked = [
        _Question("h001", ERASED, "escalate", "escalated", at),
        _Question("h001", ERASED, "escalate", "escalated", at),
        _Question("h001", "挂号单打印偏移", "escalate", "escalated", at),
    ]
    assert [u.text for u in top_unanswered(asked, 5)] == ["挂号单打印偏移"]
