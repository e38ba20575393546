"""Messages a console action causes are durable like a chat event's: the ticket change and
its inbox event commit together, the chat message is sent from the inbox with keys of the
event, a crash before the send is replayed once at the next start, and a replay of a handled
action sends nothing. The whole bot (``build_app``) on SQLite with a recording adapter on the
Telegram platform, restarted on the same database as after a ``kill -9``."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from adapters.base import ButtonPress, CoreHandlers, MessageRef, OnRelease, Reply
from bot.app import App, build_app
from bot.inbox.models import InboxState, OutboxState
from bot.inbox.store import InboxStore
from bot.infra.config import Secrets, Settings
from bot.infra.db import make_engine
from bot.tickets.models import Ticket
from bot.web.auth import ConsoleStore
from tests.web.conftest import PASSWORD, csrf_of, web_settings

HOSPITAL, DESK, NURSE = "-1001001", "-1009000", "7002"


@dataclass
class Recorder:
    """A Telegram-platform adapter whose sends leave when its limiter lets them go
    (``ReleasesSends``); ``hold`` keeps the hospital's messages waiting there (what a restart's
    backlog or a rate limit does), so a crash can come between the event and its send."""

    hold: bool = False
    platform: str = "telegram"
    sent: list[tuple[MessageRef, Reply]] = field(default_factory=list)
    held: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500))

    async def start(self, handlers: CoreHandlers) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, reply: Reply) -> MessageRef:
        ref = MessageRef(self.platform, reply.chat.chat_id, str(next(self._ids)))
        self.sent.append((ref, reply))
        return ref

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        if self.hold and reply.chat.chat_id == HOSPITAL:
            self.held.set()
            await asyncio.Event().wait()  # until the crash cancels it
        await on_release()
        return await self.send(reply)

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        return None

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        return None

    def to(self, chat_id: str) -> list[str]:
        return [reply.text for ref, reply in self.sent if ref.chat_id == chat_id]


@pytest.fixture
def settings(tmp_path: Path, index_dir: Path) -> Settings:
    return web_settings(tmp_path, index_dir, f"[telegram]\nengineers_chat = {DESK}\n")


@asynccontextmanager
async def running(
    settings: Settings, out: Recorder
) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """The bot and its console, signed in as engineer e01; stopped at the end (a crash is
    ``app.inbox.stop(0)`` first: the lanes are cut off where they are)."""
    db = make_engine(settings.storage_url)
    app = build_app(settings, Secrets.from_env({}), db=db, adapters=[out])
    await app.start()
    ConsoleStore(db).set_password("e01", PASSWORD)
    transport = httpx.ASGITransport(app=app.console())
    client = httpx.AsyncClient(transport=transport, base_url="http://console.test")
    try:
        token = csrf_of((await client.get("/login")).text)
        form = {"username": "e01", "password": PASSWORD, "csrf": token}
        assert (await client.post("/login", data=form)).status_code == 303
        yield app, client
    finally:
        await client.aclose()
        await app.stop()


def open_ticket(app: App, *, claimed: bool) -> Ticket:
    """A ticket opened from the hospital's Telegram group (its thread is there)."""
    app.services.registry.add_chat("telegram", HOSPITAL, "h001")
    ticket = app.services.tickets.open_ticket(
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id=NURSE,
        reporter_name="收费处",
        source_platform="telegram",
        source_chat_id=HOSPITAL,
        source_message_id="77",
        question="发票打印机脱机",
        category="usage",
    )
    if claimed:
        app.services.tickets.claim(ticket.number, "e01")
    return ticket


async def act(client: httpx.AsyncClient, number: str, action: str, **form: str) -> httpx.Response:
    token = csrf_of((await client.get(f"/tickets/{number}")).text)
    return await client.post(f"/tickets/{number}/{action}", data={**form, "csrf": token})


def console_events(app: App) -> list[tuple[str, str]]:
    with app.services.db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, state FROM inbox_event WHERE platform = 'console' ORDER BY id")
        )
        return [(kind, state) for kind, state in rows]


def console_sends(app: App) -> list[str]:
    with app.services.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT state FROM outbox_message WHERE key LIKE 'console:%'"))
        return [state for (state,) in rows]


