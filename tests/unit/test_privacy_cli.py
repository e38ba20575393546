"""``hisbot privacy …`` and ``hisbot redact`` (issue 13, items 1 and 3): leads erase personal
data by scope, see first what would go, and the erasure log names no data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.infra.db import make_engine
from bot.registry import RegistryStore
from bot.tickets import TicketStore
from tests.unit import test_cli
from tests.unit.test_cli import Run, write_config

run = test_cli.run  # the in-process `hisbot` fixture


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        '[[hospitals]]\nid = "h001"\nname = "一院"\n'
        '[[engineers]]\nid = "e09"\nname = "王组长"\nroles = ["engineer", "lead"]\n'
        '[[engineers]]\nid = "e01"\nname = "张工"\n',
    )


def open_ticket(config: Path, question: str) -> tuple[TicketStore, str]:
    from bot.infra.config import load_settings

    settings = load_settings(config)
    engine = make_engine(settings.storage_url)
    RegistryStore(engine).sync_from_config(settings.hospitals, settings.engineers)
    store = TicketStore(engine)
    ticket = store.open_ticket(
        hospital_id="h001",
        reporter_platform="telegram",
        reporter_user_id="7",
        reporter_name="老王",
        source_platform="telegram",
        source_chat_id="-1",
        source_message_id="1",
        question=question,
        category="usage",
    )
    return store, ticket.number


def test_a_purge_shows_first_and_erases_with_yes(run: Run, config: Path) -> None:
    store, number = open_ticket(config, "座机 0571 8888 6666 打不通")
    code, out, _ = run(
        "-c", str(config), "privacy", "purge", "--subject", "057188886666", "--as", "e09"
    )
    assert code == 0 and "would erase the personal data of 1 ticket(s)" in out
    assert "8888" in store.get(number).question
    code, out, _ = run(
        "-c", str(config), "privacy", "purge", "--subject", "0571-8888-6666", "--as", "e09", "--yes"
    )
    assert code == 0 and "erased the personal data of 1 ticket(s)" in out
    assert store.get(number).question == "[已删除]"
    code, out, _ = run("-c", str(config), "privacy", "log")
    assert code == 0 and "e09  subject: 1 tickets" in out and "8888" not in out
    # the erasure's time as the console shows times: Asia/Shanghai, not UTC
    import datetime as dt
    from zoneinfo import ZoneInfo

    local = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    stamp = re.search(r"#\d+ (\d{4}-\d\d-\d\d \d\d:\d\d)  e09", out)
    assert stamp and "UTC" not in out
    shown = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=local.tzinfo)
    assert abs((local - shown).total_seconds()) < 120


def test_only_leads_purge_and_mistakes_are_one_line(run: Run, config: Path) -> None:
    _, number = open_ticket(config, "发票打不出")
    code, _, err = run("-c", str(config), "privacy", "purge", "--ticket", number, "--as", "e01")
    assert code == 2 and "not a lead" in err and "Traceback" not in err
    code, _, err = run("-c", str(config), "privacy", "purge", "--as", "e09")
    assert code == 2 and "say what to erase" in err
    code, _, err = run(
        "-c", str(config), "privacy", "purge", "--ticket", "2026-999999", "--as", "e09", "--yes"
    )
    assert code == 2 and "no ticket" in err
    code, _, err = run("-c", str(config), "privacy", "purge-kb", "hb-001", "1", "--as", "e09")
    assert code == 2 and "no version 1 of article hb-001" in err


def test_redact_reads_a_number_broken_over_two_lines(run: Run) -> None:
    code, out, _ = run("redact", stdin="家属电话1381234\n5678，身份证 110101 19900307 4518\n")
    assert code == 0
    assert out == "家属电话[手机号]，身份证 [身份证号]\n"
