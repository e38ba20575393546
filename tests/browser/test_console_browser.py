"""The console in headless Chromium over the whole running bot: the KB pages, the ticket
platform as an engineer and through a hospital link, typed HTML staying inert, and the
playground answering and escalating. Screenshots of the main pages go to
``artifacts/screenshots/``."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Dialog, Locator, Page, expect

from adapters.base import Sender
from bot.tickets.models import Ticket
from tests.browser.conftest import REPO, TIMEOUT_MS, BrowserConsole, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def register(console: BrowserConsole, hospital_id: str, question: str, **kw: str) -> Ticket:
    """A ticket registered on the web form's code path, without the browser."""
    services = console.app.services
    hospital = services.registry.get_hospital(hospital_id)
    assert hospital is not None
    return services.ticket_flow.register_web_ticket(
        hospital,
        reporter_id="web:test",
        reporter_name=kw.get("reporter", "门诊收费处"),
        question=question,
        category=kw.get("category", "usage"),
        urgency=kw.get("urgency", "P3"),
        now=services.clock(),
    )


def audit_row(page: Page, event: str) -> Locator:
    """The audit table's rows whose event column reads exactly ``event``."""
    return page.locator("#audit tbody tr").filter(
        has=page.locator("td:nth-child(3)", has_text=re.compile(rf"^\s*{event}\s*$"))
    )


TICKET_NUMBER = re.compile(r"#(\d{4}-\d{6})")


async def say(page: Page, text: str) -> Locator:
    """Type a message into the playground and send it with Enter; returns the bot's reply to
    it (the first bot message after the user's)."""
    before = await page.locator("#pg-log > li").count()
    box = page.get_by_role("textbox", name="消息")
    await box.fill(text)
    await box.press("Enter")
    mine = page.locator("#pg-log > li").nth(before)
    await expect(mine).to_have_class(re.compile(r"\bpg-user\b"))
    await expect(mine.locator(".pg-text")).to_have_text(text)
    reply = page.locator(f"#pg-log > li:nth-child(n+{before + 2}).pg-bot").first
    await expect(reply).to_be_visible()
    return reply


async def bot_answer(console: BrowserConsole, hospital_id: str, text: str) -> dict[str, Any]:
    """What the running bot answers in the hospital's web chat (the playground's chat, driven
    from Python): the first bot message after the question."""
    web = console.app.web_chat
    assert web is not None, "the playground's web chat is off"
    registry = console.app.services.registry
    if registry.get_chat("web", hospital_id) is None:
        registry.add_chat("web", hospital_id, hospital_id, title="网页")
    sender = Sender(user_id="web:test", display_name="测试用户")
    asked = await web.post(hospital_id, sender, text, None)
    after = asked.seq
    async with asyncio.timeout(TIMEOUT_MS / 1000):
        while True:
            changes = await web.changes(hospital_id, after, sender.user_id, wait=5)
            bot = [m for m in changes.messages if m["kind"] == "bot"]
            if bot:
                return bot[0]
            after = max([after, *(m["seq"] for m in changes.messages)])


# -- the knowledge base -----------------------------------------------------------------------------


