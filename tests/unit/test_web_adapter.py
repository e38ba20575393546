"""The web chat adapter alone: its board (the real one, on a SQLite file), long polls, per-chat
order and its JSON API, with a fake core in place of the pipeline."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from adapters.base import (
    Button,
    ButtonPress,
    ChatEvent,
    ChatRef,
    Citation,
    CoreHandlers,
    DeliveryError,
    InboxUnavailable,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from adapters.chat_board import ChatBoard
from adapters.web.adapter import WebAdapter
from adapters.web.chatlog import ChatError
from bot.infra.db import make_engine
from bot.infra.gateway import Database
from bot.webchat.board import DatabaseBoard
from bot.webchat.store import WebChatStore

NURSE = Sender("web:nurse", "护士小张")


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await _holds(check()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _holds(result: bool | Awaitable[bool]) -> bool:
    return await result if inspect.isawaitable(result) else result


class FakeCore:
    """Like the core's inbox: stores (records) each arrival and returns, then answers in the
    background (an echo into its chat). ``down``: storing fails (``InboxUnavailable``)."""

    def __init__(self, adapter: WebAdapter) -> None:
        self.adapter = adapter
        self.messages: list[IncomingMessage] = []
        self.presses: list[ButtonPress] = []
        self.down = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _later(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_message(self, msg: IncomingMessage) -> None:
        if self.down:
            raise InboxUnavailable("database down")
        self.messages.append(msg)
        self._later(self.adapter.send(Reply(msg.chat, f"答：{msg.text}", reply_to=msg.message_id)))

    async def on_button(self, press: ButtonPress) -> None:
        if self.down:
            raise InboxUnavailable("database down")
        self.presses.append(press)
        self._later(self.adapter.acknowledge(press, f"收到 {press.action}"))

    async def on_chat_event(self, event: ChatEvent) -> None:
        return None

    def handlers(self) -> CoreHandlers:
        return CoreHandlers(self.on_message, self.on_button, self.on_chat_event)


@pytest.fixture
def board(tmp_path: Path) -> ChatBoard:
    """The board ``bot.app`` gives the adapter: the database's, each chat bounded to 5."""
    engine = make_engine(f"sqlite:///{tmp_path / 'chat.db'}")
    return DatabaseBoard(Database(engine), WebChatStore(engine, limit=5))


@pytest.fixture
async def core(board: ChatBoard) -> AsyncIterator[FakeCore]:
    fake = FakeCore(WebAdapter(board, max_text=20))
    await fake.adapter.start(fake.handlers())
    yield fake
    await fake.adapter.stop()


@pytest.fixture
def adapter(core: FakeCore) -> WebAdapter:
    return core.adapter


async def texts(adapter: WebAdapter, chat: str = "h001") -> list[str]:
    return [m["text"] for m in (await adapter.changes(chat, 0, "")).messages]


async def has_texts(adapter: WebAdapter, n: int) -> bool:
    return len(await texts(adapter)) == n


async def last_text_is(adapter: WebAdapter, text: str) -> bool:
    return (await texts(adapter))[-1:] == [text]


async def has_toast(adapter: WebAdapter, after: int, user_id: str) -> bool:
    return bool((await adapter.changes("h001", after, user_id)).toasts)


async def seen_(adapter: WebAdapter, chat: str = "h001") -> int:
    """The cursor of a page that has seen the whole chat."""
    return (await adapter.changes(chat, 0, "")).seq


ANSWER = Reply(
    ChatRef("web", "h001"),
    "【医保结算】\n1. 重新上传明细",
    citation=Citation("hb-002", "医保结算总额不一致", "http://127.0.0.1:8080/kb/hb-002"),
    buttons=((Button("已解决", "ok:1"), Button("没解决，转工程师", "no:1")),),
    mention_user_ids=("U1",),
)


