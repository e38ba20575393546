"""DingTalk configuration: tenants name environment variables, hospitals and engineers name
tenants, the CLI checks groups like the config, and ids round-trip through convert."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from adapters.base import ChatRef
from adapters.dingtalk import convert
from adapters.dingtalk.settings import TenantCredentials
from bot.cli.main import main
from bot.infra.config import ConfigError, Secrets, load_settings
from bot.wiring.platforms import bot_settings, dingtalk_adapter

TENANTS = """
[dingtalk]
api_base = "http://127.0.0.1:9"
desk_tenant = "vendor"
engineers_group = "cidDesk"
[[dingtalk.tenants]]
name = "h001"
client_id_env = "DT_H001_ID"
client_secret_env = "DT_H001_SECRET"
robot_code_env = "DT_H001_ROBOT"
[[dingtalk.tenants]]
name = "vendor"
client_id_env = "DT_V_ID"
client_secret_env = "DT_V_SECRET"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n' + text, encoding="utf-8")
    return path


def test_tenants_hospitals_and_engineers_load(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            TENANTS
            + """
[[hospitals]]
id = "h001"
name = "第一人民医院"
dingtalk_groups = ["h001/cidWard1"]
dingtalk_admins = ["h001/manager01"]
[[engineers]]
id = "e01"
name = "王工"
dingtalk_user = "vendor/wang"
""",
        )
    )
    assert [t.name for t in settings.dingtalk.tenants] == ["h001", "vendor"]
    assert settings.hospitals[0].chats() == [("dingtalk", "h001/cidWard1")]
    assert settings.hospitals[0].admins() == [("dingtalk", "h001/manager01")]
    assert settings.engineers[0].identities() == [("dingtalk", "vendor/wang")]
    assert ChatRef("dingtalk", "vendor/cidDesk") in bot_settings(settings).desk_chats


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[hospitals]]\nid = "h9"\nname = "x"\ndingtalk_groups = ["h002/cidA"]', "'h002'"),
        ('[[hospitals]]\nid = "h9"\nname = "x"\ndingtalk_groups = ["h001/abc"]', "group id"),
        ('[[hospitals]]\nid = "h9"\nname = "x"\ndingtalk_groups = ["cidA"]', "group id"),
        ('[[engineers]]\nid = "e9"\nname = "x"\ndingtalk_user = "nobody/u1"', "'nobody'"),
    ],
)
def test_a_chat_or_account_must_name_a_configured_tenant(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, TENANTS + extra))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            '[[dingtalk.tenants]]\nname = "a"\nclient_id_env = "lower"\nclient_secret_env = "S"',
            "environment variable",
        ),
        (
            '[[dingtalk.tenants]]\nname = "a b"\nclient_id_env = "A"\nclient_secret_env = "S"',
            "name",
        ),
        (
            '[[dingtalk.tenants]]\nname = "a"\nclient_id_env = "A"\nclient_secret = "S"',
            "unknown key",
        ),
        ('[dingtalk]\ndesk_tenant = "ghost"\nengineers_group = "cidX"', "desk_tenant"),
        ("[dingtalk]\ntenants = 3", "list"),
    ],
)
def test_bad_dingtalk_sections_are_named(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, section))


def test_a_tenant_without_its_variables_is_named_and_the_others_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(write(tmp_path, TENANTS))
    env = {"DT_H001_ID": "dingh001", "DT_H001_SECRET": "s", "DT_H001_ROBOT": "robot1"}
    with caplog.at_level(logging.WARNING):
        adapter = dingtalk_adapter(settings, Secrets.from_env(env))
    assert adapter is not None
    assert "DingTalk tenant vendor is not run: set DT_V_ID and DT_V_SECRET" in caplog.text
    assert "desk group's tenant vendor is not run" in caplog.text
    assert settings.dingtalk.tenants[0].credentials(env) == TenantCredentials(
        "dingh001", "s", "robot1"
    )
    assert dingtalk_adapter(settings, Secrets.from_env({})) is None


def test_hospital_add_takes_dingtalk_groups_of_known_tenants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write(tmp_path, TENANTS))
    assert (
        main(["-c", config, "hospital", "add", "h001", "一院", "--dingtalk-group", "h001/cidW"])
        == 0
    )
    assert (
        main(["-c", config, "hospital", "add", "h002", "二院", "--dingtalk-group", "h002/cidW"])
        != 0
    )
    assert "no [[dingtalk.tenants]] named 'h002'" in capsys.readouterr().err
    main(["-c", config, "hospital", "list"])
    assert "dingtalk:h001/cidW" in capsys.readouterr().out


def test_ids_round_trip() -> None:
    target = convert.parse_chat_id("h001/cidAb+c/d==")
    card = convert.new_card_id(target)
    assert convert.card_target("h001", card) == target and convert.is_card(card)
    assert convert.card_target("h001", "someone-elses-card") is None
    with pytest.raises(ValueError):
        convert.parse_chat_id("cidNoTenant")
    a = convert.text_message_id("h001/cidA", "你好")
    assert (
        a
        == convert.text_message_id("h001/cidA", " 你好 ")
        != convert.text_message_id("h001/cidB", "你好")
    )


def test_engineer_add_takes_a_dingtalk_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write(tmp_path, TENANTS))
    assert (
        main(["-c", config, "engineer", "add", "e01", "王工", "--dingtalk-user", "vendor/wang"])
        == 0
    )
    assert main(["-c", config, "engineer", "add", "e02", "李工", "--dingtalk-user", "x/li"]) != 0
    assert "no [[dingtalk.tenants]] named 'x'" in capsys.readouterr().err
    assert main(["-c", config, "engineer", "list"]) == 0
    assert "e02" not in capsys.readouterr().out  # nothing written for a refused command


def test_secrets_never_show_the_environment() -> None:
    assert "hunter2" not in repr(Secrets.from_env({"DT_H001_SECRET": "hunter2"}))


def test_a_card_pressed_by_two_people_is_two_events_and_a_redelivery_one() -> None:
    """The inbox keys a press on its ``press_id``: DingTalk gives a press no id, so it is the
    card, the presser and what was pressed (the same card is pressed by several engineers)."""
    card = convert.new_card_id(convert.parse_chat_id("vendor/cidDESK"))

    def press(user: str, action: str) -> str:
        data = {
            "outTrackId": card,
            "userId": user,
            "content": f'{{"cardPrivateData": {{"params": {{"action": "{action}"}}}}}}',
        }
        found = convert.to_button_press("vendor", data)
        assert found is not None and found.message.message_id == card
        return found.press_id

    assert press("wang", "claim:1") == press("wang", "claim:1")  # a re-delivered frame
    assert press("wang", "claim:1") != press("li", "claim:1")
    assert press("wang", "claim:1") != press("wang", "resolve:1")
    assert len(press("wang", "claim:1")) <= 64  # fits the inbox key beside the chat id
