"""值班表 (/duty): the week as the roster resolves it (法定节假日, 调休), and leads' changes
through the page — authorised on the server, CSRF-checked, audited, bad input refused."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from bot.duty.models import Post
from bot.duty.roster import Roster
from tests.web.conftest import WebEnv, csrf_of

ROTATION = {
    "post": "day", "engineers": "e02，e01", "every": "1", "starting": "2026-10-05", "hospital": "",
}  # fmt: skip


def week_rows(html: str) -> dict[str, list[str]]:
    """The week table: ``MM-DD`` → the row's cells as text."""
    body = html.split('<table id="duty-week">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for tr in re.findall(r"<tr class=\"day-.*?</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td.*?</td>", tr, re.S)]
        rows[cells[0].split()[0]] = cells
    return rows


def roster(web: WebEnv) -> Roster:
    assert web.app.services.sla is not None
    return web.app.services.sla.roster


async def post(
    web: WebEnv, client: httpx.AsyncClient, path: str, data: dict[str, str]
) -> httpx.Response:
    return await web.post_form(client, path, data, page="/duty")


async def test_a_lead_sets_a_rotation_and_a_day_and_engineers_see_the_week(web: WebEnv) -> None:
    lead = await web.login("e01")
    r = await post(web, lead, "/duty/rotation", ROTATION)
    assert (r.status_code, r.headers["location"]) == (303, "/duty?done=rotation")
    leave = {"day": "2026-10-10", "post": "day", "engineer": "e02", "reason": "调休换班"}
    r = await post(web, lead, "/duty/override", leave)
    assert (r.status_code, r.headers["location"]) == (303, "/duty?start=2026-10-05&done=override")
    assert roster(web).holder(Post.DAY, dt.date(2026, 10, 10)) == "e02"

    plain = await web.login("e02", web.new_client())
    page = await plain.get("/duty", params={"start": "2026-10-05"})
    assert page.status_code == 200
    rows = week_rows(page.text)
    assert list(rows) == ["10-05", "10-06", "10-07", "10-08", "10-09", "10-10", "10-11"]
    # columns: date, kind, 白班, 夜班, 周末, 节假日, 组长, then one per hospital
    assert rows["10-05"][1] == "法定节假日·National Day" and rows["10-05"][2] == "李工"
    assert rows["10-08"][1] == "工作日" and rows["10-08"][2] == "王工"
    assert rows["10-09"][2] == "李工"
    # Saturday 10-10 is a make-up working day; the rotation says 王工, the override 李工
    assert rows["10-10"][1] == "调休上班·National Day" and rows["10-10"][2] == "李工"
    assert rows["10-11"][1] == "周末"
    assert "设置轮换" not in page.text and 'action="/duty/override"' not in page.text
    assert "下一周" in page.text and "/duty?start=2026-10-12" in page.text

    audit = [(a.actor, a.action, a.target) for a in web.store.audit_search()]
    assert ("engineer:e01", "duty_rotation_set", "day") in audit
    assert ("engineer:e01", "duty_override_set", "2026-10-10 day") in audit


async def test_only_leads_change_the_roster_and_only_with_the_pages_token(web: WebEnv) -> None:
    plain = await web.login("e02", web.new_client())
    assert (await post(web, plain, "/duty/rotation", ROTATION)).status_code == 404
    hospital = await web.as_hospital("h001")
    assert (await hospital.get("/duty")).status_code == 404
    lead = await web.login("e01")
    forged = await lead.post("/duty/rotation", data={**ROTATION, "csrf": "made-up"})
    assert forged.status_code == 403
    assert roster(web).holder(Post.DAY, dt.date(2026, 10, 8)) is None
    assert web.store.audit_search() and all(
        a.action not in {"duty_rotation_set", "duty_override_set"} for a in web.store.audit_search()
    )


async def test_bad_input_is_refused_clearly_and_the_form_kept(web: WebEnv) -> None:
    lead = await web.login("e01")
    r = await post(web, lead, "/duty/rotation", {**ROTATION, "engineers": "e01 e99"})
    assert r.status_code == 400
    assert "未保存：no engineer e99" in r.text and 'value="e01 e99"' in r.text
    r = await post(web, lead, "/duty/rotation", {**ROTATION, "every": "0"})
    assert r.status_code == 400 and "每班天数应为 1–366 之间的整数" in r.text
    r = await post(web, lead, "/duty/rotation", {**ROTATION, "post": "dinner"})
    assert r.status_code == 400 and "没有这个班次" in r.text
    r = await post(web, lead, "/duty/override", {"day": "10/10", "post": "day", "engineer": "e02"})
    assert r.status_code == 400 and "日期格式应为 YYYY-MM-DD" in r.text
    r = await post(
        web, lead, "/duty/override",
        {"day": "2026-10-10", "post": "night", "engineer": "e02", "hospital": "h001"},
    )  # fmt: skip
    assert r.status_code == 400 and "只有“医院当日工程师”按医院设置" in r.text
    assert (await lead.get("/duty", params={"start": "yesterday"})).status_code == 400
    day = dt.date(2026, 10, 10)
    assert roster(web).holder(Post.DAY, day) is None
    assert roster(web).holder(Post.NIGHT, day) is None


async def test_a_hospitals_engineer_of_the_day_and_an_unknown_year(web: WebEnv) -> None:
    lead = await web.login("e01")
    daily = {
        "post": "hospital",
        "engineers": "e01 e02",
        "hospital": "h002",
        "starting": "2027-03-01",
    }
    assert (await post(web, lead, "/duty/rotation", daily)).status_code == 303
    page = await lead.get("/duty", params={"start": "2027-03-01"})
    rows = week_rows(page.text)
    assert [rows[d][-1] for d in ("03-01", "03-02", "03-03")] == ["王工", "李工", "王工"]
    assert rows["03-01"][-2] == "—"  # h001 has no engineer of the day
    assert "没有 2027 年的法定节假日安排" in page.text
    assert "（日历未知）" in rows["03-01"][1]
    assert csrf_of(page.text)


async def test_a_lead_swaps_two_days_from_the_page(web: WebEnv) -> None:
    """`hisbot duty swap` from the 值班表: the holders trade, audited; mistakes in Chinese
    with the form as typed."""
    lead = await web.login("e01")
    assert (await post(web, lead, "/duty/rotation", ROTATION)).status_code == 303
    # the daily rotation from Monday 10-05: e02, e01, e02, e01 …
    first, second = dt.date(2026, 10, 8), dt.date(2026, 10, 9)
    assert (roster(web).holder(Post.DAY, first), roster(web).holder(Post.DAY, second)) == (
        "e01",
        "e02",
    )
    swap = {"post": "day", "first": str(first), "second": str(second), "reason": "家里有事"}
    r = await post(web, lead, "/duty/swap", swap)
    assert (r.status_code, r.headers["location"]) == (303, "/duty?start=2026-10-05&done=swap")
    assert (roster(web).holder(Post.DAY, first), roster(web).holder(Post.DAY, second)) == (
        "e02",
        "e01",
    )
    page = await lead.get(r.headers["location"])
    assert "已换班。" in page.text and week_rows(page.text)["10-08"][2] == "李工"
    [done] = [a for a in web.store.audit_search() if a.action == "duty_swap"]
    assert done.target == "day 2026-10-08 ⇄ 2026-10-09"
    assert done.detail == "2026-10-08：e02，2026-10-09：e01；家里有事"

    refused = [
        ({**swap, "second": str(first)}, "请选择两个不同的日期"),
        ({**swap, "first": "10/08"}, "第一个日期格式应为 YYYY-MM-DD"),
        ({**swap, "post": "night"}, "没有人值夜班，无法换班"),  # nobody rostered at night
        ({**swap, "second": "2026-10-07"}, "都是 e02，无需换班"),  # 10-07: e02 as well
        ({**swap, "post": "hospital"}, "请用“单日调整”"),
    ]
    for data, says in refused:
        r = await post(web, lead, "/duty/swap", data)
        assert r.status_code == 400 and says in r.text, (data, r.text[-2000:])
        assert f'value="{data["first"]}"' in r.text and 'value="家里有事"' in r.text  # kept
    assert (roster(web).holder(Post.DAY, first), roster(web).holder(Post.DAY, second)) == (
        "e02",
        "e01",
    )
    plain = await web.login("e02", web.new_client())
    assert (await post(web, plain, "/duty/swap", swap)).status_code == 404