async def test_send_logs_the_reply_with_its_citation_buttons_and_mentions(
    adapter: WebAdapter,
) -> None:
    ref = await adapter.send(ANSWER)
    assert ref.platform == "web" and ref.chat_id == "h001"
    [msg] = (await adapter.changes("h001", 0, "")).messages
    assert msg["id"] == ref.message_id and msg["kind"] == "bot" and msg["sender"] == "小助手"
    assert msg["citation"] == {
        "title": "医保结算总额不一致",
        "url": "http://127.0.0.1:8080/kb/hb-002",
    }
    assert msg["buttons"] == [
        [{"label": "已解决", "action": "ok:1"}, {"label": "没解决，转工程师", "action": "no:1"}]
    ]
    assert msg["mentions"] == ["U1"] and msg["edited"] is False
    assert (await adapter.changes("h002", 0, "")).messages == []  # chats are separate


async def test_message_ids_differ_between_workers(board: ChatBoard) -> None:
    # the core keeps message ids in the database: another worker (or a restarted one) must
    # not reuse them
    first = await WebAdapter(board).send(ANSWER)
    second = await WebAdapter(board).send(ANSWER)
    assert first.message_id != second.message_id


async def test_a_non_web_citation_url_never_reaches_the_page(adapter: WebAdapter) -> None:
    bad = Citation("x", "t", "javascript:alert(1)")
    await adapter.send(Reply(ChatRef("web", "h001"), "x", citation=bad))
    [msg] = (await adapter.changes("h001", 0, "")).messages
    assert msg["citation"] == {"title": "t", "url": None}


async def test_edit_replaces_text_and_buttons_and_shows_up_as_a_change(
    adapter: WebAdapter,
) -> None:
    ref = await adapter.send(ANSWER)
    seen = await seen_(adapter)
    assert (await adapter.changes("h001", seen, "")).messages == []
    await adapter.edit(
        ref, Reply(ANSWER.chat, "【医保结算】\n\n✅ 已解决", citation=ANSWER.citation)
    )
    [msg] = (await adapter.changes("h001", seen, "")).messages
    assert msg["id"] == ref.message_id and msg["text"].endswith("✅ 已解决")
    assert msg["buttons"] == [] and msg["edited"] is True and msg["seq"] > seen
    assert msg["citation"]["url"].endswith("/kb/hb-002")
    with pytest.raises(DeliveryError):
        await adapter.edit(MessageRef("web", "h001", "nope"), ANSWER)


async def test_the_log_is_bounded_oldest_first(adapter: WebAdapter) -> None:
    refs = [await adapter.send(Reply(ChatRef("web", "h001"), f"m{i}")) for i in range(7)]
    assert await texts(adapter) == ["m2", "m3", "m4", "m5", "m6"]
    with pytest.raises(DeliveryError):
        await adapter.edit(refs[0], Reply(ChatRef("web", "h001"), "late"))
    with pytest.raises(ChatError) as gone:
        await adapter.post("h001", NURSE, "回复旧消息", reply_to=refs[0].message_id)
    assert gone.value.status == 404


async def test_only_a_post_naming_the_bot_mentions_it(adapter: WebAdapter, core: FakeCore) -> None:
    await adapter.post("h001", NURSE, "@小助手 在吗", reply_to=None)
    await adapter.post("h001", NURSE, "好的谢谢", reply_to=None)
    await eventually(lambda: len(core.messages) == 2)
    assert [m.mentions_bot for m in core.messages] == [True, False]


async def test_a_post_is_logged_at_once_and_answered_through_send(
    adapter: WebAdapter, core: FakeCore
) -> None:
    entry = await adapter.post("h001", NURSE, "  号源显示已满  ", reply_to=None)
    assert entry.text == "号源显示已满" and entry.sender == "护士小张"
    await eventually(lambda: has_texts(adapter, 2))
    [msg] = core.messages
    assert msg.chat == ChatRef("web", "h001") and msg.message_id == entry.id
    assert not msg.mentions_bot  # a group: only 「@小助手」 addresses the bot
    assert msg.sender == NURSE and msg.sent_at.tzinfo is not None
    answer = (await adapter.changes("h001", entry.seq, "")).messages[0]
    assert answer["reply_to"] == entry.id
    assert answer["quote"] == {"sender": "护士小张", "text": "号源显示已满"}


