"""The playground's web chat shared by several workers: each "worker" is a web adapter with its
own engine, gateway and board on ONE database (a SQLite file; PostgreSQL too when
``HISBOT_TEST_PG_URL`` is set), and two console apps on one database in the last test.

What one worker sends, edits or answers shows in a long poll waiting on another; a restart
keeps the board; what is stored is masked; the purge and erasures remove entries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from adapters.base import (
    Button,
    ButtonPress,
    ChatEvent,
    ChatRef,
    CoreHandlers,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from adapters.chat_board import Buttons, Entry, Since, Toast
from adapters.web.adapter import WebAdapter
from bot.infra.db import make_engine
from bot.infra.gateway import Database
from bot.privacy.gate import clean
from bot.privacy.purge import Eraser, Scope
from bot.privacy.retention import RetentionJob
from bot.privacy.settings import PrivacySettings
from bot.web.app import create_console
from bot.webchat.board import DatabaseBoard
from bot.webchat.store import WebChatStore
from tests.tickets.conftest import FakeClock
from tests.web.conftest import WebEnv
from tests.web.test_playground import API, Chat

NURSE = Sender("web:nurse", "护士小张")
BUTTONS: Buttons = ((Button("已解决", "ok:1"), Button("没解决，转工程师", "no:1")),)
#: The watch interval in these tests: short, so a cross-worker wake-up is quick.
WATCH = 0.01


class CountingBoard:
    """The database board, counting the watch's look-ups (which chats each asked about)."""

    def __init__(self, board: DatabaseBoard) -> None:
        self.board = board
        self.looks: list[set[str]] = []

    async def append(self, chat_id: str, entry: Entry) -> Entry:
        return await self.board.append(chat_id, entry)

    async def edit(self, chat_id: str, message_id: str, text: str, buttons: Buttons, citation: Any) -> Entry | None:  # fmt: skip
        return await self.board.edit(chat_id, message_id, text, buttons, citation)

    async def toast(self, chat_id: str, toast: Toast) -> Toast:
        return await self.board.toast(chat_id, toast)

    async def get(self, chat_id: str, message_id: str) -> Entry | None:
        return await self.board.get(chat_id, message_id)

    async def since(self, chat_id: str, after: int) -> Since:
        return await self.board.since(chat_id, after)

    async def newest(self, chat_ids: Collection[str]) -> dict[str, int]:
        self.looks.append(set(chat_ids))
        return await self.board.newest(chat_ids)


@dataclasses.dataclass
class Worker:
    adapter: WebAdapter
    board: CountingBoard
    db: Database
    store: WebChatStore
    presses: list[ButtonPress]


class Workers:
    """Starts workers on one database; stops them all at the end."""

    def __init__(self, make: Callable[..., Engine], clock: FakeClock) -> None:
        self._make = make
        self.clock = clock
        self._started: list[Worker] = []
        self._created = False

    async def start(self) -> Worker:
        engine = self._make(create=not self._created)
        self._created = True
        db = Database(engine)
        store = WebChatStore(engine)
        board = CountingBoard(DatabaseBoard(db, store, self.clock))
        adapter = WebAdapter(board, mask=clean, clock=self.clock, watch_every=WATCH)
        presses: list[ButtonPress] = []

        async def on_message(msg: IncomingMessage) -> None:
            return None

        async def on_button(press: ButtonPress) -> None:
            presses.append(press)

        async def on_chat_event(event: ChatEvent) -> None:
            return None

        await adapter.start(CoreHandlers(on_message, on_button, on_chat_event))
        worker = Worker(adapter, board, db, store, presses)
        self._started.append(worker)
        return worker

    async def stop(self, worker: Worker) -> None:
        await worker.adapter.stop()
        await asyncio.to_thread(worker.db.close)
        self._started.remove(worker)

    async def stop_all(self) -> None:
        for worker in list(self._started):
            await self.stop(worker)


@pytest.fixture
async def workers(make_db: Callable[..., Engine]) -> AsyncIterator[Workers]:
    started = Workers(make_db, FakeClock(dt.datetime.now(dt.UTC)))
    yield started
    await started.stop_all()


def bot_says(chat: str, text: str, buttons: Buttons = ()) -> Reply:
    return Reply(ChatRef("web", chat), text, buttons=buttons)


async def cursor(worker: Worker, chat: str = "h001") -> int:
    return (await worker.adapter.changes(chat, 0, "")).seq


async def waiting(adapter: WebAdapter) -> None:
    """Until a long poll waits on ``adapter`` (its watch runs only then): what another worker
    sends next must wake it, not be found by the poll's first read (a fixed sleep proves
    neither under load)."""

    async def watching() -> None:
        while not adapter.wakeups.watching:
            await asyncio.sleep(WATCH)

    await asyncio.wait_for(watching(), 30)


