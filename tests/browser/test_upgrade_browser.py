"""One upgrade walked in headless Chromium, the way an engineer does it on the console:
registered on the hospital's page, then test environment → simulated upgrade → production →
verified, one form per stage; the board shows it while in progress and the hospital's
version changes once verified."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import BrowserConsole, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

STAGES = ("搭建测试环境", "模拟升级与测试", "正式升级", "验证完成")


async def test_an_upgrade_from_test_environment_to_verified(console: BrowserConsole) -> None:
    page = console.page
    await login(page)
    await page.get_by_role("link", name="服务项目").click()
    await expect(page.locator("#upgrade-board")).to_contain_text("没有进行中的升级")
    await page.locator("#teams").get_by_role("link", name="第一人民医院").click()
    await expect(page).to_have_url(re.compile(r"/services/hospitals/h001$"))

    form = page.locator("#new-upgrade")
    await form.get_by_label("产品").fill("HIS")
    await form.get_by_label("目标版本").fill("5.3")
    await form.get_by_role("button", name="登记升级").click()
    await expect(page.locator("p.flash")).to_have_text("升级已登记。")
    upgrade = page.locator("article.upgrade").first

    for i, stage in enumerate(STAGES):
        await upgrade.get_by_label("备注").fill(f"第 {i + 1} 步完成")
        await upgrade.get_by_role("button", name=f"记录「{stage}」").click()
        await expect(page.locator("p.flash")).to_have_text("升级阶段已记录。")
        await expect(upgrade.locator("h3 .badge")).to_have_text(stage)
        await expect(upgrade.locator("tbody tr")).to_have_count(i + 1)
        if i == 1:  # half way: the all-hospital board lists it with its next stage
            await page.goto("/services")
            await expect(page.locator("#upgrade-board")).to_contain_text("正式升级")
            await page.goto("/services/hospitals/h001")

    await expect(upgrade.get_by_role("button")).to_have_count(0)
    await expect(upgrade.locator("tbody")).to_contain_text("第 4 步完成")
    await expect(page.locator("#versions")).to_have_text("HIS 5.3")
    await shot(page, "upgrade-verified")
    await page.goto("/services")
    await expect(page.locator("#upgrade-board")).to_contain_text("没有进行中的升级")
    await expect(page.locator("#teams")).to_contain_text("5.3")