async def test_posts_are_validated(adapter: WebAdapter, core: FakeCore) -> None:
    for text, reply_to, status in (
        ("   ", None, 400),
        ("x" * 21, None, 400),
        ("问题", "no-such-message", 404),
    ):
        with pytest.raises(ChatError) as err:
            await adapter.post("h001", NURSE, text, reply_to)
        assert err.value.status == status and err.value.message
    assert await texts(adapter) == []  # nothing refused was logged
    assert core.messages == []


async def test_a_post_the_core_cannot_store_is_refused_and_not_logged(
    adapter: WebAdapter, core: FakeCore
) -> None:
    ref = await adapter.send(ANSWER)
    core.down = True
    with pytest.raises(ChatError) as post:
        await adapter.post("h001", NURSE, "号源显示已满", None)
    with pytest.raises(ChatError) as press:
        await adapter.press("h001", NURSE, ref.message_id, "no:1")
    assert post.value.status == press.value.status == 503
    assert await texts(adapter) == [ANSWER.text]  # the refused post is not in the log
    core.down = False
    await adapter.post("h001", NURSE, "号源显示已满", None)
    await eventually(lambda: last_text_is(adapter, "答：号源显示已满"))


async def test_presses_reach_the_core_and_the_toast_only_the_presser(
    adapter: WebAdapter, core: FakeCore
) -> None:
    ref = await adapter.send(ANSWER)
    seen = await seen_(adapter)  # the page's cursor when its user pressed
    await adapter.press("h001", NURSE, ref.message_id, "no:1")
    await eventually(lambda: len(core.presses) == 1)
    press = core.presses[0]
    assert press.message == ref and press.sender == NURSE and press.action == "no:1"
    await eventually(lambda: has_toast(adapter, seen, NURSE.user_id))
    [toast] = (await adapter.changes("h001", seen, NURSE.user_id)).toasts
    assert toast["text"] == "收到 no:1" and toast["message_id"] == ref.message_id
    assert (await adapter.changes("h001", seen, "web:someone-else")).toasts == []
    # a page loading the whole log (a reload, another tab) does not replay old toasts
    assert (await adapter.changes("h001", 0, NURSE.user_id)).toasts == []


async def test_only_buttons_the_message_carries_can_be_pressed(
    adapter: WebAdapter, core: FakeCore
) -> None:
    ref = await adapter.send(ANSWER)
    with pytest.raises(ChatError) as forged:
        await adapter.press("h001", NURSE, ref.message_id, "claim:2026-000001")
    assert forged.value.status == 409
    with pytest.raises(ChatError) as unknown:
        await adapter.press("h001", NURSE, "no-such-message", "ok:1")
    assert unknown.value.status == 404
    assert core.presses == []


async def test_a_long_poll_wakes_up_when_a_message_arrives(adapter: WebAdapter) -> None:
    seen = await seen_(adapter)
    # An hour-long wait that returns with the message was woken by it, not by its timeout.
    poll = asyncio.create_task(adapter.changes("h001", seen, "", wait=3600))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await adapter.send(Reply(ChatRef("web", "h001"), "来了"))
    found = await asyncio.wait_for(poll, 30)
    assert [m["text"] for m in found.messages] == ["来了"]


async def test_a_long_poll_returns_empty_after_its_wait(adapter: WebAdapter) -> None:
    poll = asyncio.create_task(adapter.changes("h001", 0, "", wait=0.1))
    await asyncio.sleep(0)
    assert not poll.done()  # it waits rather than answering at once...
    assert not await asyncio.wait_for(poll, 30)  # ...and gives up empty-handed


async def test_a_cancelled_long_poll_leaves_nothing_behind(adapter: WebAdapter) -> None:
    poll = asyncio.create_task(adapter.changes("h001", 0, "", wait=10))
    await asyncio.sleep(0.02)
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    await adapter.send(Reply(ChatRef("web", "h001"), "之后"))
    assert await texts(adapter) == ["之后"]