@contextmanager
def never_marked_done(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Events are handled but never marked done: what a kill -9 leaves after the effects."""
    with monkeypatch.context() as patch:
        patch.setattr(InboxStore, "finish", lambda *_: None)
        yield


async def test_a_resolve_interrupted_before_its_send_is_sent_once_after_a_restart(
    settings: Settings,
) -> None:
    held = Recorder(hold=True)
    async with running(settings, held) as (app, client):
        number = open_ticket(app, claimed=True).number
        posting = asyncio.create_task(act(client, number, "resolve", text="重启打印服务后恢复"))
        await held.held.wait()  # the hospital's message waits in the limiter
        assert posting.done(), "the console answers once the change and its event are stored"
        answer = posting.result()
        assert answer.status_code == 303 and answer.headers["location"].endswith("done=resolved")
        assert app.services.tickets.get(number).status == "resolved"  # shown at once
        assert console_events(app) == [("console", InboxState.PENDING)]
        await app.inbox.stop(0)  # the crash: the send never left
    assert held.to(HOSPITAL) == []

    again = Recorder()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()
        told = again.to(HOSPITAL)
        assert len(told) == 1 and "重启打印服务后恢复" in told[0]
        assert console_events(app) == [("console", InboxState.DONE)]
        assert console_sends(app) == [OutboxState.SENT]


async def test_a_replayed_console_reply_sends_nothing_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Recorder()
    with never_marked_done(monkeypatch):
        async with running(settings, first) as (app, client):
            number = open_ticket(app, claimed=True).number
            answer = await act(client, number, "reply", text="请把打印机重新连一下")
            assert answer.headers["location"].endswith("done=replied")
            await app.inbox.drained()
            assert console_events(app) == [("console", InboxState.PENDING)]  # as if killed
    relayed = first.to(HOSPITAL)
    assert len(relayed) == 1 and "请把打印机重新连一下" in relayed[0]

    again = Recorder()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()  # the reply's event is replayed …
        assert console_events(app) == [("console", InboxState.DONE)]
        assert again.to(HOSPITAL) == []  # … and sends nothing
        messages = app.services.tickets.messages(number)
        assert [m.text for m in messages].count("请把打印机重新连一下") == 1
        assert messages[-1].ref_chat_id == HOSPITAL  # where it was relayed


async def test_a_hospital_follow_up_on_the_console_reaches_the_desk_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Recorder()
    with never_marked_done(monkeypatch):
        async with running(settings, first) as (app, client):
            number = open_ticket(app, claimed=True).number
            hospital = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
            link = ConsoleStore(app.services.db.engine).create_link("h001", label="test")
            assert (await hospital.get(f"/h/{link.token}")).status_code == 303
            answer = await act(hospital, number, "message", text="打印机换了线还是脱机")
            assert answer.headers["location"].endswith("done=sent")
            await app.inbox.drained()
    assert sum("换了线还是脱机" in t for t in first.to(DESK)) == 1

    again = Recorder()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()
        assert not any("换了线" in t for t in again.to(DESK))
        assert console_events(app) == [("console", InboxState.DONE)]


async def test_a_remote_access_request_interrupted_before_its_send_is_asked_once(
    settings: Settings,
) -> None:
    """The service page's request: the grant and its event commit together; the hospital
    gets the 同意 / 拒绝 message once, after the restart."""
    held = Recorder(hold=True)
    async with running(settings, held) as (app, client):
        number = open_ticket(app, claimed=True).number
        page = f"/services/tickets/{number}"
        token = csrf_of((await client.get(page)).text)
        form = {"tool": "向日葵", "minutes": "30", "purpose": "查看打印机驱动", "csrf": token}
        posting = asyncio.create_task(client.post(f"{page}/remote", data=form))
        await held.held.wait()
        assert posting.done() and posting.result().status_code == 303
        (grant,) = app.services.workflows.remote.for_ticket(number)
        assert grant.status == "requested"
        await app.inbox.stop(0)  # the crash
    assert held.to(HOSPITAL) == []

    again = Recorder()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()
        asked = again.to(HOSPITAL)
        assert len(asked) == 1 and "查看打印机驱动" in asked[0]
        (sent,) = [reply for ref, reply in again.sent if ref.chat_id == HOSPITAL]
        assert {b.label for row in sent.buttons for b in row} == {"同意", "拒绝"}