async def test_the_kb_is_searched_and_a_bot_answers_link_opens_the_article(
    console: BrowserConsole,
) -> None:
    page = console.page  # anonymous: the KB is public by default
    await page.goto("/kb")
    await expect(page.locator(".kb-item")).to_have_count(len(list((REPO / "kb").glob("hb-*.md"))))
    await shot(page, "kb")

    search = page.get_by_role("searchbox", name="搜索知识库")
    await search.fill("住院医保出院结算报错，提示总额与明细合计不一致")
    await search.press("Enter")
    await expect(page).to_have_url(re.compile(r"/kb/search\?q="))
    first = page.locator(".kb-item").first
    await expect(first.locator("h3 a")).to_have_text("住院医保结算提示总额与明细合计不一致")
    await expect(first.locator("h3 mark").first).to_be_visible()
    await expect(first.locator(".kb-snippet mark").first).to_be_visible()
    marks = await page.locator(".kb-item mark").all_inner_texts()
    assert any("医保" in m for m in marks), marks  # the query's words, highlighted
    await shot(page, "kb-search")
    await first.locator("h3 a").click()
    await expect(page).to_have_url(re.compile(r"/kb/hb-002$"))
    await expect(page.locator("h1")).to_have_text("住院医保结算提示总额与明细合计不一致")
    await expect(page.locator(".kb-steps")).to_contain_text("2303")
    await shot(page, "kb-article")

    # a bot answer in a chat links to the article; a hospital user opens it in a new browser
    answer = await bot_answer(
        console, "h001", "收费处小王密码输错好几次 现在登不上了 提示ORA-28000 the account is locked"
    )
    citation = answer["citation"]
    assert citation is not None, answer
    assert citation["url"] == console.url + "/kb/hb-011", citation
    reader = await console.new_page()
    response = await reader.goto(citation["url"])
    assert response is not None and response.status == 200
    await expect(reader.locator("h1")).to_have_text(citation["title"])
    await expect(reader.locator("header")).to_contain_text("工程师登录")  # nobody signed in


# -- tickets: an engineer registers, claims and resolves ------------------------------------------


async def test_an_engineer_registers_claims_and_resolves_a_ticket(
    console: BrowserConsole,
) -> None:
    page = console.page
    await page.goto("/login")
    await expect(page.get_by_role("heading", name="工程师登录")).to_be_visible()
    await shot(page, "login")
    await login(page, "e01")
    await expect(page.locator("header .me")).to_have_text("王工（工程师）")

    await page.goto("/tickets/new")
    await page.locator('select[name="hospital"]').select_option("h001")
    await page.locator('input[name="reporter"]').fill("门诊收费处 张护士")
    await page.locator('select[name="category"]').select_option("usage")
    await page.locator('select[name="urgency"]').select_option("P2")
    question = "收费窗口打印发票时提示打印机脱机，重启打印机后仍然不行"
    await page.locator('textarea[name="question"]').fill(question)
    await shot(page, "ticket-new")
    await page.get_by_role("button", name="提交", exact=True).click()

    await expect(page).to_have_url(re.compile(r"/tickets/[^/?]+\?done=created$"))
    number = page.url.rsplit("/", 1)[1].split("?")[0]
    await expect(page.locator("#ticket-question")).to_have_text(question)
    await expect(page.locator("#ticket-status")).to_have_text("待接单")
    ticket = console.app.services.tickets.get(number)
    assert ticket.hospital_id == "h001" and ticket.urgency == "P2"

    await page.goto("/tickets")
    row = page.locator("table tbody tr").filter(has_text=f"#{number}")
    await expect(row).to_contain_text("第一人民医院")
    await expect(row).to_contain_text("待接单")
    await shot(page, "tickets")
    await row.get_by_role("link", name=f"#{number}").click()
    await expect(page).to_have_url(re.compile(rf"/tickets/{re.escape(number)}$"))

    await page.locator("#claim").click()
    await expect(page.locator("#ticket-status")).to_have_text("已受理")
    await expect(page.get_by_role("status")).to_have_text("已接单。")
    await expect(page.locator("#claim")).to_have_count(0)

    resolution = "打印机驱动端口被改成了 USB002，改回 USB001 后打印正常"
    await page.locator('form[action$="/resolve"] textarea[name="text"]').fill(resolution)
    await page.locator("#resolve").click()
    await expect(page.locator("#ticket-status")).to_have_text("已解决")
    await expect(page.get_by_role("status")).to_have_text("已解决，已通知医院。")

    accepted = audit_row(page, "受理")
    await expect(accepted).to_have_count(1)
    await expect(accepted).to_contain_text("王工")
    resolved = audit_row(page, "解决")
    await expect(resolved).to_have_count(1)
    await expect(resolved).to_contain_text("王工")
    await expect(resolved).to_contain_text(resolution)
    await shot(page, "ticket")

    done = console.app.services.tickets.get(number)
    assert done.status == "resolved"
    assert done.accepted_by == "e01"
    assert done.resolution == resolution


# -- a hospital link sees its own hospital only ---------------------------------------------------