async def test_a_long_poll_ends_when_the_client_is_gone(adapter: WebAdapter) -> None:
    async def gone() -> bool:
        return True

    adapter.disconnect_check = 0.05
    # An hour-long wait that ends empty within the guard ended because the client was gone.
    found = await asyncio.wait_for(adapter.changes("h001", 0, "", wait=3600, gone=gone), 30)
    assert not found


async def test_a_cursor_not_from_this_board_gets_the_whole_chat(adapter: WebAdapter) -> None:
    # a page's cursor from a database since put back from a backup
    await adapter.send(Reply(ChatRef("web", "h001"), "重启后第一条"))
    found = await adapter.changes("h001", 10_000, "", wait=5)
    assert [m["text"] for m in found.messages] == ["重启后第一条"]


async def test_stop_releases_long_polls_and_refuses_posts(adapter: WebAdapter) -> None:
    poll = asyncio.create_task(adapter.changes("h001", 0, "", wait=20))
    await asyncio.sleep(0.02)
    await adapter.stop()
    assert not await asyncio.wait_for(poll, 2)
    with pytest.raises(ChatError) as err:
        await adapter.post("h001", NURSE, "还在吗", None)
    assert err.value.status == 503


async def test_long_polls_are_capped_per_client(adapter: WebAdapter) -> None:
    cap = WebAdapter(adapter.board, max_polls=2)
    polls = [asyncio.create_task(cap.changes("h001", 0, "u", wait=20, client="s1")) for _ in "ab"]
    await asyncio.sleep(0.02)
    with pytest.raises(ChatError) as err:
        await cap.changes("h001", 0, "u", wait=20, client="s1")
    assert err.value.status == 429
    # another session of the same user, and a plain read, are not affected
    other = asyncio.create_task(cap.changes("h001", 0, "u", wait=20, client="s2"))
    assert not await cap.changes("h001", 0, "u", wait=0, client="s1")
    await cap.send(Reply(ChatRef("web", "h001"), "有新消息"))
    for poll in [*polls, other]:
        assert (await asyncio.wait_for(poll, 2)).messages
    # the slots are free again
    assert (await cap.changes("h001", 0, "u", wait=5, client="s1")).messages


# -- the JSON API ------------------------------------------------------------------------------


