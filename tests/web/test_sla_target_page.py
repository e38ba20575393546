"""SLA 目标 (/sla/targets): each hospital's targets per urgency, the contract's own or the
default, set and reset by leads — the same rules as ``hisbot sla target``, authorised on the
server, CSRF-checked, audited; bad input refused in Chinese with nothing changed; a new target
reaches the clocks of tickets opened afterwards only."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.sla.clocks import SlaClocks
from bot.sla.models import SlaClock
from bot.sla.targets import Target
from bot.wiring.operations import sla_clocks
from tests.web.conftest import WebEnv
from tests.web.test_tickets import NUMBER, create_on_web

PAGE = "/sla/targets"
P2 = {"hospital": "h001", "urgency": "P2", "accept": "10", "resolve": "60"}


def clocks(web: WebEnv) -> SlaClocks:
    assert web.app.services.sla is not None
    return web.app.services.sla.clocks


def row(html: str, hospital: str, urgency: str) -> str:
    """One row of the targets table as text."""
    m = re.search(rf'<tr id="target-{hospital}-{urgency}">(.*?)</tr>', html, re.S)
    assert m, f"no row {hospital} {urgency}"
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(1)).split())


def audited(web: WebEnv) -> list[tuple[str, str, str]]:
    return [
        (a.actor, a.action, a.target)
        for a in web.store.audit_search()
        if a.action.startswith("sla_target")
    ]


async def post(
    web: WebEnv, client: httpx.AsyncClient, path: str, data: dict[str, str]
) -> httpx.Response:
    return await web.post_form(client, path, data, page=PAGE)


async def open_ticket(web: WebEnv) -> str:
    """A P2 ticket registered on h001's web form (its clocks start as it opens)."""
    hospital = await web.as_hospital("h001")
    r = await create_on_web(web, hospital, urgency="P2")
    m = NUMBER.search(r.headers["location"])
    assert r.status_code == 303 and m
    return m.group(1)


def clocks_of(web: WebEnv, number: str) -> dict[str, SlaClock]:
    return {c.kind: c for c in clocks(web).for_ticket(number)}


async def test_a_lead_sees_every_hospitals_targets_own_or_default(web: WebEnv) -> None:
    clocks(web).set_target("h002", "P1", 10, 120, working_time=False)
    lead = await web.login("e01")
    page = await lead.get(PAGE)
    assert page.status_code == 200 and "SLA 目标" in page.text
    for hospital in ("h001", "h002"):
        for urgency in ("P1", "P2", "P3", "P4"):
            row(page.text, hospital, urgency)
    # the defaults: [reports.targets], P3/P4 counted in working time ([sla] working_time)
    assert (
        row(page.text, "h001", "P2")
        == "P2 高 30 分钟 1440 分钟 （24 小时 0 分） 全天计时 默认 修改"
    )
    # working-time targets in working days of [duty] hours (08:30–17:30: 540 minutes)
    assert "120 分钟 （2 小时 0 分） 4320 分钟 （8 个工作日） 只计工作时间 默认" in row(
        page.text, "h001", "P3"
    )
    assert "10080 分钟 （约 18.7 个工作日）" in row(page.text, "h001", "P4")
    own = row(page.text, "h002", "P1")
    assert "10 分钟 120 分钟" in own and "合同目标 默认：15 / 240 分钟，全天计时" in own
    assert "恢复默认" in own and "恢复默认" not in row(page.text, "h001", "P1")
    assert "已经开始计时的工单保持原来的时限" in page.text  # says when a change applies

    one = await lead.get(PAGE, params={"hospital": "h002", "urgency": "P1"})
    assert 'id="target-h001-P1"' not in one.text and row(one.text, "h002", "P1")
    assert 'name="accept" value="10"' in one.text and 'name="resolve" value="120"' in one.text
    assert (await lead.get(PAGE, params={"hospital": "h999"})).status_code == 404
    assert (await lead.get(PAGE, params={"urgency": "P9"})).status_code == 400

    # where a lead looks: the SLA section of the report, the hospital's service page
    for path in ("/reports", "/services/hospitals/h001"):
        assert 'id="sla-targets-link"' in (await lead.get(path)).text
    plain = await web.login("e02", web.new_client())
    assert 'id="sla-targets-link"' not in (await plain.get("/reports")).text


async def test_a_lead_sets_a_target_and_only_new_tickets_get_it(web: WebEnv) -> None:
    earlier = await open_ticket(web)
    before = clocks_of(web, earlier)
    assert (before["accept"].target_minutes, before["resolve"].target_minutes) == (30, 1440)
    lead = await web.login("e01")
    r = await post(web, lead, PAGE, {**P2, "working_time": "yes"})
    assert r.status_code == 303
    assert r.headers["location"] == "/sla/targets?hospital=h001&urgency=P2&done=set"
    assert clocks(web).target("h001", "P2") == Target(10, 60, True, own=True)
    assert clocks(web).target("h002", "P2") == Target(30, 1440, False)

    page = await lead.get(r.headers["location"])
    assert "目标已保存：此后新建的工单按新目标计时。" in page.text
    assert "10 分钟 60 分钟 （1 小时 0 分） 只计工作时间 合同目标" in row(page.text, "h001", "P2")
    [(actor, action, target)] = audited(web)
    assert (actor, action, target) == ("engineer:e01", "sla_target_set", "h001 P2")
    detail = web.store.audit_search(action="sla_target_set")[0].detail
    assert detail == (
        "受理 10 分钟，解决 60 分钟，只计工作时间（原默认：受理 30 分钟，解决 1440 分钟，全天计时）"
    )
    audit = await lead.get("/audit", params={"action": "sla_target_set"})
    assert "设置 SLA 目标" in audit.text

    after = clocks_of(web, await open_ticket(web))
    assert (after["accept"].target_minutes, after["resolve"].target_minutes) == (10, 60)
    assert after["accept"].working_time and after["resolve"].working_time
    # the ticket opened before the change keeps the clocks it started with
    kept = clocks_of(web, earlier)
    assert {k: (c.target_minutes, c.working_time, c.due_at) for k, c in kept.items()} == {
        k: (c.target_minutes, c.working_time, c.due_at) for k, c in before.items()
    }


