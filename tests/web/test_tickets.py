"""The ticket registration platform over HTTP: registering, finding, following and working
tickets, with the same rules as the chat desk and a hospital link confined to its hospital."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import httpx

from bot.tickets.models import Ticket
from tests.web.conftest import WebEnv, csrf_of

NUMBER = re.compile(r"/tickets/(\d{4}-\d{6})")


def register(env: WebEnv, hospital_id: str, question: str, **kw: str) -> Ticket:
    return env.register_ticket(hospital_id, question, **kw)


async def create_on_web(env: WebEnv, client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data = {"reporter": "收费处张三", "category": "insurance", "urgency": "P2",
            "question": "医保结算时提示交易超时"} | fields  # fmt: skip
    return await env.post_form(client, "/tickets/new", data)


async def test_a_hospital_registers_a_ticket_on_the_web(web: WebEnv) -> None:
    c = await web.as_hospital("h001")
    form = await c.get("/tickets/new")
    assert form.status_code == 200 and "第一人民医院" in form.text
    r = await create_on_web(
        web, c, question="医保结算失败，患者身份证 110101199003074514 手机 13912345678"
    )
    assert r.status_code == 303
    m = NUMBER.search(r.headers["location"])
    assert m
    ticket = web.app.services.tickets.get(m.group(1))
    assert ticket.hospital_id == "h001" and ticket.source_platform == "web"
    assert ticket.category == "insurance" and ticket.urgency == "P2"
    # patient data never reaches the ticket
    assert "110101199003074514" not in ticket.question and "13912345678" not in ticket.question
    page = await c.get(r.headers["location"])
    assert "问题已登记" in page.text and "医保结算失败" in page.text
    # the engineers' list shows it
    eng = await web.login()
    listing = await eng.get("/tickets")
    assert f"#{ticket.number}" in listing.text and "第一人民医院" in listing.text


async def test_new_years_night_in_beijing_numbers_the_ticket_in_the_new_year(web: WebEnv) -> None:
    # 00:30 on 1 January in the hospitals' zone ([reports] timezone) is still 31 December in UTC:
    # the register's number follows the hospital's calendar, not the server's
    web.clock.fixed = dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC)
    c = await web.as_hospital("h001")
    r = await create_on_web(web, c)
    m = NUMBER.search(r.headers["location"])
    assert m and m.group(1) == "2027-000001"
    web.clock.fixed = dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.UTC)  # 23:59 on the 31st
    assert register(web, "h001", "发票打印偏移").number == "2026-000001"


async def test_the_registration_form_says_what_is_missing_and_keeps_the_input(web: WebEnv) -> None:
    c = await web.as_hospital("h001")
    r = await create_on_web(web, c, reporter="", category="nonsense", question="打印机不出纸")
    assert r.status_code == 400
    assert "请填写报告人" in r.text and "请选择问题分类" in r.text
    assert "打印机不出纸" in r.text  # kept for the user
    assert web.app.services.tickets.open_tickets() == []


async def test_a_hospital_cannot_register_for_another_hospital(web: WebEnv) -> None:
    c = await web.as_hospital("h001")
    r = await create_on_web(web, c, hospital="h002")
    assert r.status_code == 303
    (ticket,) = web.app.services.tickets.open_tickets()
    assert ticket.hospital_id == "h001"


async def test_a_hospital_link_sees_only_its_own_tickets(web: WebEnv) -> None:
    mine = register(web, "h001", "门诊挂号打印凭条乱码")
    theirs = register(web, "h002", "住院结算单金额不对")
    c = await web.as_hospital("h001")
    listing = await c.get("/tickets")
    assert mine.number in listing.text and theirs.number not in listing.text
    # even when asking for the other hospital by filter
    listing = await c.get("/tickets", params={"hospital": "h002"})
    assert theirs.number not in listing.text
    assert (await c.get(f"/tickets/{mine.number}")).status_code == 200
    foreign = await c.get(f"/tickets/{theirs.number}")
    missing = await c.get("/tickets/2026-999999")
    assert foreign.status_code == missing.status_code == 404
    assert theirs.question not in foreign.text
    # nor can it act on it
    r = await web.post_form(
        c,
        f"/tickets/{theirs.number}/message",
        {"text": "我也来说两句"},
        page=f"/tickets/{mine.number}",
    )
    assert r.status_code == 404
    assert [m.text for m in web.app.services.tickets.messages(theirs.number)] == [theirs.question]


async def test_an_engineer_claims_replies_and_resolves_with_a_full_audit_trail(web: WebEnv) -> None:
    ticket = register(web, "h001", "LIS 条码打印机不出纸")
    c = await web.login("e01")
    page = f"/tickets/{ticket.number}"
    r = await web.post_form(c, f"{page}/claim", {}, page=page)
    assert r.status_code == 303 and r.headers["location"].endswith("done=claimed")
    r = await web.post_form(c, f"{page}/reply", {"text": "请重启打印服务后再试"}, page=page)
    assert r.status_code == 303
    r = await web.post_form(c, f"{page}/note", {"text": "疑似驱动问题"}, page=page)
    assert r.status_code == 303
    r = await web.post_form(c, f"{page}/resolve", {"text": ""}, page=page)
    assert r.status_code == 409 and "请写明处理方式" in r.text  # the resolution is required
    r = await web.post_form(c, f"{page}/resolve", {"text": "更新打印机驱动"}, page=page)
    assert r.status_code == 303
    done = web.app.services.tickets.get(ticket.number)
    assert done.status == "resolved" and done.accepted_by == "e01"
    assert done.accepted_at is not None and done.completed_at is not None
    assert done.resolution == "更新打印机驱动"
    kinds = [e.kind for e in web.app.services.tickets.events(ticket.number)]
    assert kinds[:2] == ["opened", "accepted"] and "note" in kinds and kinds[-1] == "resolved"
    detail = await c.get(page)
    assert "更新打印机驱动" in detail.text and "疑似驱动问题" in detail.text
    assert "王工（e01）" in detail.text  # who, in the audit table
    # the engineer's reply is on the ticket's conversation
    texts = [m.text for m in web.app.services.tickets.messages(ticket.number)]
    assert "请重启打印服务后再试" in texts


async def test_the_hospital_follows_its_ticket_without_seeing_internal_notes(web: WebEnv) -> None:
    ticket = register(web, "h001", "病案首页上传失败")
    eng = await web.login("e01")
    page = f"/tickets/{ticket.number}"
    await web.post_form(eng, f"{page}/claim", {}, page=page)
    await web.post_form(eng, f"{page}/note", {"text": "内部：怀疑接口证书过期"}, page=page)
    hosp = await web.as_hospital("h001")
    view = await hosp.get(page)
    assert view.status_code == 200
    assert "王工" in view.text and "怀疑接口证书过期" not in view.text
    r = await web.post_form(
        hosp, f"{page}/message", {"name": "病案室", "text": "报错截图已发群里"}, page=page
    )
    assert r.status_code == 303
    messages = web.app.services.tickets.messages(ticket.number)
    assert messages[-1].direction == "hospital" and messages[-1].text == "报错截图已发群里"
    # hospital users cannot take engineers' actions
    r = await web.post_form(hosp, f"{page}/claim", {}, page=page)
    assert r.status_code == 404
    r = await web.post_form(hosp, f"{page}/note", {"text": "x"}, page=page)
    assert r.status_code == 404


async def test_the_hospital_confirms_or_reopens_a_resolved_ticket(web: WebEnv) -> None:
    services = web.app.services
    engineer = services.registry.get_engineer("e02")
    assert engineer is not None
    first = register(web, "h001", "门诊发票打印偏移")
    second = register(web, "h001", "药房发药机不响应")
    for t in (first, second):
        await services.ticket_flow.claim(t.number, engineer)
        await services.ticket_flow.resolve(t.number, engineer, "调整打印模板")
    hosp = await web.as_hospital("h001")
    r = await web.post_form(
        hosp, f"/tickets/{first.number}/close", {}, page=f"/tickets/{first.number}"
    )
    assert r.status_code == 303 and services.tickets.get(first.number).status == "closed"
    r = await web.post_form(
        hosp,
        f"/tickets/{second.number}/reopen",
        {"name": "药房", "text": "还是不响应"},
        page=f"/tickets/{second.number}",
    )
    assert r.status_code == 303
    again = services.tickets.get(second.number)
    assert again.status == "in_progress" and again.accepted_by == "e02"


async def test_two_engineers_claiming_get_one_owner(web: WebEnv) -> None:
    ticket = register(web, "h002", "检验报告审核后无法打印")
    wang = await web.login("e01")
    li = await web.login("e02", web.new_client())
    page = f"/tickets/{ticket.number}"
    token_wang = await web.csrf(wang, page)
    token_li = await web.csrf(li, page)
    first = await wang.post(f"{page}/claim", data={"csrf": token_wang})
    second = await li.post(f"{page}/claim", data={"csrf": token_li})
    assert first.status_code == 303
    assert second.status_code == 409 and "已被 王工 接单" in second.text
    assert web.app.services.tickets.get(ticket.number).accepted_by == "e01"


async def test_only_the_owner_or_a_lead_resolves(web: WebEnv) -> None:
    services = web.app.services
    wang = services.registry.get_engineer("e01")
    assert wang is not None
    ticket = register(web, "h001", "PACS 影像调阅慢")
    await services.ticket_flow.claim(ticket.number, wang)
    li = await web.login("e02")
    page = f"/tickets/{ticket.number}"
    r = await web.post_form(li, f"{page}/resolve", {"text": "我来关掉"}, page=page)
    assert r.status_code == 409 and "只有该工单的受理工程师或组长" in r.text
    assert services.tickets.get(ticket.number).status == "accepted"


async def test_filters_and_full_text_search(web: WebEnv) -> None:
    services = web.app.services
    wang = services.registry.get_engineer("e01")
    assert wang is not None
    a = register(web, "h001", "医保目录对照失败", category="insurance", urgency="P1")
    b = register(web, "h002", "排班表打印空白", category="usage")
    c = register(web, "h002", "检验危急值不提醒", category="lis", urgency="P2")
    await services.ticket_flow.claim(c.number, wang)
    await services.ticket_flow.reply_to_hospital(c.number, wang, "已远程修改危急值阈值配置")
    client = await web.login()

    async def found(**params: str) -> set[str]:
        r = await client.get("/tickets", params=params)
        assert r.status_code == 200
        return {t for t in (a.number, b.number, c.number) if f"#{t}" in r.text}

    assert await found() == {a.number, b.number, c.number}
    assert await found(hospital="h002") == {b.number, c.number}
    assert await found(urgency="P1") == {a.number}
    assert await found(category="lis") == {c.number}
    assert await found(status="new") == {a.number, b.number}
    assert await found(status="open") == {a.number, b.number, c.number}
    assert await found(engineer="e01") == {c.number}
    assert await found(q="排班") == {b.number}
    assert await found(q="阈值配置") == {c.number}  # matches the conversation, not the question
    assert await found(q=c.number) == {c.number}
    assert await found(q="100%_") == set()  # LIKE wildcards are literal
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert await found(**{"from": today.isoformat(), "to": today.isoformat()}) == {
        a.number,
        b.number,
        c.number,
    }
    tomorrow = today + dt.timedelta(days=1)
    assert await found(**{"from": tomorrow.isoformat()}) == set()
    bad = await client.get("/tickets", params={"from": "2026-13-45"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    bad = await client.get("/tickets", params={"status": "bogus"})
    assert bad.status_code == 400


async def test_typed_text_is_escaped_everywhere(web: WebEnv) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    ticket = register(web, "h001", payload, reporter='"><b>evil</b>')
    c = await web.login()
    for path in ("/tickets", f"/tickets/{ticket.number}", f"/tickets?q={payload}"):
        r = await c.get(path)
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, path
        assert "<b>evil</b>" not in r.text, path
    detail = await c.get(f"/tickets/{ticket.number}")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in detail.text


async def test_refusals_are_explained_in_chinese(web: WebEnv) -> None:
    ticket = register(web, "h001", "门诊医生站开不了检查单")
    c = await web.login("e01")  # a lead: past the ownership rule, refused by the state
    page = f"/tickets/{ticket.number}"
    r = await web.post_form(c, f"{page}/resolve", {"text": "已处理"}, page=page)
    assert r.status_code == 409 and "工单当前状态为「待接单」，不能标记解决" in r.text
    await web.post_form(c, f"{page}/claim", {}, page=page)
    r = await web.post_form(c, f"{page}/note", {"text": "   "}, page=page)
    assert r.status_code == 409 and "内容不能为空" in r.text


async def test_an_engineer_corrects_category_and_urgency_with_an_audit_entry(web: WebEnv) -> None:
    ticket = register(web, "h001", "医保日结对账不平", category="usage", urgency="P3")
    c = await web.login("e02")
    page = f"/tickets/{ticket.number}"
    r = await web.post_form(
        c, f"{page}/classify", {"category": "insurance", "urgency": "P2"}, page=page
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=classified")
    fixed = web.app.services.tickets.get(ticket.number)
    assert (fixed.category, fixed.urgency) == ("insurance", "P2")
    detail = await c.get(page)
    assert "使用 → 医保" in detail.text and "P3 普通 → P2 高" in detail.text
    bad = await web.post_form(c, f"{page}/classify", {"category": "x", "urgency": "P2"}, page=page)
    assert bad.status_code == 409
    hosp = await web.as_hospital("h001")
    r = await web.post_form(
        hosp, f"{page}/classify", {"category": "lis", "urgency": "P1"}, page=page
    )
    assert r.status_code == 404
    assert web.app.services.tickets.get(ticket.number).urgency == "P2"


async def test_an_urgency_set_on_the_console_gives_the_sla_clocks_its_targets(
    web: WebEnv,
) -> None:
    ticket = register(web, "h001", "医保日结对账不平", urgency="P3")
    sla = web.app.services.sla
    assert sla is not None
    sla.clocks.start(ticket.number, dt.datetime.now(dt.UTC))  # as the watch does for a new ticket
    [before] = [c for c in sla.clocks.for_ticket(ticket.number) if c.kind == "accept"]
    c = await web.login("e02")
    page = f"/tickets/{ticket.number}"
    await web.post_form(c, f"{page}/classify", {"category": "usage", "urgency": "P1"}, page=page)
    [after] = [c for c in sla.clocks.for_ticket(ticket.number) if c.kind == "accept"]
    assert before.target_minutes == 120 and after.target_minutes == 15
    assert after.due_at <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15) < before.due_at


async def test_the_ticket_page_lists_everyone_who_reported_it(web: WebEnv) -> None:
    from bot.tickets import incidents
    from bot.tickets.incidents import IncidentReporter

    ticket = register(web, "h001", "新来的护士怎么开通HIS账号")
    engine = web.app.services.db.engine
    for user, name in (("7002", "收费员小刘"), ("7003", "<b>李医生</b>")):
        incidents.join(
            engine,
            ticket,
            IncidentReporter(
                ticket_id=ticket.id or 0,
                platform="telegram",
                chat_id="-1001",
                message_id=user,
                user_id=user,
                name=name,
                joined_at=dt.datetime.now(dt.UTC),
            ),
        )
    c = await web.login("e02")
    page = await c.get(f"/tickets/{ticket.number}")
    assert "同时报告" in page.text and "收费员小刘" in page.text
    assert "&lt;b&gt;李医生&lt;/b&gt;" in page.text and "共 3 人报告同一问题" in page.text


async def test_hospital_side_names_carry_the_hospital_and_the_link(web: WebEnv) -> None:
    link = web.store.create_link("h001", label="收费处电脑")
    hospital = web.new_client()
    await hospital.get(f"/h/{link.token}")
    page = await hospital.get("/tickets/new")
    r = await hospital.post(
        "/tickets/new",
        data={"csrf": csrf_of(page.text), "reporter": "王工（工程师）", "category": "usage",
              "urgency": "P3", "question": "挂号单打印不出来"},
    )  # fmt: skip
    assert r.status_code == 303
    number = r.headers["location"].split("/")[2].split("?")[0]
    r = await web.post_form(
        hospital, f"/tickets/{number}/message", {"name": "李工（工程师）", "text": "补充一下"},
        page=f"/tickets/{number}",
    )  # fmt: skip
    assert r.status_code == 303
    engineer = await web.login("e01")
    text = (await engineer.get(f"/tickets/{number}")).text
    badge = "（第一人民医院 · 链接「收费处电脑」）"
    assert f'王工（工程师） <span class="side">{badge}</span>' in text  # the reporter
    assert f'李工（工程师） <span class="side">{badge}</span>' in text  # conversation, audit
    assert text.count(badge) >= 5  # reporter; opening message and follow-up; two audit rows


async def test_an_engineer_labels_the_resolved_question_on_the_web(web: WebEnv) -> None:
    """The KB loop's one-tap label, as on the desk: which article answers the question."""
    ticket = register(web, "h001", "针式打印机打摆药单出来全是乱码")
    c = await web.login("e01")
    page = f"/tickets/{ticket.number}"
    assert "由哪篇知识库文章解答" not in (await c.get(page)).text  # open: nothing to label yet
    r = await web.post_form(c, f"{page}/label", {"verdict": "new"}, page=page)
    assert r.status_code == 400 and "解决后才能记录" in r.text
    await web.post_form(c, f"{page}/claim", {}, page=page)
    await web.post_form(c, f"{page}/resolve", {"text": "重装打印机驱动"}, page=page)
    detail = (await c.get(page)).text
    assert (
        "由哪篇知识库文章解答" in detail and 'value="article:hb-007"' in detail
    )  # the engine's pick
    r = await web.post_form(c, f"{page}/label", {"verdict": "article:no-such"}, page=page)
    assert r.status_code == 400 and "没有这篇文章" in r.text
    r = await web.post_form(c, f"{page}/label", {"verdict": "article:hb-007"}, page=page)
    assert r.status_code == 303 and r.headers["location"].endswith("done=labelled")
    labels = web.app.services.labels
    assert labels is not None
    label = labels.get(ticket.number)
    assert label is not None and label.verdict == "article" and label.article_id == "hb-007"
    assert label.labelled_by == "e01"
    assert "已记录：hb-007" in (await c.get(page)).text
    # a hospital link sees no label form
    h = await web.as_hospital("h001")
    assert "由哪篇知识库文章解答" not in (await h.get(page)).text
