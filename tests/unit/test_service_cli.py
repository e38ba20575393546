"""``hisbot service …`` in-process: a phone call, remote consent recorded for an admin (and
refused for anyone else), a visit that stays open without its arrival, upgrade stage order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.main import main

Out = tuple[int, str, str]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', encoding="utf-8")

    def _run(*argv: str) -> Out:
        capsys.readouterr()
        try:
            code = main(["-c", str(config), *argv])
        except SystemExit as exc:  # argparse refusing the arguments
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    assert _run("engineer", "add", "e01", "张工")[0] == 0
    assert _run("hospital", "add", "h001", "市一院", "--engineer", "e01")[0] == 0
    return _run


def test_service_workflows_from_the_cli(run) -> None:  # type: ignore[no-untyped-def]
    assert run("service", "admin", "h001", "telegram:7001")[0] == 0
    assert "telegram:7001" in run("service", "team", "h001")[1]
    code, out, _ = run(
        "service", "call", "h001", "门诊挂号无法登录", "--by", "e01", "--caller", "挂号处"
    )
    assert code == 0 and "accepted by e01" in out
    number = out.split("#")[1].split()[0]

    req = ("service", "remote", "request", number, "--by", "e01", "--tool", "向日葵")
    assert run(*req, "--minutes", "30", "--purpose", "查看日志")[0] == 0
    code, _, err = run(
        "service",
        "remote",
        "decide",
        "1",
        "--hospital",
        "h001",
        "--admin",
        "telegram:7002",
        "--agree",
    )
    assert code == 2 and "管理员" in err
    code, out, _ = run(
        "service",
        "remote",
        "decide",
        "1",
        "--hospital",
        "h001",
        "--admin",
        "telegram:7001",
        "--agree",
    )
    assert code == 0 and "granted" in out
    assert run("service", "level", number, "remote", "--by", "e01")[0] == 0
    assert (
        run("service", "remote", "revoke", "1", "--hospital", "h001", "--admin", "telegram:7001")[0]
        == 0
    )
    code, _, err = run("service", "level", number, "remote", "--by", "e01")
    assert code == 2 and "远程授权" in err
    assert "revoked" in run("service", "remote", "list", number)[1]

    assert run("service", "visit", "plan", number, "e01", "2026-03-03 09:00", "--by", "e01")[0] == 0
    confirm = ("service", "visit", "confirm", "1", "--hospital", "h001", "--admin", "telegram:7001")
    code, _, err = run(*confirm)
    assert code == 2 and "到场" in err
    assert "open" in run("service", "visit", "list", number)[1]
    assert run("service", "visit", "arrive", "1", "--by", "e01")[0] == 0
    assert run("service", "visit", "depart", "1", "--by", "e01")[0] == 0
    assert run(*confirm)[0] == 0
    assert "confirmed" in run("service", "visit", "list", number)[1]

    assert run("service", "upgrade", "start", "h001", "HIS", "5.3", "--by", "e01")[0] == 0
    code, _, err = run("service", "upgrade", "stage", "1", "production", "--by", "e01")
    assert code == 2 and "搭建测试环境" in err
    stage = ("service", "upgrade", "stage", "1", "test_env", "--by", "e01", "--date", "2026-03-02")
    assert run(*stage)[0] == 0
    assert "下一步：模拟升级与测试" in run("service", "upgrade", "list")[1]
    assert run("service", "admin", "h001", "7001")[0] == 2  # not platform:user
    code, _, err = run("service", "team", "h404")
    assert code == 2 and "h404" in err