async def test_a_message_sent_on_one_worker_wakes_a_long_poll_on_another(
    workers: Workers,
) -> None:
    a, b = await workers.start(), await workers.start()
    await b.adapter.send(bot_says("h001", "早上好"))
    seen = await cursor(a)
    # an hour-long poll on A that returns with B's message was woken by it, not its timeout
    poll = asyncio.create_task(a.adapter.changes("h001", seen, NURSE.user_id, wait=3600))
    await waiting(a.adapter)
    assert not poll.done()
    sent = await b.adapter.send(bot_says("h001", "【医保结算】\n1. 重新上传明细", BUTTONS))
    found = await asyncio.wait_for(poll, 30)
    [msg] = found.messages
    assert msg["id"] == sent.message_id and msg["text"].startswith("【医保结算】")
    assert msg["buttons"] == [
        [{"label": "已解决", "action": "ok:1"}, {"label": "没解决，转工程师", "action": "no:1"}]
    ]
    # the button B showed may be pressed through A; B's answer reaches the presser on A only
    await a.adapter.press("h001", NURSE, sent.message_id, "no:1")
    [press] = a.presses
    poll = asyncio.create_task(a.adapter.changes("h001", found.seq, NURSE.user_id, wait=3600))
    await b.adapter.acknowledge(press, "已转工程师")
    toasts = (await asyncio.wait_for(poll, 30)).toasts
    assert [t["text"] for t in toasts] == ["已转工程师"]
    assert not (await a.adapter.changes("h001", found.seq, "web:someone-else")).toasts


async def test_the_watch_asks_once_for_all_waiting_polls_and_only_while_they_wait(
    workers: Workers,
) -> None:
    a, b = await workers.start(), await workers.start()
    polls = {
        chat: asyncio.create_task(a.adapter.changes(chat, 0, "", wait=3600))
        for chat in ("h001", "h002", "h003")
    }

    async def one_look_for_all() -> None:
        while not any(look == set(polls) for look in a.board.looks):
            await asyncio.sleep(WATCH)

    await asyncio.wait_for(one_look_for_all(), 30)  # one look-up covers the three polls
    assert all(look <= set(polls) for look in a.board.looks)
    await b.adapter.send(bot_says("h002", "只有二院"))
    assert [m["text"] for m in (await asyncio.wait_for(polls["h002"], 30)).messages] == ["只有二院"]
    assert not polls["h001"].done() and not polls["h003"].done()
    for poll in polls.values():
        poll.cancel()
    await asyncio.gather(*polls.values(), return_exceptions=True)

    async def watch_ended() -> None:
        while a.adapter.wakeups.watching:
            await asyncio.sleep(WATCH)

    await asyncio.wait_for(watch_ended(), 30)  # nobody waits: the watch stops looking
    looked = len(a.board.looks)
    await b.adapter.send(bot_says("h001", "没人在等"))
    assert len(a.board.looks) == looked and not a.adapter.wakeups.watching


async def test_an_edit_on_one_worker_shows_on_another_in_its_place(workers: Workers) -> None:
    a, b = await workers.start(), await workers.start()
    first = await b.adapter.send(bot_says("h001", "请选择", BUTTONS))
    await b.adapter.send(bot_says("h001", "第二条"))
    seen = await cursor(a)
    poll = asyncio.create_task(a.adapter.changes("h001", seen, "", wait=3600))
    await waiting(a.adapter)
    await b.adapter.edit(first, bot_says("h001", "请选择\n\n✅ 已解决"))
    [msg] = (await asyncio.wait_for(poll, 30)).messages
    assert msg["id"] == first.message_id and msg["text"].endswith("✅ 已解决")
    assert msg["buttons"] == [] and msg["edited"] is True and msg["seq"] > seen
    # a page loading the chat sees the edited message where it was, its buttons gone for A too
    whole = (await a.adapter.changes("h001", 0, "")).messages
    assert [m["text"] for m in whole] == ["请选择\n\n✅ 已解决", "第二条"]
    with pytest.raises(Exception, match="按钮已失效"):
        await a.adapter.press("h001", NURSE, first.message_id, "ok:1")


async def test_a_restart_keeps_the_board(workers: Workers) -> None:
    a = await workers.start()
    question = await a.adapter.post("h001", NURSE, "号源显示已满", None)
    answer = await a.adapter.send(
        Reply(ChatRef("web", "h001"), "请刷新号源", buttons=BUTTONS, reply_to=question.id)
    )
    await workers.stop(a)
    again = await workers.start()
    whole = await again.adapter.changes("h001", 0, NURSE.user_id)
    assert [(m["kind"], m["text"]) for m in whole.messages] == [
        ("user", "号源显示已满"),
        ("bot", "请刷新号源"),
    ]
    assert whole.messages[1]["quote"] == {"sender": "护士小张", "text": "号源显示已满"}
    # the restarted worker takes presses of what was sent before, and replies to it
    await again.adapter.press("h001", NURSE, answer.message_id, "ok:1")
    assert [p.action for p in again.presses] == ["ok:1"]
    reply = await again.adapter.post("h001", NURSE, "好了", answer.message_id)
    assert reply.quote is not None and reply.quote.text == "请刷新号源"


PHONE, ID_CARD = "13812345678", "110101199003074514"