class Gate:
    """A fake console authoriser: only chat h001, writing only with the header."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def __call__(self, request: Request, chat_id: str, writing: bool) -> Sender:
        self.calls.append((chat_id, writing))
        if "x-user" not in request.headers:
            raise HTTPException(401)
        if chat_id != "h001":
            raise HTTPException(404)
        if writing and request.headers.get("x-csrf-token") != "t":
            raise HTTPException(403)
        return Sender(f"web:{request.headers['x-user']}", "王工")


@pytest.fixture
async def api(adapter: WebAdapter) -> AsyncIterator[tuple[httpx.AsyncClient, Gate]]:
    gate = Gate()
    app = FastAPI()
    app.include_router(adapter.router(gate))
    transport = httpx.ASGITransport(app=app)
    headers = {"x-user": "e01", "x-csrf-token": "t"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        yield c, gate


URL = "/playground/api/chats/h001"


async def test_api_post_returns_202_with_the_message_and_the_answer_follows(
    adapter: WebAdapter, core: FakeCore, api: tuple[httpx.AsyncClient, Gate]
) -> None:
    client, gate = api
    r = await client.post(f"{URL}/messages", json={"text": "号源已满", "name": "护士小张"})
    assert r.status_code == 202
    posted = r.json()["message"]
    assert (
        posted["text"] == "号源已满" and posted["sender"] == "护士小张" and posted["kind"] == "user"
    )
    assert gate.calls == [("h001", True)]
    await eventually(lambda: len(core.messages) == 1)
    msg = core.messages[0]
    assert msg.sender == Sender("web:e01", "护士小张")  # the name shown, the id from the session
    r = await client.get(f"{URL}/messages", params={"after": posted["seq"], "wait": 5})
    assert r.status_code == 200 and gate.calls[-1] == ("h001", False)
    body = r.json()
    assert [m["text"] for m in body["messages"]] == ["答：号源已满"]
    assert body["seq"] >= body["messages"][0]["seq"]


async def test_api_press_and_toast(
    adapter: WebAdapter, core: FakeCore, api: tuple[httpx.AsyncClient, Gate]
) -> None:
    client, _ = api
    ref = await adapter.send(ANSWER)
    seen = await seen_(adapter)
    r = await client.post(f"{URL}/presses", json={"message_id": ref.message_id, "action": "ok:1"})
    assert r.status_code == 202
    assert len(core.presses) == 1  # stored before the 202
    presser = core.presses[0].sender.user_id
    await eventually(lambda: has_toast(adapter, seen, presser))
    r = await client.get(f"{URL}/messages", params={"after": seen})
    assert [t["text"] for t in r.json()["toasts"]] == ["收到 ok:1"]
    r = await client.get(f"{URL}/messages", params={"after": 0})  # reloaded: no replay
    assert r.json()["toasts"] == [] and r.json()["messages"]


async def test_api_refusals_are_json_with_a_reason(
    adapter: WebAdapter, core: FakeCore, api: tuple[httpx.AsyncClient, Gate]
) -> None:
    client, _ = api
    cases = [
        (client.post(f"{URL}/messages", json={"text": ""}), 400),
        (client.post(f"{URL}/messages", json={"text": "x" * 21}), 400),
        (client.post(f"{URL}/messages", json={"text": 5}), 400),
        (client.post(f"{URL}/messages", content=b"not json"), 400),
        (client.post(f"{URL}/messages", json=["a list"]), 400),
        (client.post(f"{URL}/messages", json={"text": "q", "reply_to": "gone"}), 404),
        (client.post(f"{URL}/messages", content=b"x" * 40_000), 413),
        (client.post(f"{URL}/presses", json={"message_id": "gone", "action": "ok:1"}), 404),
        (client.get(f"{URL}/messages", params={"after": "abc"}), 400),
        (client.get(f"{URL}/messages", params={"wait": "-1"}), 400),
        (client.get(f"{URL}/messages", params={"after": "inf"}), 400),
    ]
    for call, status in cases:
        r = await call
        assert r.status_code == status, (status, r.text)
        assert r.json()["error"] == status and r.json()["detail"]
    assert core.messages == []


async def test_api_asks_the_authoriser_before_anything_else(
    adapter: WebAdapter, core: FakeCore, api: tuple[httpx.AsyncClient, Gate]
) -> None:
    client, _ = api
    del client.headers["x-user"]
    r = await client.post(f"{URL}/messages", json={"text": ""})
    assert r.status_code == 401  # not 400: strangers learn nothing
    client.headers["x-user"] = "e01"
    assert (await client.get("/playground/api/chats/h002/messages")).status_code == 404
    r = await client.post(f"{URL}/messages", json={"text": "q"}, headers={"x-csrf-token": "no"})
    assert r.status_code == 403
    assert core.messages == [] and await texts(adapter) == []


async def test_api_long_poll_is_capped_and_wakes_on_new_messages(
    adapter: WebAdapter, api: tuple[httpx.AsyncClient, Gate]
) -> None:
    client, _ = api
    poll = asyncio.create_task(client.get(f"{URL}/messages", params={"after": 0, "wait": 999}))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await adapter.send(Reply(ChatRef("web", "h001"), "到了"))
    r = await asyncio.wait_for(poll, 3)
    assert [m["text"] for m in r.json()["messages"]] == ["到了"]


def test_a_chat_keeps_its_newest_toasts_only(tmp_path: Path) -> None:
    from adapters.chat_board import Toast

    engine = make_engine(f"sqlite:///{tmp_path / 'chat.db'}")
    store = WebChatStore(engine, limit=5, toast_limit=2)
    now = dt.datetime.now(dt.UTC)
    for i in range(4):
        store.toast("h001", Toast("u1", "m1", f"t{i}"), now)
    store.toast("h002", Toast("u1", "m9", "other chat"), now)
    assert [t.text for t in store.since("h001", 0).toasts] == ["t2", "t3"]
    assert [t.text for t in store.since("h002", 0).toasts] == ["other chat"]