async def test_a_hospital_link_cannot_open_another_hospitals_ticket(
    console: BrowserConsole,
) -> None:
    own = register(console, "h001", "门诊医生站开处方时药品库存显示为零")
    other = register(console, "h002", "第二医院的检验报告打印不出来")
    page = console.page

    await page.goto(console.hospital_link("h001"))
    await expect(page).to_have_url(re.compile(r"/tickets$"))  # the token left the address bar
    await expect(page.locator("header .me")).to_have_text("第一人民医院")
    await expect(page.locator("main")).to_contain_text(f"#{own.number}")
    await expect(page.locator("main")).not_to_contain_text(f"#{other.number}")
    # a filter naming the other hospital changes nothing
    await page.goto("/tickets?hospital=h002")
    await expect(page.locator("main")).to_contain_text(f"#{own.number}")
    await expect(page.locator("main")).not_to_contain_text(other.question)

    response = await page.goto(f"/tickets/{other.number}")
    assert response is not None and response.status == 404
    await expect(page.locator("main")).to_contain_text("页面不存在，或您无权查看。")
    await expect(page.locator("main")).not_to_contain_text(other.question)
    await shot(page, "hospital-foreign-ticket-404")
    # the same answer as for a number that does not exist
    response = await page.goto("/tickets/2099-999999")
    assert response is not None and response.status == 404

    response = await page.goto(f"/tickets/{own.number}")
    assert response is not None and response.status == 200
    await expect(page.locator("#ticket-question")).to_have_text(own.question)
    await expect(page.locator("#claim")).to_have_count(0)  # no engineer's buttons
    await shot(page, "hospital-ticket")


# -- typed HTML stays text ------------------------------------------------------------------------


