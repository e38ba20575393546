"""The console over a real bot: build_app on a temporary SQLite database and the sample KB,
its ASGI app driven by httpx in the test's own event loop (no thread, no second loop).

``web`` gives a ``WebEnv``: two hospitals (h001, h002), engineers e01 (lead) and e02 with
console passwords, and helpers to sign in as an engineer or through a hospital's access link.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from bot.app import App, build_app
from bot.infra.clock import utc_now
from bot.infra.config import Secrets, Settings, load_settings
from bot.infra.db import make_engine
from bot.tickets.models import Ticket
from bot.web.app import Console
from bot.web.auth import ConsoleStore
from tests.once import seeded_index_dir

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"

CONFIG = f"""
[kb]
dir = "{REPO / "kb"}"
[[hospitals]]
id = "h001"
name = "第一人民医院"
region = "东区"
dedicated_engineer = "e01"
[[hospitals]]
id = "h002"
name = "第二人民医院"
region = "西区"
[[engineers]]
id = "e01"
name = "王工"
roles = ["engineer", "lead", "broadcaster"]
[[engineers]]
id = "e02"
name = "李工"
"""

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    m = _CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class ConsoleClock:
    """The app's clock in console tests: the real time until a test fixes it (a report of a
    past month is read as of that month)."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.fixed or utc_now()


@dataclasses.dataclass
class WebEnv:
    app: App
    client: httpx.AsyncClient
    store: ConsoleStore
    settings: Settings
    #: The clock the app was built with (``Services.clock``, the stores, the SLA watch).
    clock: ConsoleClock

    def register_ticket(
        self,
        hospital_id: str,
        question: str,
        *,
        reporter: str = "收费处",
        category: str = "usage",
        urgency: str = "P3",
    ) -> Ticket:
        """A ticket registered as the web form does (redacted, carded through the outbox)."""
        hospital = self.app.services.registry.get_hospital(hospital_id)
        assert hospital is not None
        return self.app.services.ticket_flow.register_web_ticket(
            hospital,
            reporter_id="test",
            reporter_name=reporter,
            question=question,
            category=category,
            urgency=urgency,
            now=dt.datetime.now(dt.UTC),
        )

    def new_client(self) -> httpx.AsyncClient:
        """Another browser (own cookies) on the same console."""
        return httpx.AsyncClient(
            transport=self.client._transport, base_url=str(self.client.base_url)
        )

    @property
    def asgi(self) -> FastAPI:
        transport = self.client._transport
        assert isinstance(transport, httpx.ASGITransport)
        return cast(FastAPI, transport.app)

    @property
    def console(self) -> Console:
        """The console behind the client (its limiter, pools and clocks)."""
        return cast(Console, self.asgi.state.console)

    def client_from(self, address: str, *, raise_errors: bool = True) -> httpx.AsyncClient:
        """Another browser, connecting from ``address`` (the peer the console sees)."""
        transport = httpx.ASGITransport(
            app=self.asgi, client=(address, 40000), raise_app_exceptions=raise_errors
        )
        return httpx.AsyncClient(transport=transport, base_url=str(self.client.base_url))

    async def csrf(self, client: httpx.AsyncClient | None = None, path: str = "/kb") -> str:
        r = await (client or self.client).get(path)
        return csrf_of(r.text)

    async def login(
        self, engineer_id: str = "e01", client: httpx.AsyncClient | None = None
    ) -> httpx.AsyncClient:
        c = client or self.client
        token = await self.csrf(c, "/login")
        r = await c.post(
            "/login", data={"username": engineer_id, "password": PASSWORD, "csrf": token}
        )
        assert r.status_code == 303, r.text
        return c

    async def as_hospital(
        self, hospital_id: str, client: httpx.AsyncClient | None = None
    ) -> httpx.AsyncClient:
        """A browser that opened the hospital's access link."""
        c = client or self.new_client()
        link = self.store.create_link(hospital_id, label="test")
        r = await c.get(f"/h/{link.token}")
        assert r.status_code == 303, r.text
        return c

    async def post_form(
        self, client: httpx.AsyncClient, path: str, data: dict[str, str], page: str | None = None
    ) -> httpx.Response:
        """POST a form the way a browser does: with the CSRF token of the page it came from."""
        token = await self.csrf(client, page or path)
        return await client.post(path, data={**data, "csrf": token})


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index folder for the web tests: later builds reuse its vectors (a test that edits
    an article only adds versions; every build indexes exactly its own database's articles)."""
    return seeded_index_dir(tmp_path_factory, "web-index")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest cost: the same algorithm and code path, without spending
    0.2 s of CPU on every login the tests make (production keeps argon2-cffi's defaults)."""
    monkeypatch.setattr(
        "bot.web.auth._HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def web_settings(
    tmp_path: Path, index_dir: Path, extra: str = "", storage_url: str = ""
) -> Settings:
    """The test config; the database is a SQLite file in ``tmp_path`` unless ``storage_url``."""
    url = storage_url or f"sqlite:///{tmp_path}/bot.db"
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + f'\n[storage]\nurl = "{url}"\n' + extra, encoding="utf-8")
    s = load_settings(path)
    return dataclasses.replace(s, kb=dataclasses.replace(s.kb, index_dir=str(index_dir)))


@pytest.fixture
def extra_config() -> str:
    """Override in a test module to add TOML (e.g. ``[web] kb_access = "login"``)."""
    return ""


@pytest.fixture
def storage_url() -> str:
    """Override in a test module to run the console on another database (e.g. ``db_url``:
    SQLite and PostgreSQL); empty: a SQLite file in the test's folder."""
    return ""


@pytest.fixture
async def web(
    tmp_path: Path, index_dir: Path, extra_config: str, storage_url: str
) -> AsyncIterator[WebEnv]:
    settings = web_settings(tmp_path, index_dir, extra_config, storage_url)
    db = make_engine(settings.storage_url)
    clock = ConsoleClock()
    app = build_app(settings, Secrets.from_env({}), db=db, adapters=[], clock=clock)
    await app.start()
    store = ConsoleStore(db)
    store.set_password("e01", PASSWORD)
    store.set_password("e02", PASSWORD)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.console()), base_url="http://console.test"
    )
    try:
        yield WebEnv(app, client, store, settings, clock)
    finally:
        await client.aclose()
        await app.stop()
