"""Messages a console action causes are durable like a chat event's: the ticket change and
its inbox event commit together, the chat message is sent from the inbox with keys of the
event, a crash before the send is replayed once at the next start, and a replay of a handled
action sends nothing. The whole bot (``build_app``) on SQLite with a recording adapter on the
Telegram platform, restarted on the same database as after a ``kill -9``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from adapters.base import MessageRef, OnRelease, Reply
from bot.app import App, build_app
from bot.inbox.models import InboxState, OutboxState
from bot.inbox.store import InboxStore
from bot.infra.config import Secrets, Settings
from bot.infra.db import make_engine
from bot.web.auth import ConsoleStore
from tests.web.conftest import PASSWORD, csrf_of, web_settings
from tests.web.test_service_chat import DESK, HOSPITAL, Recorder, claimed_group_ticket


@dataclass
class Held(Recorder):
    """The recording adapter, with sends that leave when its limiter lets them go
    (``ReleasesSends``); ``hold`` keeps the hospital's messages waiting there (what a restart's
    backlog or a rate limit does), so a crash can come between the event and its send."""

    hold: bool = False
    held: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_released(self, reply: Reply, on_release: OnRelease) -> MessageRef:
        if self.hold and reply.chat.chat_id == HOSPITAL:
            self.held.set()
            await asyncio.Event().wait()  # until the crash cancels it
        await on_release()
        return await self.send(reply)

    def to(self, chat_id: str) -> list[str]:
        return [reply.text for ref, reply in self.sent if ref.chat_id == chat_id]


@pytest.fixture
def settings(tmp_path: Path, index_dir: Path) -> Settings:
    return web_settings(tmp_path, index_dir, f"[telegram]\nengineers_chat = {DESK}\n")


@pytest.fixture
def both_databases(settings: Settings, db_url: str) -> Settings:
    """The settings on SQLite and, with ``HISBOT_TEST_PG_URL``, on a fresh PostgreSQL schema
    (the change and its event are one transaction there too)."""
    return dataclasses.replace(settings, storage=dataclasses.replace(settings.storage, url=db_url))


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


#: A console form posted on a ticket (by whom, and which form, is the test's).
Post = Callable[[App, httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def posted_then_killed(settings: Settings, post: Post) -> tuple[httpx.Response, str]:
    """``post`` a console form on a claimed ticket while the hospital's messages wait in the
    adapter's limiter; the page must answer before any is sent (the change and its event are
    stored); then the crash. Returns the answer and the ticket's number."""
    held = Held(hold=True)
    async with running(settings, held) as (app, client):
        number = claimed_group_ticket(app).number
        posting = asyncio.create_task(post(app, client, number))
        await held.held.wait()  # the hospital's message waits in the limiter
        assert posting.done(), "the console answers once the change and its event are stored"
        assert posting.result().status_code == 303
        assert console_events(app) == [("console", InboxState.PENDING)]
        await app.inbox.stop(0)  # the crash: the send never left
    assert held.to(HOSPITAL) == []
    return posting.result(), number


@contextmanager
def never_marked_done(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Events are handled but never marked done: what a kill -9 leaves after the effects."""
    with monkeypatch.context() as patch:
        patch.setattr(InboxStore, "finish", lambda *_: None)
        yield


async def test_a_resolve_interrupted_before_its_send_is_sent_once_after_a_restart(
    both_databases: Settings,
) -> None:
    settings = both_databases

    async def resolve(_app: App, client: httpx.AsyncClient, number: str) -> httpx.Response:
        return await act(client, number, "resolve", text="重启打印服务后恢复")

    answer, number = await posted_then_killed(settings, resolve)
    assert answer.headers["location"].endswith("done=resolved")

    again = Held()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()
        assert app.services.tickets.get(number).status == "resolved"
        told = again.to(HOSPITAL)
        assert len(told) == 1 and "重启打印服务后恢复" in told[0]
        assert console_events(app) == [("console", InboxState.DONE)]
        assert console_sends(app) == [OutboxState.SENT]


async def handled_then_killed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, post: Post
) -> tuple[Held, httpx.Response, str]:
    """``post`` a console form on a claimed ticket and let its event be handled but never
    marked done (a kill -9 right after its sends): the next start replays it. Returns the
    adapter (what was sent), the answer and the ticket's number."""
    first = Held()
    with never_marked_done(monkeypatch):
        async with running(settings, first) as (app, client):
            number = claimed_group_ticket(app).number
            answer = await post(app, client, number)
            assert answer.status_code == 303
            await app.inbox.drained()
            assert console_events(app) == [("console", InboxState.PENDING)]  # as if killed
    return first, answer, number


async def test_a_replayed_console_reply_sends_nothing_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def reply(_app: App, client: httpx.AsyncClient, number: str) -> httpx.Response:
        return await act(client, number, "reply", text="请把打印机重新连一下")

    first, answer, number = await handled_then_killed(settings, monkeypatch, reply)
    assert answer.headers["location"].endswith("done=replied")
    relayed = first.to(HOSPITAL)
    assert len(relayed) == 1 and "请把打印机重新连一下" in relayed[0]

    again = Held()
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
    async def follow_up(app: App, client: httpx.AsyncClient, number: str) -> httpx.Response:
        hospital = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
        link = ConsoleStore(app.services.db.engine).create_link("h001", label="test")
        assert (await hospital.get(f"/h/{link.token}")).status_code == 303
        return await act(hospital, number, "message", text="打印机换了线还是脱机")

    first, answer, _number = await handled_then_killed(settings, monkeypatch, follow_up)
    assert answer.headers["location"].endswith("done=sent")
    assert sum("换了线还是脱机" in t for t in first.to(DESK)) == 1

    again = Held()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()
        assert not any("换了线" in t for t in again.to(DESK))
        assert console_events(app) == [("console", InboxState.DONE)]


async def test_a_remote_access_request_interrupted_before_its_send_is_asked_once(
    settings: Settings,
) -> None:
    """The service page's request: the grant and its event commit together; the hospital
    gets the 同意 / 拒绝 message once, after the restart."""

    async def ask(_app: App, client: httpx.AsyncClient, number: str) -> httpx.Response:
        page = f"/services/tickets/{number}"
        token = csrf_of((await client.get(page)).text)
        form = {"tool": "向日葵", "minutes": "30", "purpose": "查看打印机驱动", "csrf": token}
        return await client.post(f"{page}/remote", data=form)

    answer, number = await posted_then_killed(settings, ask)
    assert answer.headers["location"].endswith("done=requested")

    again = Held()
    async with running(settings, again) as (app, _client):
        await app.inbox.drained()
        (grant,) = app.services.workflows.remote.for_ticket(number)
        assert grant.status == "requested"
        asked = again.to(HOSPITAL)
        assert len(asked) == 1 and "查看打印机驱动" in asked[0]
        (sent,) = [reply for ref, reply in again.sent if ref.chat_id == HOSPITAL]
        assert {b.label for row in sent.buttons for b in row} == {"同意", "拒绝"}