def stored_texts(engine: Engine) -> list[str]:
    with Session(engine) as s:
        rows = s.execute(text("SELECT sender, badge, text FROM web_chat_entry")).all()
    return [value for row in rows for value in row]


async def test_what_the_board_stores_is_masked(workers: Workers) -> None:
    a, b = await workers.start(), await workers.start()
    posted = await a.adapter.post(
        "h001", Sender("web:x", f"家属{PHONE}"), f"患者身份证 {ID_CARD} 住院号 ZY2026001234", None
    )
    sent = await b.adapter.send(bot_says("h001", f"请回电 {PHONE}"))
    await b.adapter.edit(sent, bot_says("h001", f"已回电 {PHONE}"))
    await b.adapter.acknowledge(
        ButtonPress(MessageRef("web", "h001", sent.message_id), NURSE, "ok:1", "p1"),
        f"已记录 {PHONE}",
    )
    stored = await a.db.read(lambda: stored_texts(a.db.engine))
    digits = re.sub(r"\D", "", " ".join(stored))
    assert PHONE not in digits and ID_CARD not in digits and "2026001234" not in digits
    assert "[手机号]" in posted.sender and "[身份证号]" in posted.text  # shown as stored
    assert any("[手机号]" in t for t in stored)


async def test_the_purge_and_erasures_remove_entries(workers: Workers) -> None:
    a = await workers.start()
    clock = workers.clock
    await a.adapter.send(bot_says("h001", "上周的消息"))
    await a.adapter.post("h002", NURSE, "二院上周的问题", None)
    clock.advance(hours=30)
    await a.adapter.send(bot_says("h001", "今天的消息"))
    await a.adapter.post("h002", NURSE, "二院：分机 0571-88881234 请回电", None)
    await a.adapter.post("h003", NURSE, "三院今天", None)
    engine = a.db.engine
    job = RetentionJob(
        Eraser(engine, clock),
        PrivacySettings(retention_days=0, inbox_keep_days=0),
        a.db,
        clock,
        web_chat=a.store,
        web_chat_keep_hours=24,
    )
    assert await job.purge_web_chat() == 2  # the two sent 30 hours ago

    async def texts(chat: str) -> list[str]:
        return [m["text"] for m in (await a.adapter.changes(chat, 0, "")).messages]

    assert await texts("h001") == ["今天的消息"]
    eraser = Eraser(engine, clock)
    done = await a.db.write(lambda: eraser.erase(Scope.hospital("h001"), "e01"))
    assert done.web_chat_entries == 1 and await texts("h001") == []
    # a subject's number (a landline the masking keeps), however it is written
    done = await a.db.write(lambda: eraser.erase(Scope.subject("0571 8888 1234"), "e01"))
    assert done.web_chat_entries == 1 and await texts("h002") == []
    assert await texts("h003") == ["三院今天"]


async def test_two_consoles_on_one_database_share_the_playground(web: WebEnv) -> None:
    """Worker B: its own engine, gateway, board and console app over the same database; a
    browser's requests may reach either (no client-address routing)."""
    engine = make_engine(web.settings.storage_url)
    db = Database(engine)
    b = WebAdapter(DatabaseBoard(db, WebChatStore(engine)), mask=clean, watch_every=WATCH)
    await b.start(web.app.handlers())
    console_b = create_console(dataclasses.replace(web.console, chat_api=b))
    try:
        link = await web.as_hospital("h001")  # signed in on A: the session is in the database
        chat = await Chat.open(link)
        await chat.poll(0)
        poll = asyncio.create_task(
            link.get(f"{API}/h001/messages", params={"after": chat.after, "wait": 60})
        )
        assert isinstance(web.console.chat_api, WebAdapter)
        await waiting(web.console.chat_api)
        assert not poll.done()
        sent = await b.send(bot_says("h001", "工程师已接单：工单 #2026-000001", BUTTONS))
        r = await asyncio.wait_for(poll, 30)
        [msg] = r.json()["messages"]
        assert msg["id"] == sent.message_id and msg["buttons"][0][0]["label"] == "已解决"

        base = str(web.client.base_url)
        on_b = httpx.AsyncClient(transport=httpx.ASGITransport(app=console_b), base_url=base)
        async with on_b:
            on_b.cookies = link.cookies
            r = await on_b.get(f"{API}/h001/messages", params={"after": 0})
            assert sent.message_id in [m["id"] for m in r.json()["messages"]]
            r = await on_b.post(
                f"{API}/h001/presses",
                json={"message_id": sent.message_id, "action": "ok:1"},
                headers=chat.headers,
            )
            assert r.status_code == 202
            # another hospital's link, on either console, sees nothing of h001's chat
            other = await web.as_hospital("h002")
            on_b.cookies = other.cookies
            for client in (other, on_b):
                r = await client.get(f"{API}/h001/messages", params={"after": 0, "wait": 1})
                assert r.status_code == 404 and "messages" not in r.json()
    finally:
        await b.stop()
        await asyncio.to_thread(db.close)
        engine.dispose()
