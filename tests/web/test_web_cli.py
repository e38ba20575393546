"""``hisbot web …``: console accounts, hospital links, the demo command and the audit log."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.infra.db import make_engine
from bot.registry.store import RegistryStore
from bot.web.auth import ConsoleStore


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///state/hisbot.db"\n[web]\nbase_url = "https://his.example.org"\n',
        encoding="utf-8",
    )
    return path


def run(
    config: Path,
    *args: str,
    stdin: str = "",
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["--config", str(config), "web", *args])
    out, err = capsys.readouterr()
    return code, out, err


def stores(config: Path) -> tuple[RegistryStore, ConsoleStore]:
    db = make_engine(f"sqlite:///{config.parent}/state/hisbot.db")
    return RegistryStore(db), ConsoleStore(db)


def test_accounts_links_and_audit(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, store = stores(config)
    registry.add_engineer("e01", "王工")
    registry.add_hospital("h001", "第一人民医院")

    code, _, err = run(
        config,
        "account",
        "set",
        "e01",
        "--password-stdin",
        stdin="short\n",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "太短" in err
    for common in ("password123", "aaaaaaaaaaaa", "qwertyuiop", "e01e01e01e01"):
        code, _, err = run(
            config,
            "account",
            "set",
            "e01",
            "--password-stdin",
            stdin=common + "\n",
            capsys=capsys,
            monkeypatch=monkeypatch,
        )
        assert code == 2 and ("常见" in err or "单一" in err), common
    code, _, err = run(
        config,
        "account",
        "set",
        "nobody",
        "--password-stdin",
        stdin="long-enough-pass\n",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "no engineer nobody" in err
    code, out, _ = run(
        config,
        "account",
        "set",
        "e01",
        "--password-stdin",
        stdin="long-enough-pass\n",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert code == 0 and "created" in out
    assert store.check_password("e01", "long-enough-pass")
    code, out, _ = run(
        config, "account", "set", "e01", "--generate", capsys=capsys, monkeypatch=monkeypatch
    )
    generated = re.search(r"password: (\S+)", out)
    assert code == 0 and "password changed" in out and generated
    assert store.check_password("e01", generated.group(1))
    assert not store.check_password("e01", "long-enough-pass")
    # no terminal and no flag: refused instead of hanging on a prompt
    code, _, err = run(config, "account", "set", "e01", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and "--password-stdin" in err

    code, out, _ = run(
        config,
        "link",
        "create",
        "h001",
        "--label",
        "信息科",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    url = re.search(r"https://his\.example\.org/h/(\S+)", out)
    assert code == 0 and url
    link = store.link_for_token(url.group(1))
    assert link is not None and link.hospital_id == "h001" and link.label == "信息科"
    code, out, _ = run(config, "link", "list", capsys=capsys, monkeypatch=monkeypatch)
    assert f"#{link.id}" in out and "live" in out and url.group(1) not in out  # never shown again
    code, _, err = run(config, "link", "create", "h999", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and "h999" in err
    code, out, _ = run(
        config, "link", "revoke", str(link.id), capsys=capsys, monkeypatch=monkeypatch
    )
    assert code == 0 and store.link_for_token(url.group(1)) is None

    code, out, _ = run(config, "account", "disable", "e01", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and not store.check_password("e01", generated.group(1))
    code, out, _ = run(config, "account", "list", capsys=capsys, monkeypatch=monkeypatch)
    assert "e01" in out and "disabled" in out

    code, out, _ = run(config, "audit", capsys=capsys, monkeypatch=monkeypatch)
    actions = re.findall(r"cli\s+(\w+)", out)
    assert actions == [
        "account_created",
        "password_set",
        "link_created",
        "link_revoked",
        "account_disabled",
    ]


def test_demo_is_idempotent_and_keeps_one_live_link(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, first, _ = run(config, "demo", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0
    code, second, _ = run(config, "demo", capsys=capsys, monkeypatch=monkeypatch)
    password = re.search(r"engineer login:\s+demo / (\S+)", first)
    assert password and password.group(1) in second  # the same login every time
    _, store = stores(config)
    assert store.check_password("demo", password.group(1))
    saved = config.parent / "data" / "demo-login.txt"
    assert saved.stat().st_mode & 0o077 == 0
    live = [link for link in store.links("demo") if link.revoked_at is None]
    assert len(live) == 1
    link = re.search(r"hospital link:\s+(\S+)", first)
    assert link and link.group(1) in second  # a bookmarked link keeps working across runs
    token = link.group(1).rsplit("/h/", 1)[1]
    assert store.link_for_token(token) is not None
    assert len(store.links("demo")) == 1  # nothing was revoked and re-created
    # the file says both, as the command printed them
    kept = saved.read_text(encoding="utf-8")
    assert f"demo / {password.group(1)}" in kept and link.group(1) in kept


def test_demo_replaces_a_revoked_link_and_reads_an_old_password_file(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, first, _ = run(config, "demo", capsys=capsys, monkeypatch=monkeypatch)
    password = re.search(r"engineer login:\s+demo / (\S+)", first)
    token = re.search(r"/h/(\S+)", first)
    assert code == 0 and password and token
    _, store = stores(config)
    old = store.link_for_token(token.group(1))
    assert old is not None and old.id is not None
    store.revoke_link(old.id)
    saved = config.parent / "data" / "demo-login.txt"
    saved.write_text(password.group(1) + "\n", encoding="utf-8")  # an older release's file
    code, again, _ = run(config, "demo", capsys=capsys, monkeypatch=monkeypatch)
    fresh = re.search(r"/h/(\S+)", again)
    assert code == 0 and fresh and fresh.group(1) != token.group(1)
    assert f"demo / {password.group(1)}" in again  # the password was read, not regenerated
    assert store.link_for_token(fresh.group(1)) is not None
    assert [link.id for link in store.links("demo") if link.revoked_at is None] != [old.id]
    assert fresh.group(1) in saved.read_text(encoding="utf-8")


def test_web_address_precedence(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--port/--listen over HISBOT_WEB_PORT/HISBOT_WEB_LISTEN over [web] over the default."""
    from bot.web.settings import WebSettings, with_address

    web = WebSettings(port=8081)
    assert (with_address(web, {}).listen, with_address(web, {}).port) == ("127.0.0.1", 8081)
    env = {"HISBOT_WEB_PORT": "9000", "HISBOT_WEB_LISTEN": "0.0.0.0"}
    assert (with_address(web, env).listen, with_address(web, env).port) == ("0.0.0.0", 9000)
    chosen = with_address(web, env, listen="::1", port=0)
    assert (chosen.listen, chosen.port, chosen.url) == ("::1", 0, "http://[::1]:0")
    for bad in ("80a", "70000", "-1"):
        with pytest.raises(ValueError, match="HISBOT_WEB_PORT"):
            with_address(web, {"HISBOT_WEB_PORT": bad})
    with pytest.raises(ValueError, match="--port 70000"):
        with_address(web, {}, port=70000)

    # the demo prints the address `run` will serve on (config.toml has a base_url: drop it)
    config.write_text('[storage]\nurl = "sqlite:///state/hisbot.db"\n', encoding="utf-8")
    monkeypatch.setenv("HISBOT_WEB_PORT", "9123")
    code, out, _ = run(config, "demo", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "http://127.0.0.1:9123/h/" in out
    monkeypatch.setenv("HISBOT_WEB_PORT", "port")
    code, _, err = run(config, "demo", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and "HISBOT_WEB_PORT='port' is not a port" in err


def test_audit_prints_the_configured_time_zone_and_filters(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hisbot web audit` shows times as the 操作审计 page does ([reports] timezone), not UTC."""
    import datetime as dt

    from bot.web.auth import ConsoleStore as Store

    _, store = stores(config)
    at = dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.UTC)  # 07:30 the next day in Shanghai
    clocked = Store(store._engine, clock=lambda: at)
    clocked.audit("engineer:e01", "kb_edit", "hb-001", "v2")
    clocked.audit("anonymous", "login_failed", "e02")
    code, out, _ = run(config, "audit", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "2026-03-06 07:30:00 engineer:e01" in out and "23:30" not in out
    code, out, _ = run(
        config, "audit", "--action", "login_failed", capsys=capsys, monkeypatch=monkeypatch
    )
    assert out.splitlines() == ["2026-03-06 07:30:00 anonymous                login_failed     e02"]
    config.write_text(
        config.read_text(encoding="utf-8") + '[reports]\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    code, out, _ = run(config, "audit", "--actor", "e01", capsys=capsys, monkeypatch=monkeypatch)
    assert out.startswith("2026-03-06 00:30:00 engineer:e01")
