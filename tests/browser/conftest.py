"""The console in a real browser: Debian's Chromium (/usr/bin/chromium, installed by
``scripts/browser.sh``) driven by Playwright for Python — never a browser Playwright downloads.

``console`` builds the whole bot the way ``hisbot run`` does (``build_app`` over the sample KB
and a temporary SQLite database, no chat platforms: only the built-in web chat adapter), starts
it, and serves its console (``App.serve_console``) on 127.0.0.1, port 0, on the session's event
loop. The browser is launched once per run (the session's loop owns it; with xdist, the one
worker running the "browser" group); every test gets a fresh context (own cookies) and page.

Helpers: ``login(page, "e01")``, ``console.hospital_link("h001")``, ``shot(page, name)`` (a
full-page PNG under ``artifacts/screenshots/`` in the repository root).

Without /usr/bin/chromium these tests fail (run ``bash scripts/browser.sh``), unless
``HISBOT_SKIP_BROWSER=1`` is set, then they are skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    async_playwright,
    expect,
)

from bot.app import App, build_app
from bot.infra.config import Secrets
from bot.infra.db import make_engine
from bot.web.auth import ConsoleStore
from tests.once import seeded_index_dir
from tests.web.conftest import PASSWORD, web_settings

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
#: Headless, as root in CI, and quiet: no calls home (the network is closed but loopback).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=Translate,MediaRouter",
]
#: Playwright's waits (auto-waiting actions and ``expect``): generous for a loaded CI runner.
TIMEOUT_MS = 15_000

expect.set_options(timeout=TIMEOUT_MS)


def pytest_configure(config: pytest.Config) -> None:
    # also registered in pyproject.toml; repeated here so the marker is known either way
    config.addinivalue_line("markers", "browser: drives the console in headless Chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests are one xdist group (``--dist loadgroup``): one worker starts one
    Chromium for all of them, instead of each worker starting its own."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.xdist_group("browser"))


# -- the browser ---------------------------------------------------------------------------------


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("HISBOT_SKIP_BROWSER") == "1":
        pytest.skip(f"{CHROMIUM} is missing and HISBOT_SKIP_BROWSER=1")
    pytest.fail(
        f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (as root) to install Debian's "
        "chromium and fonts-noto-cjk, or set HISBOT_SKIP_BROWSER=1 to skip the browser tests",
        pytrace=False,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the run (per xdist worker: the browser tests are one xdist
    group, so one worker runs them all), on the session's event loop."""
    _need_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            await browser.close()


# -- the bot and its console ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index folder per module: later builds reuse its vectors."""
    return seeded_index_dir(tmp_path_factory)


@dataclasses.dataclass
class BrowserConsole:
    """A running bot with its console on ``url``, and the test's own browser context."""

    app: App
    store: ConsoleStore
    url: str
    context: BrowserContext
    page: Page
    #: Uncaught script errors and Content-Security-Policy refusals seen by any page.
    script_errors: list[str]
    _browser: Browser
    _contexts: list[BrowserContext] = dataclasses.field(default_factory=list)

    def hospital_link(self, hospital_id: str) -> str:
        """A fresh access link of the hospital (a path: ``/h/<token>``)."""
        return f"/h/{self.store.create_link(hospital_id, label='browser test').token}"

    async def new_page(self, **options: Any) -> Page:
        """A page in another, fresh context: a second browser with its own cookies
        (``options`` go to ``Browser.new_context``, e.g. ``bypass_csp=True``)."""
        context = await new_context(self._browser, self.url, self.script_errors, **options)
        self._contexts.append(context)
        return await context.new_page()


async def new_context(
    browser: Browser, url: str, errors: list[str], **options: Any
) -> BrowserContext:
    context = await browser.new_context(
        **{
            "base_url": url,
            "locale": "zh-CN",
            "timezone_id": "Asia/Shanghai",
            "viewport": {"width": 1280, "height": 900},
            **options,
        }
    )
    context.set_default_timeout(TIMEOUT_MS)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            errors.append(f"CSP: {msg.text}")

    def on_page(page: Page) -> None:
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        page.on("console", on_console)

    context.on("page", on_page)
    return context


@pytest.fixture
def extra_config() -> str:
    """Override in a test module to add TOML to the bot's config."""
    return ""


@pytest_asyncio.fixture(loop_scope="session")
async def console(
    browser: Browser, tmp_path: Path, index_dir: Path, extra_config: str
) -> AsyncIterator[BrowserConsole]:
    settings = web_settings(tmp_path, index_dir, extra_config)
    db = make_engine(settings.storage_url)
    app = build_app(settings, Secrets.from_env({}), db=db, adapters=[])
    store = ConsoleStore(db)
    store.set_password("e01", PASSWORD)
    await app.start()
    try:
        # any free port; the bot's article links follow it
        server, url = await app.serve_console("127.0.0.1", 0)
    except BaseException:
        await app.stop()
        raise
    errors: list[str] = []
    context: BrowserContext | None = None
    env: BrowserConsole | None = None
    try:
        context = await new_context(browser, url, errors)
        page = await context.new_page()
        env = BrowserConsole(app, store, url, context, page, errors, browser)
        yield env
    finally:
        # pages first, then the web chat's long polls are released (uvicorn's shutdown waits
        # for every request in flight, and a poll may otherwise wait out its 25 s), then the
        # server, then the rest of the bot: nothing is left running on the session's loop
        for c in [*(env._contexts if env else []), *([context] if context else [])]:
            with contextlib.suppress(Error):  # the browser went away: nothing left to close
                await c.close()
        await app.stop_console(server)
        await app.stop()
    assert not errors, f"script errors in the console's pages: {errors}"


# -- helpers -------------------------------------------------------------------------------------


async def login(page: Page, engineer_id: str = "e01", password: str = PASSWORD) -> None:
    """Sign in on /login the way an engineer does; lands on the ticket list."""
    await page.goto("/login")
    await page.locator('input[name="username"]').fill(engineer_id)
    await page.locator('input[name="password"]').fill(password)
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/tickets$"))
    await expect(page.locator("header .me")).to_contain_text("工程师")


async def shot(page: Page, name: str) -> Path:
    """A full-page screenshot, kept as a test artifact: artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