async def test_html_in_a_ticket_and_a_chat_is_shown_as_text_and_never_runs(
    console: BrowserConsole,
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)

    # a hospital user types the payload into the registration form and into the chat
    page = console.page
    page.on("dialog", on_dialog)
    await page.goto(console.hospital_link("h001"))
    await page.goto("/tickets/new")
    reporter = "<svg onload=alert(1)>"
    await page.locator('input[name="reporter"]').fill(reporter)
    await page.locator('textarea[name="question"]').fill(XSS)
    await page.get_by_role("button", name="提交", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/tickets/[^/?]+\?done=created$"))
    number = page.url.rsplit("/", 1)[1].split("?")[0]
    assert console.app.services.tickets.get(number).question == XSS
    await page.goto("/playground")
    reply = await say(page, XSS)  # the bot quotes it back with its ticket number
    await expect(reply.locator(".pg-quote")).to_contain_text(XSS)

    # the engineer's views, with the Content-Security-Policy switched off in this browser:
    # escaping (templates) and textContent (playground.js) alone must keep the payload inert
    engineer = await console.new_page(bypass_csp=True)
    engineer.on("dialog", on_dialog)
    await login(engineer, "e01")
    for p in (page, engineer):
        await p.goto(f"/tickets/{number}")
        await expect(p.locator("#ticket-question")).to_have_text(XSS)
        await expect(p.locator("main")).to_contain_text(reporter)
        await expect(p.locator("#ticket-question img, #ticket-question script")).to_have_count(0)
        await expect(p.locator("main svg")).to_have_count(0)
        assert await p.evaluate("window.__xss") is None
    await shot(engineer, "ticket-xss-inert")
    await engineer.goto("/tickets")
    row = engineer.locator("table tbody tr").filter(has_text=f"#{number}")
    await expect(row).to_contain_text("<img src=x")  # the list's shortened question
    assert await engineer.evaluate("window.__xss") is None

    await engineer.goto("/playground?hospital=h001")
    log = engineer.locator("#pg-log")
    await expect(log.locator(".pg-user .pg-text")).to_have_text([XSS])
    await expect(log.locator(".pg-bot .pg-quote")).to_contain_text([XSS])
    await expect(log.locator("img, script, svg")).to_have_count(0)
    assert await engineer.evaluate("window.__xss") is None
    assert dialogs == []


# -- the playground -------------------------------------------------------------------------------


async def test_the_playground_answers_from_the_kb_and_escalates(console: BrowserConsole) -> None:
    page = console.page
    await login(page, "e01")
    await page.get_by_role("link", name="对话演示").click()
    await page.locator('#pg-switch select[name="hospital"]').select_option("h001")
    await expect(page.locator("#pg-chat")).to_have_attribute("data-chat", "h001")

    # a question the sample KB answers: the answer links to its article
    reply = await say(page, "药房爱普生730K打摆药单全是乱七八糟的符号，前两天电脑刚自动更新过")
    cite = reply.locator("a.pg-cite")
    await expect(cite).to_contain_text("知识库")
    href = await cite.get_attribute("href")
    assert href == console.url + "/kb/hb-007", href
    await expect(reply.locator(".pg-text")).not_to_contain_text("工单")
    await shot(page, "playground")
    async with page.context.expect_page() as opened:
        await cite.click()  # target=_blank: the article opens in a new tab
    article = await opened.value
    await expect(article).to_have_url(href)
    kb_article = console.app.services.article("hb-007")
    assert kb_article is not None
    await expect(cite).to_contain_text(kb_article.title)
    await expect(article.locator("h1")).to_have_text(kb_article.title)
    await article.close()

    # an outage: registered as an urgent ticket at once
    reply = await say(page, "全院的收费系统都打不开了，所有窗口都卡住了")
    await expect(reply.locator(".pg-text")).to_contain_text(TICKET_NUMBER)
    urgent = TICKET_NUMBER.search(await reply.locator(".pg-text").inner_text())
    assert urgent is not None
    # nobody on duty could be paged: the group is told the ticket heads the queue (awaited
    # here, so this later message cannot be taken for the reply to the next question)
    queued = page.locator("#pg-log > li.pg-bot", has_text="已排在工程师队列最前")
    await expect(queued).to_have_count(1)
    await expect(queued).to_contain_text(urgent.group(0))

    # a question the KB cannot answer: a ticket too
    reply = await say(page, "手术麻醉系统的麻醉记录单能不能自己加一栏")
    await expect(reply.locator(".pg-text")).to_contain_text(TICKET_NUMBER)
    normal = TICKET_NUMBER.search(await reply.locator(".pg-text").inner_text())
    assert normal is not None
    await shot(page, "playground-escalated")

    tickets = console.app.services.tickets
    outage = tickets.get(urgent.group(1))
    assert outage.hospital_id == "h001" and outage.urgency == "P1"
    assert "收费系统" in outage.question
    question = tickets.get(normal.group(1))
    assert question.hospital_id == "h001" and question.status == "new"
    assert "麻醉记录单" in question.question

    # the tickets are on the platform, and the report counts them
    await page.goto("/tickets")
    for number in (urgent.group(1), normal.group(1)):
        await expect(page.locator("main")).to_contain_text(f"#{number}")
    await page.goto("/reports")
    await expect(page.locator("h1")).to_contain_text("服务报告")
    await expect(page.locator("main")).to_contain_text("手术麻醉系统的麻醉记录单能不能自己加一栏")
    await shot(page, "reports")


async def test_closing_the_playground_ends_its_long_poll(console: BrowserConsole) -> None:
    web = console.app.web_chat
    assert web is not None
    web.disconnect_check = 0.1  # how often a waiting poll looks for its browser
    polling = asyncio.Event()
    ended = asyncio.Event()
    changes = web.changes

    async def watched(
        chat_id: str,
        after: int,
        user_id: str,
        wait: float = 0.0,
        gone: Any = None,
        client: str = "",
    ) -> Any:
        if wait > 0:
            polling.set()
        try:
            return await changes(chat_id, after, user_id, wait, gone, client)
        finally:
            if wait > 0:
                ended.set()

    web.changes = watched  # type: ignore[method-assign]
    page = console.page
    await login(page, "e01")
    await page.goto("/playground?hospital=h001")
    async with asyncio.timeout(TIMEOUT_MS / 1000):
        await polling.wait()
    await page.close()
    async with asyncio.timeout(2):  # a poll checks for its browser every 0.1 s
        await ended.wait()
