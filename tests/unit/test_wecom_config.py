"""The WeCom tenants in config.toml: names of environment variables, tenants that must exist,
ids with their tenant; and the pure frame translation the adapter relies on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapters.base import Button, ChatRef, Reply
from adapters.wecom.convert import (
    MAX_MARKDOWN_BYTES,
    button_card,
    markdown_parts,
    message_id_for,
    quoted_text,
    to_incoming,
)
from bot.infra.config import ConfigError, Secrets, load_settings
from bot.wiring.platforms import wecom_credentials

TENANTS = """
[wecom]
desk_tenant = "vendor"
engineers_group = "wrkDESK"
[[wecom.tenants]]
name = "h001"
bot_id_env = "HISBOT_WC_H001_BOT"
secret_env = "HISBOT_WC_H001_SECRET"
[[wecom.tenants]]
name = "vendor"
bot_id_env = "HISBOT_WC_VENDOR_BOT"
secret_env = "HISBOT_WC_VENDOR_SECRET"
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_tenants_groups_and_engineers_load(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        TENANTS
        + '[[hospitals]]\nid = "h001"\nname = "一院"\nwecom_groups = ["h001/wrkG1"]\n'
        + '[[engineers]]\nid = "e01"\nname = "王工"\nwecom_user = "vendor/wanggong"\n',
    )
    assert [t.name for t in s.wecom.tenants] == ["h001", "vendor"]
    assert s.wecom.desk_chat_id == "vendor/wrkDESK"
    assert s.hospitals[0].chats() == [("wecom", "h001/wrkG1")]
    assert s.engineers[0].identities() == [("wecom", "vendor/wanggong")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[hospitals]]\nid = "h1"\nname = "x"\nwecom_groups = ["h002/wrkG"]\n', "tenant 'h002'"),
        ('[[hospitals]]\nid = "h1"\nname = "x"\nwecom_groups = ["wrkG"]\n', "<tenant>/<id>"),
        ('[[engineers]]\nid = "e1"\nname = "x"\nwecom_user = "nobody/u1"\n', "tenant 'nobody'"),
        (f'[[engineers]]\nid = "e1"\nname = "x"\nwecom_user = "vendor/{"u" * 60}"\n', "64"),
    ],
)
def test_ids_must_name_a_configured_tenant(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, TENANTS + extra)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('name = "h9"\nbot_id_env = "HISBOT_B"\nsecret = "plain"', "unknown key 'secret'"),
        ('name = "h9"\nbot_id_env = "HISBOT_B"', "secret_env"),
        ('name = "h9"\nbot_id_env = "wx-123"\nsecret_env = "S"', "environment variable"),
        ('name = "h001"\nbot_id_env = "A"\nsecret_env = "B"', "twice"),
    ],
)
def test_bad_tenant_tables_are_refused(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, TENANTS + f"[[wecom.tenants]]\n{table}\n")


def test_credentials_come_from_the_named_variables_and_gaps_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = load(tmp_path, TENANTS)
    env = {"HISBOT_WC_H001_BOT": "B1", "HISBOT_WC_H001_SECRET": "S1", "HISBOT_WC_VENDOR_BOT": "B"}
    creds = wecom_credentials(s, Secrets.from_env(env))
    assert [(c.tenant, c.bot_id, c.secret) for c in creds] == [("h001", "B1", "S1")]
    assert "S1" not in repr(creds)
    assert any(
        "vendor" in r.getMessage() and "HISBOT_WC_VENDOR_SECRET" in r.getMessage()
        for r in caplog.records
    )


def test_a_group_mention_becomes_a_message_of_the_tenant_chat() -> None:
    body = {
        "msgid": "m1",
        "chattype": "group",
        "chatid": "wrkG",
        "from": {"userid": "nurse"},
        "msgtype": "text",
        "text": {"content": "@医院助手 床位费多算了"},
        "quote": {"msgtype": "text", "text": {"content": "工单 #2026-000001 已登记"}},
    }
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    message = to_incoming("h001", body, now, None)
    assert message is not None
    assert message.chat == ChatRef("wecom", "h001/wrkG") and message.sender.user_id == "h001/nurse"
    assert message.text == "床位费多算了" and message.mentions_bot and message.message_id == "m1"
    quoted = quoted_text(body)
    assert quoted is not None
    # the id of the quoted bot message is found from its text alone, whitespace aside
    assert message_id_for("h001/wrkG", "工单 #2026-000001\n已登记") == message_id_for(
        "h001/wrkG", quoted
    )
    assert message_id_for("h002/wrkG", quoted) != message_id_for("h001/wrkG", quoted)


def test_long_text_is_split_within_the_markdown_limit_and_buttons_become_a_card() -> None:
    parts = markdown_parts("第一行\n" + "步骤说明。" * 2000)
    assert len(parts) > 1 and all(len(p.encode()) <= MAX_MARKDOWN_BYTES for p in parts)
    reply = Reply(
        ChatRef("wecom", "h001/g"),
        "是这个问题吗？《住院医保结算》",
        buttons=((Button("是", "c:1"), Button("不是，转工程师", "c:0")),),
    )
    card = button_card(reply, "hbX")
    assert card["task_id"] == "hbX" and card["card_type"] == "button_interaction"
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [
        ("是", "c:1"),
        ("不是，转工程师", "c:0"),
    ]


def test_hospital_and_engineer_add_take_wecom_ids_of_known_tenants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.common import open_db
    from bot.cli.main import main
    from bot.registry.store import RegistryStore

    config = tmp_path / "config.toml"
    config.write_text(TENANTS + f'[storage]\nurl = "sqlite:///{tmp_path}/h.db"\n', "utf-8")
    c = str(config)
    assert main(["-c", c, "hospital", "add", "h001", "一院", "--wecom-group", "h001/wrkG2"]) == 0
    # a group of a tenant that is not configured, or not written <tenant>/<id>: nothing is written
    assert main(["-c", c, "hospital", "add", "h002", "二院", "--wecom-group", "h002/wrkG"]) != 0
    assert "no [[wecom.tenants]] named 'h002'" in capsys.readouterr().err
    assert main(["-c", c, "hospital", "add", "h003", "三院", "--wecom-group", "wrkG"]) != 0
    assert "<tenant>/<id>" in capsys.readouterr().err
    assert main(["-c", c, "engineer", "add", "e01", "王工", "--wecom-user", "vendor/wang"]) == 0
    assert main(["-c", c, "engineer", "add", "e02", "李工", "--wecom-user", "h9/li"]) != 0
    registry = RegistryStore(open_db(load_settings(config)))
    hospital = registry.hospital_for_chat("wecom", "h001/wrkG2")
    assert hospital is not None and hospital.id == "h001"
    assert [h.id for h in registry.list_hospitals()] == ["h001"]
    assert [e.id for e in registry.list_engineers()] == ["e01"]
    main(["-c", c, "engineer", "list"])
    assert "wecom:vendor/wang" in capsys.readouterr().out
