"""``hisbot duty now|week|set|swap`` and ``hisbot sla target``: leads change the roster, the
views resolve it against China's calendar, mistakes are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.infra.config import load_settings
from bot.infra.db import make_engine
from bot.registry import RegistryStore
from tests.unit import test_cli
from tests.unit.test_cli import Run, write_config

run = test_cli.run  # the in-process `hisbot` fixture


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(
        tmp_path,
        '[[hospitals]]\nid = "h001"\nname = "一院"\ndedicated_engineer = "e01"\n'
        '[[engineers]]\nid = "e09"\nname = "王组长"\nroles = ["engineer", "lead"]\n'
        '[[engineers]]\nid = "e01"\nname = "张工"\n'
        '[[engineers]]\nid = "e02"\nname = "李工"\n',
    )
    settings = load_settings(path)  # what `hisbot run` writes to the registry at start
    RegistryStore(make_engine(settings.storage_url)).sync_from_config(
        settings.hospitals, settings.engineers
    )
    return path


def test_leads_set_rotations_and_the_views_resolve_them(run: Run, config: Path) -> None:
    c = ["--config", str(config)]
    assert (
        run(*c, "duty", "set", "night", "e01", "e02", "--as", "e09", "--starting", "2026-09-28")[0]
        == 0
    )
    assert run(*c, "duty", "set", "weekend", "e02", "--as", "e09")[0] == 0
    assert run(*c, "duty", "set", "hospital", "e02", "--hospital", "h001", "--as", "e09")[0] == 0
    code, out, _ = run(*c, "duty", "now", "--at", "2026-10-01T10:00")
    assert code == 0 and "法定节假日·National Day" in out and "节假日值班" in out
    assert "值班工程师：李工" in out  # no holiday rotation: covered like a weekend
    code, out, _ = run(*c, "duty", "now", "--at", "2026-09-29T02:00")  # Monday's night shift
    assert code == 0 and "当前班次：夜班" in out and "值班工程师：张工" in out
    code, out, _ = run(*c, "duty", "week", "--from", "2026-09-28")
    rows = out.splitlines()[1:8]
    assert [r.split()[1] for r in rows] == ["workday"] * 3 + ["holiday"] * 4
    code, out, _ = run(*c, "duty", "swap", "night", "2026-09-28", "2026-10-05", "--as", "e09")
    assert code == 0 and "2026-09-28: e02; 2026-10-05: e01" in out


def test_refusals_are_one_line_errors(run: Run, config: Path) -> None:
    c = ["--config", str(config)]
    code, _, err = run(*c, "duty", "set", "night", "e01", "--as", "e01")
    assert code == 2 and "e01 is not a lead" in err
    code, _, err = run(*c, "duty", "set", "night", "e77", "--as", "e09")
    assert code == 2 and "no engineer e77" in err
    code, _, err = run(*c, "duty", "swap", "night", "2026-09-28", "2026-10-05", "--as", "e09")
    assert code == 2 and "nobody is rostered" in err
    code, _, err = run(*c, "sla", "target", "h001", "P2", "--accept", "5", "--as", "e09")
    assert code == 2 and "both --accept and --resolve" in err
    code, out, _ = run(
        *c, "sla", "target", "h001", "P2", "--accept", "5", "--resolve", "60", "--as", "e09"
    )
    assert code == 0
    code, out, _ = run(*c, "sla", "target", "h001", "P2", "--as", "e09")
    assert "accept 5 min, resolve 60 min, around the clock" in out


def test_sla_targets_keep_the_consoles_rules_and_reset(run: Run, config: Path) -> None:
    c = ["--config", str(config)]
    sla = [*c, "sla", "target", "h001", "P2"]
    code, _, err = run(*sla, "--accept", "90", "--resolve", "60", "--as", "e09")
    assert code == 2 and "resolve target (60 min) cannot be shorter than the accept" in err
    code, _, err = run(*sla, "--accept", "0", "--resolve", "60", "--as", "e09")
    assert code == 2 and "positive numbers of minutes" in err
    code, _, err = run(*sla, "--accept", "5", "--resolve", "60", "--as", "e01")
    assert code == 2 and "e01 is not a lead" in err
    code, out, _ = run(*sla, "--as", "e09")
    assert out.strip() == "h001 P2: accept 30 min, resolve 1440 min, around the clock (default)"
    assert run(*sla, "--accept", "5", "--resolve", "60", "--as", "e09")[0] == 0
    code, out, _ = run(*sla, "--as", "e09")
    assert "accept 5 min, resolve 60 min, around the clock (the hospital contract's own)" in out
    code, _, err = run(*sla, "--reset", "--accept", "5", "--as", "e09")
    assert code == 2 and "--reset takes no --accept, --resolve, --working-time" in err
    code, out, _ = run(*sla, "--reset", "--as", "e09")
    assert code == 0 and "back to the default targets" in out
    code, out, _ = run(*sla, "--reset", "--as", "e09")
    assert code == 0 and "already the default" in out
    assert "(default)" in run(*sla, "--as", "e09")[1]


def test_sla_target_keeps_how_time_is_counted_unless_told(run: Run, config: Path) -> None:
    """Changing the minutes keeps the way time is counted (the own target's, else the
    default's: ``[sla] working_time`` counts P3 in working time); ``--working-time`` and
    ``--all-hours`` change it; what was stored is printed with it."""
    c = ["--config", str(config)]
    p3 = [*c, "sla", "target", "h001", "P3"]
    code, out, _ = run(*p3, "--accept", "30", "--resolve", "600", "--as", "e09")
    assert code == 0
    assert out.strip() == (
        "h001 P3: accept 30 min, resolve 600 min, working time only (the hospital contract's "
        "own, new tickets; how time is counted kept as it was)"
    )
    code, out, _ = run(*p3, "--accept", "30", "--resolve", "600", "--all-hours", "--as", "e09")
    assert code == 0 and "resolve 600 min, around the clock (the hospital" in out
    assert "kept" not in out
    code, out, _ = run(*p3, "--accept", "45", "--resolve", "600", "--as", "e09")  # the own's
    assert code == 0 and "accept 45 min, resolve 600 min, around the clock" in out
    code, out, _ = run(*p3, "--accept", "45", "--resolve", "600", "--working-time", "--as", "e09")
    assert code == 0 and "working time only" in out and "kept" not in out
    shown = (
        "h001 P3: accept 45 min, resolve 600 min, working time only (the hospital contract's own)"
    )
    assert run(*p3, "--as", "e09")[1].strip() == shown
    # a default counted around the clock stays so
    p2 = [*c, "sla", "target", "h001", "P2"]
    code, out, _ = run(*p2, "--accept", "20", "--resolve", "600", "--as", "e09")
    assert code == 0 and "around the clock" in out and "kept" in out
    # refused, nothing changed
    with pytest.raises(SystemExit) as both:
        run(*p3, "--accept", "5", "--resolve", "60", "--working-time", "--all-hours", "--as", "e09")
    assert both.value.code == 2
    code, _, err = run(*p3, "--all-hours", "--as", "e09")
    assert code == 2 and "give both --accept and --resolve" in err
    code, _, err = run(*p3, "--reset", "--working-time", "--as", "e09")
    assert code == 2 and "--reset takes no" in err and "--working-time" in err
    code, _, err = run(*p3, "--accept", "90", "--resolve", "60", "--all-hours", "--as", "e09")
    assert code == 2 and "cannot be shorter" in err
    assert run(*p3, "--as", "e09")[1].strip() == shown
