"""The playground through the whole bot: a browser plays a hospital group over the "web"
adapter, the real pipeline answers from the sample KB, opens tickets, and engineers' actions
come back into the chat."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.base import ChatRef, Reply
from tests.web.conftest import WebEnv

API = "/playground/api/chats"
TICKET_NO = re.compile(r"#(\d{4}-\d{6})")
_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')

Message = dict[str, Any]


class Chat:
    """One browser tab on a hospital's web chat: posts, presses, and a long-poll reader."""

    def __init__(self, client: httpx.AsyncClient, chat_id: str, token: str) -> None:
        self.client = client
        self.chat_id = chat_id
        self.headers = {"X-CSRF-Token": token}
        self.after = 0
        self.seen: dict[str, Message] = {}
        self.toasts: list[str] = []

    @classmethod
    async def open(cls, client: httpx.AsyncClient, hospital_id: str = "h001") -> Chat:
        page = await client.get(f"/playground?hospital={hospital_id}")
        assert page.status_code == 200, page.text
        assert f'data-chat="{hospital_id}"' in page.text
        m = _DATA_CSRF.search(page.text)
        assert m, "no CSRF token on the playground page"
        return cls(client, hospital_id, m.group(1))

    async def say(self, text: str, reply_to: str | None = None, name: str = "护士小张") -> Message:
        r = await self.client.post(
            f"{API}/{self.chat_id}/messages",
            json={"text": text, "reply_to": reply_to, "name": name},
            headers=self.headers,
        )
        assert r.status_code == 202, r.text
        message: Message = r.json()["message"]
        return message

    async def press(self, message: Message, label: str) -> None:
        [action] = [b["action"] for row in message["buttons"] for b in row if b["label"] == label]
        r = await self.client.post(
            f"{API}/{self.chat_id}/presses",
            json={"message_id": message["id"], "action": action},
            headers=self.headers,
        )
        assert r.status_code == 202, r.text

    async def poll(self, wait: float) -> None:
        r = await self.client.get(
            f"{API}/{self.chat_id}/messages", params={"after": self.after, "wait": wait}
        )
        assert r.status_code == 200, r.text
        data = r.json()
        for m in data["messages"]:
            self.seen[m["id"]] = m
        self.toasts += [t["text"] for t in data["toasts"]]
        self.after = data["seq"]

    async def wait_for(self, check: Callable[[Message], bool], timeout: float = 30.0) -> Message:
        """The first bot message (new or edited) that passes ``check``, long-polling for it."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.seen.values():
                if m["kind"] == "bot" and check(m):
                    return m
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no such message; saw {[m['text'] for m in self.seen.values()]}"
            await self.poll(min(remaining, 5.0))

    def bot_messages(self) -> list[Message]:
        return [m for m in self.seen.values() if m["kind"] == "bot"]


def ticket_number(text: str) -> str:
    m = TICKET_NO.search(text)
    assert m, f"no ticket number in {text!r}"
    return m.group(1)


async def test_the_page_opens_the_hospitals_web_chat(web: WebEnv) -> None:
    await web.login()
    r = await web.client.get("/playground?hospital=h002")
    assert r.status_code == 200
    assert 'data-chat="h002"' in r.text and "第一人民医院" in r.text and "第二人民医院" in r.text
    assert '<script src="/static/playground.js" defer></script>' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script>" not in r.text and "style=" not in r.text  # nothing inline
    hospital = web.app.services.registry.hospital_for_chat("web", "h002")
    assert hospital is not None and hospital.id == "h002"
    again = await web.client.get("/playground")  # the first hospital by default; idempotent
    assert again.status_code == 200 and 'data-chat="h001"' in again.text
    assert (await web.client.get("/playground?hospital=h999")).status_code == 404
    js = await web.client.get("/static/playground.js")
    assert js.status_code == 200 and "innerHTML" not in js.text


async def test_a_kb_question_is_answered_with_its_citation_and_solved_by_a_press(
    web: WebEnv,
) -> None:
    chat = await Chat.open(await web.login())
    question = await chat.say("zy yb出院结算报错2304 费用总额跟上传的对不上 咋整")
    assert question["sender"] == "护士小张" and question["kind"] == "user"
    answer = await chat.wait_for(lambda m: m["reply_to"] == question["id"])
    assert answer["citation"]["url"].endswith("/kb/hb-002")
    assert answer["citation"]["title"] in answer["text"]
    assert answer["quote"]["text"].startswith("zy yb出院结算")
    assert [b["label"] for row in answer["buttons"] for b in row] == ["已解决", "没解决，转工程师"]

    await chat.press(answer, "已解决")
    solved = await chat.wait_for(lambda m: m["id"] == answer["id"] and m["edited"])
    assert "✅ 已解决" in solved["text"] and solved["buttons"] == []
    assert solved["citation"]["url"].endswith("/kb/hb-002")
    deadline = time.monotonic() + 10
    while not chat.toasts and time.monotonic() < deadline:
        await chat.poll(1)
    assert chat.toasts  # the thanks, shown to the presser
    assert web.app.services.tickets.open_tickets() == []


async def test_pressing_unsolved_escalates_into_a_ticket(web: WebEnv) -> None:
    chat = await Chat.open(await web.login())
    question = await chat.say("住院病人入院时间录错了，床位费多算了一天")
    answer = await chat.wait_for(lambda m: m["reply_to"] == question["id"] and m["citation"])
    await chat.press(answer, "没解决，转工程师")
    notice = await chat.wait_for(lambda m: "已为您登记工单" in m["text"])
    assert notice["reply_to"] == question["id"]
    ticket = web.app.services.tickets.get(ticket_number(notice["text"]))
    assert ticket.hospital_id == "h001" and ticket.source_platform == "web"
    assert ticket.source_chat_id == "h001" and ticket.reporter_name == "护士小张"
    assert ticket.reporter_user_id == "web:e01"
    assert [a.article_id for a in web.app.services.tickets.articles(ticket.number)] == ["hb-006"]
    # the answer's buttons are gone (as after 已解决): it says where the question went
    closed = await chat.wait_for(lambda m: m["id"] == answer["id"] and m["edited"])
    assert closed["buttons"] == [] and closed["citation"]["url"].endswith("/kb/hb-006")
    assert closed["text"].startswith(answer["text"].split("\n")[0])  # the steps are kept
    assert closed["text"].endswith(f"❌ 没解决，已转工程师：工单 #{ticket.number}")


async def test_old_toasts_do_not_replay_on_a_new_page(web: WebEnv) -> None:
    client = await web.login()
    chat = await Chat.open(client)
    question = await chat.say("zy yb出院结算报错2304 费用总额跟上传的对不上 咋整")
    answer = await chat.wait_for(lambda m: m["reply_to"] == question["id"])
    await chat.press(answer, "已解决")
    await chat.wait_for(lambda m: m["id"] == answer["id"] and m["edited"])
    deadline = time.monotonic() + 10
    while not chat.toasts and time.monotonic() < deadline:
        await chat.poll(1)
    assert chat.toasts  # the page that pressed saw the thanks
    reloaded = await Chat.open(client)  # the same user opens the playground again
    await reloaded.poll(0)
    assert reloaded.seen and reloaded.toasts == []


async def test_an_outage_opens_an_urgent_ticket(web: WebEnv) -> None:
    chat = await Chat.open(await web.login())
    await chat.say("全院收费系统都打不开了，病人排长队")
    notice = await chat.wait_for(lambda m: "工单" in m["text"])
    assert "紧急" in notice["text"] and "正在呼叫值班工程师" in notice["text"]
    # no engineer here has a chat account to be paged on: the hospital is not told otherwise
    outcome = await chat.wait_for(lambda m: "暂未联系上值班工程师" in m["text"])
    assert "已呼叫" not in outcome["text"]
    assert web.app.services.tickets.get(ticket_number(notice["text"])).urgency == "P1"


async def test_an_unanswerable_question_becomes_a_ticket_whose_claim_is_announced(
    web: WebEnv,
) -> None:
    chat = await Chat.open(await web.login())
    question = await chat.say("手术麻醉系统的排班表怎么导出到Excel？")
    notice = await chat.wait_for(lambda m: "已为您登记工单" in m["text"])
    number = ticket_number(notice["text"])
    services = web.app.services
    assert services.tickets.get(number).question.startswith("手术麻醉")

    engineer = services.registry.get_engineer("e01")
    assert engineer is not None
    await services.ticket_flow.claim(number, engineer)
    accepted = await chat.wait_for(lambda m: "已受理" in m["text"])
    assert "王工" in accepted["text"] and number in accepted["text"]
    assert accepted["reply_to"] == question["id"]

    # the hospital answers the engineer's message: it goes to the ticket, not to the KB
    await chat.say("麻醉科 3 号电脑", reply_to=accepted["id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any("3 号电脑" in m.text for m in services.tickets.messages(number)):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the reply was not added to the ticket")


async def test_engineers_replies_to_a_web_form_ticket_arrive_in_the_web_chat(
    web: WebEnv,
) -> None:
    services = web.app.services
    hospital = services.registry.get_hospital("h001")
    engineer = services.registry.get_engineer("e02")
    assert hospital is not None and engineer is not None
    ticket = web.register_ticket("h001", "发票打印机不出纸")
    await services.ticket_flow.reply_to_hospital(ticket.number, engineer, "请检查打印机纸盒")
    chat = await Chat.open(await web.as_hospital("h001"))
    relayed = await chat.wait_for(lambda m: "请检查打印机纸盒" in m["text"])
    assert ticket.number in relayed["text"]


async def test_a_hospital_link_uses_only_its_own_hospitals_chat(web: WebEnv) -> None:
    link = await web.as_hospital("h001")
    page = await link.get("/playground")
    assert page.status_code == 200 and 'data-chat="h001"' in page.text
    assert "第二人民医院" not in page.text  # no hospital switcher
    assert (await link.get("/playground?hospital=h002")).status_code == 404
    chat = await Chat.open(link)
    r = await link.get(f"{API}/h002/messages")
    assert r.status_code == 404 and r.json()["error"] == 404
    r = await link.post(f"{API}/h002/messages", json={"text": "串门"}, headers=chat.headers)
    assert r.status_code == 404
    assert web.app.services.registry.hospital_for_chat("web", "h002") is None

    own = await chat.say("号源被锁了一直显示已满", name="挂号处")
    await chat.wait_for(lambda m: m["reply_to"] == own["id"])
    # an engineer on the same hospital's chat sees the link user's message
    engineer = await Chat.open(await web.login(client=web.new_client()))
    await engineer.poll(0)
    assert any(m["text"] == "号源被锁了一直显示已满" for m in engineer.seen.values())


async def test_writing_needs_the_csrf_header_and_our_origin(web: WebEnv) -> None:
    chat = await Chat.open(await web.login())
    url = f"{API}/h001/messages"
    assert (await web.client.post(url, json={"text": "没有令牌"})).status_code == 403
    forged = await web.client.post(url, json={"text": "错的令牌"}, headers={"X-CSRF-Token": "x"})
    assert forged.status_code == 403
    cross = await web.client.post(
        url, json={"text": "外站"}, headers={**chat.headers, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and cross.json()["error"] == 403
    await chat.poll(0)
    assert chat.seen == {}  # nothing refused reached the chat
    r = await web.client.post(url, json={"text": "  "}, headers=chat.headers)
    assert r.status_code == 400 and r.json()["detail"]


async def test_anonymous_visitors_are_sent_to_login(web: WebEnv) -> None:
    r = await web.client.get("/playground")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = await web.client.get(f"{API}/h001/messages")
    assert r.status_code == 401 and r.json()["error"] == 401
    r = await web.client.post(f"{API}/h001/messages", json={"text": "我是谁"})
    assert r.status_code == 401
    assert web.app.services.registry.hospital_for_chat("web", "h001") is None


async def test_a_long_poll_through_the_console_waits_and_wakes(web: WebEnv) -> None:
    adapter = web.app.web_chat
    assert adapter is not None
    adapter.disconnect_check = 0.05  # the browser is asked often whether it is still there
    chat = await Chat.open(await web.login())
    await chat.poll(0)
    poll = asyncio.create_task(
        web.client.get(f"{API}/h001/messages", params={"after": chat.after, "wait": 60})
    )
    await asyncio.sleep(0.5)  # several disconnect checks: a connected browser keeps waiting
    assert not poll.done()
    await adapter.send(Reply(ChatRef("web", "h001"), "系统维护通知：今晚 22 点升级"))
    # Returning with the message well before its 60 s wait: woken by it, not by the timeout.
    r = await asyncio.wait_for(poll, 30)
    assert [m["text"] for m in r.json()["messages"]] == ["系统维护通知：今晚 22 点升级"]


@pytest.mark.parametrize("extra_config", ["[web]\nplayground = false\n"])
async def test_without_the_playground_there_is_no_chat(web: WebEnv) -> None:
    await web.login()
    assert web.app.web_chat is None
    assert (await web.client.get("/playground")).status_code == 404
    assert (await web.client.get(f"{API}/h001/messages")).status_code == 404


async def test_long_polls_are_capped_per_browser_session(web: WebEnv) -> None:
    cap = web.settings.web.max_polls_per_session
    hospital = await web.as_hospital("h001")
    await Chat.open(hospital)
    url = f"{API}/h001/messages?after=999999&wait=20"
    polls = [asyncio.create_task(hospital.get(url)) for _ in range(cap)]
    await asyncio.sleep(0.1)
    extra = await hospital.get(url)
    assert extra.status_code == 429 and "太多" in extra.json()["detail"]
    # a colleague on the same access link has a session of their own
    colleague = await web.as_hospital("h001")
    other = asyncio.create_task(colleague.get(url))
    await asyncio.sleep(0.1)
    assert not other.done()
    await web.app.web_chat.send(Reply(ChatRef("web", "h001"), "通知"))  # type: ignore[union-attr]
    for poll in [*polls, other]:
        assert (await asyncio.wait_for(poll, 5)).status_code == 200


async def test_a_hospital_users_typed_name_shows_who_they_really_are(web: WebEnv) -> None:
    link = web.store.create_link("h001", label="信息科")
    hospital = web.new_client()
    await hospital.get(f"/h/{link.token}")
    chat = await Chat.open(hospital)
    said = await chat.say("收到，谢谢", name="王工（工程师）")
    assert said["sender"] == "王工（工程师）"
    assert said["badge"] == "第一人民医院 · 链接「信息科」"
    engineer = await Chat.open(await web.login("e01"))
    mine = await engineer.say("测试一下", name="演示用户")
    assert mine["badge"] == "第一人民医院 · 工程师 e01 演示"


async def test_the_playground_is_a_group_thanks_get_silence_and_only_a_named_bot_replies(
    web: WebEnv,
) -> None:
    chat = await Chat.open(await web.login())
    for thanks in ("好的谢谢", "收到", "👍", "感谢", "@小助手 好的谢谢"):
        await chat.say(thanks)
    hello = await chat.say("@小助手 在吗")
    nudge = await chat.wait_for(lambda m: m["reply_to"] == hello["id"])
    assert "请直接描述问题" in nudge["text"]
    await chat.say("@小助手 在吗")  # once per person per window
    question = await chat.say("住院病人入院时间录错了，床位费多算了一天")
    await chat.wait_for(lambda m: m["reply_to"] == question["id"])
    # one chat is handled in order: everything before the answer was handled, and got nothing
    assert len(chat.bot_messages()) == 2
    assert web.app.services.tickets.open_tickets() == []
