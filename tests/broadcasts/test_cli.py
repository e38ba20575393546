"""``hisbot notice create|preview|send|schedule|cancel|status``: the CLI writes, the running bot
(here: a ``Broadcasts`` on the same database) sends."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.broadcasts import Broadcasts
from bot.broadcasts.cli import add_notice_parser
from bot.cli.common import CliError
from tests.broadcasts.conftest import DESK, FakeClock, FakeTransport

Run = Callable[..., str]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: object) -> Run:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "hisbot.db"}"\n'
        f"[telegram]\nengineers_chat = {DESK.chat_id}\n",
        encoding="utf-8",
    )
    parser = argparse.ArgumentParser(prog="hisbot")
    parser.add_argument("--config")
    add_notice_parser(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> str:
        args = parser.parse_args(["--config", str(config), "notice", *argv])
        assert args.func(args) == 0
        return capsys.readouterr().out

    return run


@pytest.fixture
def bot(make_broadcasts: Callable[..., Broadcasts], clock: FakeClock) -> Broadcasts:
    clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)  # the CLI: the wall clock
    from bot.broadcasts import BroadcastSettings

    return make_broadcasts(
        BroadcastSettings(quiet_hours="", telegram_chat_interval=0.0, slack_chat_interval=0.0)
    )


PATCH = [
    "create", "patch", "--as", "e05", "--target", "region=华东",
    "--product", "HIS", "--module", "住院", "--version", "5.2.4", "--text", "修复 2304",
    "--download", "https://dl.example.com/x.zip", "--checksum", "sha256:ab",
    "--action", "停住院服务后升级", "--deadline", "2027-01-10 18:00",
]  # fmt: skip


async def test_create_preview_send_confirm_status(
    run: Run, bot: Broadcasts, transport: FakeTransport
) -> None:
    out = run(*PATCH)
    assert out.startswith("notice #1 created (draft)")
    assert "将发送到 3 个群（slack 1，telegram 2），2 家医院" in out
    assert "telegram:-1001003  h003 妇幼保健院" in run("preview", "1")

    out = run("send", "1", "--as", "e05")
    assert "test copy of notice #1 queued for the engineers' chat" in out
    assert "hisbot notice send 1 --as e05 --confirm" in out
    with pytest.raises(CliError, match="has not reached the engineers' chat \\(pending\\)"):
        run("send", "1", "--as", "e05", "--confirm")
    await bot.broadcaster.process_once()  # the running bot posts the test copy
    assert transport.to(DESK.chat_id)[0].reply.text.startswith("【测试")
    assert "is in the engineers' chat" in run("send", "1", "--as", "e05")

    assert "notice #1 confirmed: 3 groups" in run("send", "1", "--as", "e05", "--confirm")
    await bot.broadcaster.process_once()
    assert sorted(transport.chats()) == ["-1001001", "-1001003", "C001"]
    status = run("status", "1")
    assert "群：共 3 个，已送达 3" in status and "已知悉 0/2" in status
    assert "#1 [补丁通知] HIS 住院 5.2.4 补丁 · 已发送" in run("list")


async def test_schedule_and_cancel(run: Run, bot: Broadcasts, transport: FakeTransport) -> None:
    run(*PATCH)
    run("schedule", "1", "--at", "2027-01-05 09:00", "--as", "e05")
    await bot.broadcaster.process_once()
    out = run("schedule", "1", "--at", "2027-01-05 09:00", "--as", "e05", "--confirm")
    assert "at 2027-01-05 09:00" in out
    assert bot.store.get(1).send_at == dt.datetime(2027, 1, 5, 1, 0, tzinfo=dt.UTC)
    assert "notice #1: cancelled; 0 queued deliveries cancelled" in run(
        "cancel", "1", "--as", "e05"
    )
    await bot.broadcaster.process_once()
    assert transport.chats() == []


def test_refusals_and_bad_input(run: Run, bot: Broadcasts) -> None:
    with pytest.raises(CliError, match="does not have the broadcaster role"):
        run(*[("e01" if a == "e05" else a) for a in PATCH])
    with pytest.raises(CliError, match="not a registered engineer"):
        run(*[("nobody" if a == "e05" else a) for a in PATCH])
    with pytest.raises(CliError, match="needs: checksum"):
        run(*[a for a in PATCH if a not in ("--checksum", "sha256:ab")])
    with pytest.raises(CliError, match="no notice #7"):
        run("status", "7")
    assert [(a.actor, a.action, a.allowed) for a in bot.store.audit_log()] == [
        ("e01", "create", False),
        ("nobody", "create", False),
    ]


async def test_quiet_hours_are_said_in_send_and_status(
    run: Run, tmp_path: Path, registry: object
) -> None:
    """A notice confirmed for 23:30 is held until 07:00: `send --confirm` and `status` say so
    (they used to say only "已排期 23:30"); an urgent one is not held."""
    config = tmp_path / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '[broadcast]\nquiet_hours = "22:00-07:00"\n',
        encoding="utf-8",
    )
    run(*PATCH)
    run(*PATCH[:-2], "--deadline", "2027-01-12 18:00", "--urgent")
    for notice in ("1", "2"):
        out = run(
            "schedule",
            notice,
            "--at",
            "2027-01-05 23:30",
            "--as",
            "e05",
            "--confirm",
            "--skip-test",
        )
        assert "at 2027-01-05 23:30" in out
        held = "held for quiet hours (22:00-07:00): it goes out at 2027-01-06 07:00" in out
        assert held == (notice == "1")
    status = run("status", "1")
    assert "已排期" in status
    assert "免打扰时段（22:00-07:00）：非紧急通知顺延至 2027-01-06 07:00 发出" in status
    assert "免打扰" not in run("status", "2")


def test_send_without_a_desk_says_to_skip_the_test(
    run: Run, tmp_path: Path, registry: object
) -> None:
    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text[: text.index("[telegram]")], encoding="utf-8")
    run(*PATCH)
    with pytest.raises(CliError) as refused:
        run("send", "1", "--as", "e05")
    assert "no engineers' chat is configured" in str(refused.value)
    assert "hisbot notice send 1 --as e05 --confirm --skip-test" in str(refused.value)
    out = run("send", "1", "--as", "e05", "--confirm", "--skip-test")
    assert "notice #1 confirmed: 3 groups" in out
