"""``hisbot run`` with no chat tokens: the web console is served and is a working demo."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from bot.app import run
from bot.infra.config import Secrets
from tests.web.conftest import REPO, web_settings


async def test_run_without_tokens_serves_the_console(
    tmp_path: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = web_settings(tmp_path, index_dir, "[web]\nport = 0\n")
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, Secrets.from_env({}), stop))
    url = None
    printed = ""
    async with asyncio.timeout(60):
        while url is None:
            await asyncio.sleep(0.05)
            printed += capsys.readouterr().out
            m = re.search(r"web console: (http://127\.0\.0\.1:\d+/)", printed)
            url = m.group(1) if m else None
            assert not task.done(), task.exception()
    assert "hisbot running: web" in printed  # the playground's chat platform
    async with httpx.AsyncClient(base_url=url) as client:
        health = await client.get("healthz")
        assert health.json() == {"ok": True, "kb_articles": 15}
        login = await client.get("login")
        assert login.status_code == 200 and "工程师登录" in login.text
    stop.set()
    await asyncio.wait_for(task, 30)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("healthz")


async def test_a_taken_port_is_a_clear_error(tmp_path: Path, index_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        settings = web_settings(tmp_path, index_dir, f"[web]\nport = {port}\n")
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await asyncio.wait_for(run(settings, Secrets.from_env({}), asyncio.Event()), 60)


def test_run_port_option_wins_over_the_environment_and_the_config(
    tmp_path: Path,
    index_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`hisbot run --port` reaches the server over HISBOT_WEB_PORT and [web] port. All three
    name taken ports, so the run stops at once and its one-line error says which was used."""
    import socket

    from bot.cli.main import main

    taken = [socket.socket() for _ in range(3)]
    try:
        for s in taken:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
        option, env, configured = (s.getsockname()[1] for s in taken)
        config = tmp_path / "config.toml"
        config.write_text(
            f'[kb]\ndir = "{REPO / "kb"}"\nindex_dir = "{index_dir}"\n'
            f'[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n[web]\nport = {configured}\n',
            encoding="utf-8",
        )
        monkeypatch.setenv("HISBOT_WEB_PORT", str(env))
        code = main(["--config", str(config), "run", "--port", str(option)])
        assert code == 2
        assert f"cannot listen on 127.0.0.1:{option}" in capsys.readouterr().err
        code = main(["--config", str(config), "run"])
        assert code == 2
        assert f"cannot listen on 127.0.0.1:{env}" in capsys.readouterr().err
    finally:
        for s in taken:
            s.close()
