"""The operators' pages in headless Chromium: a patch notice composed, previewed, sent and
acknowledged (the broadcaster's 通知 page, the hospital's web chat with its download link
clickable and 已知悉 pressed, the receipt back on the notice's page); the 操作审计 page
filtered; the playground's buttons after 已解决/没解决 and its toasts after a reload; a lead's
change of a hospital's SLA target (a typing mistake kept and explained, then saved and reset)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from bot.web.playground import WEB_PLATFORM
from tests.browser.conftest import BrowserConsole, login, shot
from tests.browser.test_console_browser import say

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

DOWNLOAD = "https://dl.example.com/his-5.2.4.zip"
TICKET = re.compile(r"❌ 没解决，已转工程师：工单 #\d{4}-\d{6}")


@pytest.fixture
def extra_config() -> str:
    return '[broadcast]\nquiet_hours = ""\n'  # the wall clock may be in quiet hours


async def test_compose_preview_send_and_see_the_receipt(console: BrowserConsole) -> None:
    for h in ("h001", "h002"):
        console.app.services.registry.add_chat(WEB_PLATFORM, h, h, title=f"{h} 对话")
    page = console.page
    await login(page)
    await page.get_by_role("link", name="通知", exact=True).click()
    await page.get_by_role("link", name="补丁通知").click()
    form = page.locator("#notice-form")
    await form.get_by_label("产品").fill("HIS")
    await form.get_by_label("模块", exact=True).fill("住院")
    await form.get_by_label("版本").fill("5.2.4")
    await form.locator('textarea[name="body"]').fill("修复医保结算 2304")
    await form.get_by_label("下载地址").fill(DOWNLOAD)
    await form.get_by_label("需要医院做的操作").fill("停住院服务后升级")
    await form.get_by_label("截止时间").fill("2030-01-10T18:00")
    await form.get_by_role("button", name="保存草稿并预览").click()
    # the checksum was forgotten: said in Chinese, and nothing typed is lost
    await expect(page.locator("p.flash.error")).to_contain_text("还缺少：校验值")
    await expect(form.get_by_label("版本")).to_have_value("5.2.4")
    await form.get_by_label("校验值").fill("sha256:ab12")
    await form.get_by_role("button", name="保存草稿并预览").click()

    await expect(page).to_have_url(re.compile(r"/notices/\d+\?done=created$"))
    await expect(page.locator("#notice-text")).to_contain_text("【补丁通知】HIS 住院 5.2.4 补丁")
    await expect(page.locator("#notice-text")).to_contain_text("截止时间：2030-01-10 18:00")
    await expect(page.locator("#notice-recipients tbody tr")).to_have_count(2)
    await expect(page.locator("#notice-download")).to_have_attribute("href", DOWNLOAD)
    await shot(page, "notice-preview")
    send = page.locator("#notice-send")
    await send.get_by_role("button", name="确认发送").click()  # no desk: a test copy is needed
    await expect(page.locator("p.flash.error")).to_contain_text("不发测试稿")
    await page.locator("#notice-send").get_by_label("不发测试稿").check()
    await page.locator("#notice-send").get_by_role("button", name="确认发送").click()
    await expect(page.locator("p.flash")).to_have_text("已确认发送：运行中的机器人正在发送。")
    broadcasts = console.app.services.broadcasts
    assert broadcasts is not None
    await broadcasts.broadcaster.process_once()

    hospital = await console.new_page()
    await hospital.goto(console.hospital_link("h001"))
    await hospital.goto("/playground")
    notice = hospital.locator("li.pg-bot", has_text="5.2.4")
    await expect(notice).to_have_count(1)
    await expect(notice.locator("a.pg-link")).to_have_attribute("href", DOWNLOAD)
    await notice.get_by_role("button", name="已知悉").click()
    await expect(notice).to_contain_text("✅ 已知悉")

    await page.reload()
    await expect(page.locator("#notice-status")).to_contain_text("已送达 2")
    row = page.locator("#notice-receipts tr", has_text="第一人民医院")
    # 已知悉: who pressed and when (the hospital's own wall clock); 已升级 not yet
    await expect(row.locator("td").nth(2)).to_have_text(
        re.compile(r"\S+ \d{4}-\d\d-\d\d \d\d:\d\d")
    )
    await expect(row.locator("td").nth(3)).to_have_text("—")
    await expect(page.locator("#notice-status")).to_contain_text("已知悉 1")
    await shot(page, "notice-status")


async def test_the_audit_page_filters_in_chinese(console: BrowserConsole) -> None:
    page = console.page
    await page.goto("/login")
    await page.locator('input[name="username"]').fill("e02")
    await page.locator('input[name="password"]').fill("not-the-password")
    await page.get_by_role("button", name="登录", exact=True).click()
    await login(page)
    await page.get_by_role("link", name="审计").click()
    table = page.locator("#audit-rows tbody")
    await expect(table).to_contain_text("登录失败")
    await expect(table).to_contain_text("工程师 e01")
    filters = page.locator("#audit-filters")
    await filters.locator('select[name="action"]').select_option(label="登录失败")
    await filters.get_by_role("button", name="筛选").click()
    await expect(page).to_have_url(re.compile(r"action=login_failed"))
    await expect(table.locator("tr")).to_have_count(1)
    await expect(table.locator("tr td").nth(1)).to_have_text("未登录访客")
    await expect(table.locator("tr td").nth(3)).to_have_text("e02")
    await expect(filters.locator('select[name="action"]')).to_have_value("login_failed")  # kept
    await filters.get_by_label("操作人").fill("e01")
    await filters.get_by_role("button", name="筛选").click()
    await expect(table).to_contain_text("没有符合条件的记录")
    await shot(page, "audit-filtered")


async def test_playground_buttons_close_and_toasts_do_not_replay(console: BrowserConsole) -> None:
    page = console.page
    await page.goto(console.hospital_link("h001"))
    await page.goto("/playground")
    solved = await say(page, "药房爱普生730K打摆药单全是乱七八糟的符号，前两天电脑刚自动更新过")
    await solved.get_by_role("button", name="已解决").click()
    await expect(page.locator("#pg-toasts .pg-toast")).to_have_count(1)  # the thanks
    await expect(solved.locator("button", has_text="没解决")).to_have_count(0)
    unsolved = await say(page, "住院病人入院时间录错了，床位费多算了一天")
    await unsolved.get_by_role("button", name="没解决，转工程师").click()
    # like an edit on Telegram: both buttons go, the steps stay, the ticket is named
    await expect(unsolved.locator(".pg-buttons button")).to_have_count(0)
    await expect(unsolved.locator(".pg-text")).to_contain_text(TICKET)
    await shot(page, "playground-unsolved")
    await page.reload()
    await expect(page.locator("#pg-log > li")).not_to_have_count(0)
    await expect(page.locator("#pg-log")).to_contain_text("❌ 没解决，已转工程师")
    await expect(page.locator("#pg-toasts .pg-toast")).to_have_count(0)  # no replay


async def test_a_lead_swaps_two_days_on_the_roster_page(console: BrowserConsole) -> None:
    import datetime as dt

    from bot.duty.models import Post

    sla = console.app.services.sla
    assert sla is not None
    sla.roster.set_rotation(
        Post.DAY, ["e02", "e01"], "e01", step_days=1, starts_on=dt.date(2026, 10, 5)
    )
    page = console.page
    await login(page)
    await page.goto("/duty?start=2026-10-05")
    form = page.locator("#swap-form")
    await form.locator('select[name="post"]').select_option("day")
    await form.get_by_label("第一个日期").fill("2026-10-08")
    await form.get_by_label("第二个日期").fill("2026-10-08")
    await form.get_by_label("原因").fill("家里有事")
    await form.get_by_role("button", name="换班").click()
    await expect(page.locator("p.flash.error")).to_contain_text("请选择两个不同的日期")
    await expect(page.locator("#swap-form").get_by_label("原因")).to_have_value("家里有事")
    await page.locator("#swap-form").get_by_label("第二个日期").fill("2026-10-09")
    await page.locator("#swap-form").get_by_role("button", name="换班").click()
    await expect(page.locator("p.flash")).to_have_text("已换班。")
    day = page.locator("#duty-week tr", has_text="10-08")
    await expect(day.locator("td").nth(2)).to_have_text("李工")
    await expect(page.locator("#duty-week tr", has_text="10-09").locator("td").nth(2)).to_have_text(
        "王工"
    )
    await shot(page, "duty-swapped")


async def test_a_lead_changes_a_hospitals_sla_target_and_resets_it(
    console: BrowserConsole,
) -> None:
    page = console.page
    await login(page)
    await page.goto("/reports")
    await page.get_by_role("link", name="查看 / 设置各医院合同的 SLA 目标").click()
    await expect(page).to_have_url(re.compile(r"/sla/targets$"))
    row = page.locator("#target-h001-P2")
    await expect(row).to_contain_text("默认")
    await row.get_by_role("link", name="修改").click()
    form = page.locator("#target-form form")
    await expect(form.get_by_label("受理时限（分钟）")).to_have_value("30")
    await expect(form.get_by_label("解决时限（分钟）")).to_have_value("1440")
    await form.get_by_label("受理时限（分钟）").fill("半小时")
    await form.get_by_role("button", name="保存目标").click()
    await expect(page.locator("main > p.flash.error")).to_contain_text("受理时限应为整数分钟")
    await expect(form.get_by_label("受理时限（分钟）")).to_have_value("半小时")  # kept
    await form.get_by_label("受理时限（分钟）").fill("10")
    await form.get_by_label("解决时限（分钟）").fill("60")
    await form.locator('input[name="working_time"]').check()
    await form.get_by_role("button", name="保存目标").click()
    await expect(page.locator("main > p.flash")).to_have_text(
        "目标已保存：此后新建的工单按新目标计时。"
    )
    await expect(row).to_contain_text("合同目标")
    await expect(row).to_contain_text("只计工作时间")
    await shot(page, "sla-targets")
    await row.get_by_role("button", name="恢复默认").click()
    await expect(page.locator("main > p.flash")).to_contain_text("已恢复默认目标")
    await expect(row.locator(".badge.own")).to_have_count(0)


async def test_a_hospital_attaches_a_screenshot_to_its_ticket(
    console: BrowserConsole, tmp_path: Path
) -> None:
    import datetime as dt

    services = console.app.services
    hospital = services.registry.get_hospital("h001")
    assert hospital is not None
    ticket = services.ticket_flow.register_web_ticket(
        hospital, reporter_id="test", reporter_name="收费处", question="发票打印偏移",
        category="usage", urgency="P3", now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    screenshot = tmp_path / "发票偏移.png"
    screenshot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    page = await console.new_page()
    await page.goto(console.hospital_link("h001"))
    await page.goto(f"/tickets/{ticket.number}")
    form = page.locator("#attach-form")
    await expect(page.locator("#attachments")).to_contain_text("请遮挡")
    await form.locator('input[type="file"]').set_input_files(str(screenshot))
    await form.get_by_role("button", name="上传", exact=True).click()
    await expect(page.locator("p.flash")).to_have_text("附件已上传。")
    link = page.locator("#attachments a", has_text="发票偏移.png")
    await expect(link).to_have_count(1)
    engineer = console.page
    await login(engineer)
    await engineer.goto(f"/tickets/{ticket.number}")
    async with engineer.expect_download() as download:
        await engineer.locator("#attachments a", has_text="发票偏移.png").click()
    saved = await (await download.value).path()
    assert saved is not None and Path(saved).read_bytes() == screenshot.read_bytes()
    await shot(engineer, "ticket-attachment")
