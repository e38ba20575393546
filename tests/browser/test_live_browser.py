"""The console tells engineers at once: with the ticket list open, a P1 a hospital registers
appears live (pinned on top, badge, toast) without reloading; an overdue ticket's row is
marked as its clock breaches. Headless Chromium over the whole running bot."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import BrowserConsole, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_p1_appears_live_on_an_engineers_open_ticket_list(
    console: BrowserConsole,
) -> None:
    engineer = console.page
    await login(engineer, "e01")  # lands on /tickets
    await expect(engineer.locator("body")).to_have_attribute("data-live", "open")
    await expect(engineer.locator("#live-badge")).to_be_hidden()

    hospital = await console.new_page()
    await hospital.goto(console.hospital_link("h001"))
    await hospital.goto("/tickets/new")
    await hospital.locator('input[name="reporter"]').fill("信息科 刘工")
    await hospital.locator('select[name="category"]').select_option("usage")
    await hospital.locator('select[name="urgency"]').select_option("P1")
    await hospital.locator('textarea[name="question"]').fill("全院门诊收费都登不上HIS了")
    await hospital.get_by_role("button", name="提交", exact=True).click()
    await expect(hospital).to_have_url(re.compile(r"/tickets/[^/?]+\?done=created$"))
    number = hospital.url.rsplit("/", 1)[1].split("?")[0]

    # on the engineer's page, untouched since it loaded: the row, pinned first, and the badge
    first = engineer.locator("#ticket-rows tr").first
    await expect(first).to_have_attribute("data-number", number)
    await expect(first).to_have_class(re.compile(r"\bpinned\b"))
    await expect(first).to_contain_text("全院门诊收费都登不上HIS了")
    await expect(engineer.locator("#live-badge")).to_have_text("1")
    await expect(engineer.locator(".live-toast.urgent")).to_contain_text(f"#{number}")
    await shot(engineer, "tickets-live-p1")

    # the accept clock breaches: the row is marked overdue live, and stays so after a reload
    watch = console.app.services.sla
    assert watch is not None
    late = watch.now() + dt.timedelta(minutes=16)
    fired = await asyncio.to_thread(watch.clocks.claim_due, late)
    assert [(f.ticket_number, f.step.value) for f in fired][-1] == (number, "breach")
    watch.pulse.beat()
    row = engineer.locator(f'#ticket-rows tr[data-number="{number}"]')
    await expect(row).to_have_class(re.compile(r"\boverdue\b"))
    await expect(row.locator("td.sla")).to_have_text("受理超时")
    await expect(engineer.locator("#live-badge")).to_have_text("2")