async def test_a_lead_resets_an_own_target_to_the_default(web: WebEnv) -> None:
    lead = await web.login("e01")
    assert (await post(web, lead, PAGE, P2)).status_code == 303
    reset = {"hospital": "h001", "urgency": "P2"}
    r = await post(web, lead, f"{PAGE}/reset", reset)
    assert r.status_code == 303
    assert r.headers["location"] == "/sla/targets?hospital=h001&urgency=P2&done=reset"
    assert clocks(web).target("h001", "P2") == Target(30, 1440, False, own=False)
    page = await lead.get(r.headers["location"])
    assert "已恢复默认目标" in page.text and row(page.text, "h001", "P2").endswith("默认 修改")
    assert ("engineer:e01", "sla_target_reset", "h001 P2") in audited(web)
    assert clocks_of(web, await open_ticket(web))["accept"].target_minutes == 30

    again = await post(web, lead, f"{PAGE}/reset", reset)
    assert again.status_code == 400 and "h001 的 P2 本来就是默认目标，无需恢复。" in again.text
    assert len(audited(web)) == 2


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"accept": "abc"}, "受理时限应为整数分钟（如 30），不能是 'abc'。"),
        ({"resolve": "1.5"}, "解决时限应为整数分钟（如 30），不能是 '1.5'。"),
        ({"accept": ""}, "请填写受理时限（分钟）。"),
        ({"accept": "0"}, "受理时限应为 1–525600 之间的整数分钟（最长一年），不能是 0。"),
        ({"resolve": "-5"}, "解决时限应为 1–525600 之间的整数分钟（最长一年），不能是 -5。"),
        ({"resolve": "600000"}, "解决时限应为 1–525600 之间的整数分钟（最长一年）"),
        ({"accept": "90", "resolve": "60"}, "解决时限（60 分钟）不能短于受理时限（90 分钟）"),
        ({"hospital": "h999"}, "没有这家医院：h999。"),
        ({"urgency": "P9"}, "没有这个紧急程度：P9（应为 P1–P4）。"),
        ({"hospital": ""}, "请选择医院和紧急程度。"),
    ],
)
async def test_bad_input_is_refused_clearly_and_changes_nothing(
    web: WebEnv, change: dict[str, str], says: str
) -> None:
    clocks(web).set_target("h001", "P2", 20, 200, working_time=False)
    lead = await web.login("e01")
    data = {**P2, "working_time": "yes", **change}
    r = await post(web, lead, PAGE, data)
    assert r.status_code == 400 and f"未保存：{says}" in r.text.replace("&#39;", "'"), r.text[
        -3000:
    ]
    # the form as typed
    assert f'name="accept" value="{data["accept"]}"' in r.text
    assert f'name="resolve" value="{data["resolve"]}"' in r.text
    assert 'name="working_time" value="yes" checked' in r.text
    assert clocks(web).target("h001", "P2") == Target(20, 200, False, own=True)
    assert audited(web) == []


async def test_only_leads_change_targets_and_only_with_the_pages_token(web: WebEnv) -> None:
    plain = await web.login("e02", web.new_client())
    assert (await plain.get(PAGE)).status_code == 404
    csrf = await web.csrf(plain, "/duty")  # a real token of e02's session
    for path in (PAGE, f"{PAGE}/reset"):
        assert (await plain.post(path, data={**P2, "csrf": csrf})).status_code == 404
    hospital = await web.as_hospital("h001")
    assert (await hospital.get(PAGE)).status_code == 404
    anonymous = await web.new_client().get(PAGE)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

    lead = await web.login("e01")
    assert (await lead.post(PAGE, data={**P2, "csrf": "made-up"})).status_code == 403
    assert (await lead.post(PAGE, data=P2)).status_code == 403
    token = await web.csrf(lead, PAGE)
    cross = await lead.post(
        PAGE, data={**P2, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert clocks(web).target("h001", "P2") == Target(30, 1440, False)
    assert audited(web) == []


@pytest.mark.parametrize("extra_config", ["[sla]\nenabled = false\n"])
async def test_with_the_clocks_off_targets_are_kept_for_later(web: WebEnv) -> None:
    assert web.app.services.sla is None
    lead = await web.login("e01")
    page = await lead.get(PAGE)
    assert "SLA 计时未启用" in page.text and row(page.text, "h002", "P4")
    assert (await post(web, lead, PAGE, P2)).status_code == 303
    stored = sla_clocks(web.settings, web.console.db).target("h001", "P2")
    assert stored == Target(10, 60, False, own=True)
