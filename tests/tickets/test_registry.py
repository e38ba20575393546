"""The registry: chats → hospitals, platform accounts → engineers, and config.toml's sync."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.registry import (
    EngineerSpec,
    HospitalModule,
    HospitalSpec,
    RegistryConflict,
    RegistryNotFound,
    RegistryStore,
    specs_from_toml,
)

from .conftest import FakeClock

CONFIG = """
[[hospitals]]
id = "h001"
name = "市第一人民医院"
region = "华东"
his_version = "5.2.1"
modules = ["门诊", "住院", "LIS"]
dedicated_engineer = "e01"
telegram_chats = [-1001001]
slack_channels = ["C123"]

[[hospitals]]
id = "h003"
name = "妇幼保健院"

[[engineers]]
id = "e01"
name = "张工"
roles = ["engineer", "lead"]
telegram_user = 5001
slack_user = "U123"
"""


def test_chat_maps_to_its_hospital(registry: RegistryStore, engine: Engine) -> None:
    h = registry.hospital_for_chat("telegram", -1001001)
    assert h is not None and (h.id, h.name, h.region, h.his_version) == (
        "h001",
        "市第一人民医院",
        "华东",
        "5.2",
    )
    assert registry.hospital_for_chat("telegram", "-1001001") is not None  # ids are strings
    h2 = registry.hospital_for_chat("slack", "C123")
    assert h2 is not None and h2.id == "h002"
    assert registry.hospital_for_chat("slack", "-1001001") is None  # per platform
    assert registry.hospital_for_chat("telegram", -1009999) is None
    assert modules_of(engine, "h001") == ["门诊", "住院"]


def test_add_chat_never_silently_moves_a_chat(registry: RegistryStore) -> None:
    with pytest.raises(RegistryConflict, match="belongs to hospital h001"):
        registry.add_chat("telegram", -1001001, "h002")
    with pytest.raises(RegistryNotFound):
        registry.add_chat("telegram", -1005005, "h404")
    with pytest.raises(ValueError, match="unknown platform"):
        registry.add_chat("Telegram", -1005005, "h001")
    again = registry.add_chat("telegram", -1001001, "h001")  # same hospital: fine
    assert again.hospital_id == "h001" and again.title == "一院信息科"
    assert [c.chat_id for c in registry.chats_of_hospital("h001")] == ["-1001001"]


def test_telegram_migration_keeps_the_hospital(registry: RegistryStore, clock: FakeClock) -> None:
    t_move = clock.advance(days=3)
    new = registry.move_chat("telegram", -1001001, -1002001001)
    assert (new.chat_id, new.hospital_id, new.title, new.active, new.migrated_from) == (
        "-1002001001",
        "h001",
        "一院信息科",
        True,
        "-1001001",
    )
    h = registry.hospital_for_chat("telegram", -1002001001)
    assert h is not None and h.id == "h001"
    assert registry.hospital_for_chat("telegram", -1001001) is None
    old = registry.get_chat("telegram", -1001001)
    assert old is not None
    assert (old.active, old.deactivated_at, old.deactivated_reason) == (
        False,
        t_move,
        "migrated to -1002001001",
    )
    # Telegram announces the migration in both chats: the second call changes nothing
    assert registry.move_chat("telegram", -1001001, -1002001001).id == new.id
    assert [c.chat_id for c in registry.chats_of_hospital("h001")] == ["-1002001001"]
    assert len(registry.chats_of_hospital("h001", active_only=False)) == 2
    with pytest.raises(RegistryNotFound):
        registry.move_chat("telegram", -1007007, -1008008)


def test_move_chat_onto_another_hospitals_chat_is_refused(registry: RegistryStore) -> None:
    registry.add_chat("telegram", -1003003, "h002")
    with pytest.raises(RegistryConflict, match="h002"):
        registry.move_chat("telegram", -1001001, -1003003)
    h = registry.hospital_for_chat("telegram", -1001001)
    assert h is not None and h.id == "h001"


def test_deactivate_and_reactivate_chat(registry: RegistryStore, clock: FakeClock) -> None:
    t = clock.advance(hours=1)
    row = registry.deactivate_chat("slack", "C123", "bot removed from channel")
    assert row is not None and (row.active, row.deactivated_at, row.deactivated_reason) == (
        False,
        t,
        "bot removed from channel",
    )
    assert registry.hospital_for_chat("slack", "C123") is None
    assert registry.chats_of_hospital("h002") == []
    assert registry.deactivate_chat("slack", "CNOPE", "removed") is None
    # the bot is added back
    again = registry.add_chat("slack", "C123", "h002")
    assert again.active and again.deactivated_reason is None
    h = registry.hospital_for_chat("slack", "C123")
    assert h is not None and h.id == "h002"


def test_one_engineer_on_two_platforms(registry: RegistryStore) -> None:
    registry.add_identity("telegram", 5001, "e01")
    registry.add_identity("slack", "U123", "e01")
    registry.add_identity("telegram", 5001, "e01")  # idempotent
    a = registry.engineer_for_user("telegram", "5001")
    b = registry.engineer_for_user("slack", "U123")
    assert a is not None and b is not None and a.id == b.id == "e01"
    assert registry.engineer_for_user("slack", "5001") is None
    assert [(i.platform, i.platform_user_id) for i in registry.identities_of("e01")] == [
        ("slack", "U123"),
        ("telegram", "5001"),
    ]
    with pytest.raises(RegistryConflict, match="e01"):
        registry.add_identity("telegram", 5001, "e02")
    with pytest.raises(RegistryNotFound):
        registry.add_identity("telegram", 5002, "e404")
    assert [e.id for e in registry.list_engineers()] == ["e01", "e02", "e05", "e09"]
    assert registry.roles_of("e09") == {"engineer", "lead"}


def test_add_rejects_taken_ids_and_bad_values(registry: RegistryStore) -> None:
    with pytest.raises(RegistryConflict):
        registry.add_hospital("h001", "重复")
    with pytest.raises(RegistryConflict):
        registry.add_engineer("e01", "重复")
    with pytest.raises(ValueError, match="roles"):
        registry.add_engineer("e10", "新人", ["admin"])
    with pytest.raises(RegistryNotFound, match="e404"):
        registry.add_hospital("h010", "新医院", dedicated_engineer_id="e404")
    assert [h.id for h in registry.list_hospitals()] == ["h001", "h002"]


def test_database_enforces_one_mapping_per_chat(registry: RegistryStore, engine: Engine) -> None:
    from sqlmodel import Session

    from bot.registry import HospitalChat

    with Session(engine) as s, pytest.raises(IntegrityError):
        s.add(
            HospitalChat(
                platform="telegram",
                chat_id="-1001001",
                hospital_id="h002",
                created_at=registry.get_hospital("h001").created_at,  # type: ignore[union-attr]
            )
        )
        s.commit()


def test_specs_from_toml() -> None:
    hospitals, engineers = specs_from_toml(tomllib.loads(CONFIG))
    h = hospitals[0]
    assert h == HospitalSpec(
        id="h001",
        name="市第一人民医院",
        region="华东",
        his_version="5.2.1",
        modules=("门诊", "住院", "LIS"),
        dedicated_engineer="e01",
        telegram_chats=(-1001001,),
        slack_channels=("C123",),
    )
    assert h.chats() == [("telegram", "-1001001"), ("slack", "C123")]
    assert hospitals[1].modules == () and hospitals[1].dedicated_engineer is None
    assert engineers[0].identities() == [("telegram", "5001"), ("slack", "U123")]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[hospitals]]\nid = "h1"\nname = "x"\nmodule = ["门诊"]', "unknown key"),
        ('[[hospitals]]\nid = "h1"', "name"),
        ('[[hospitals]]\nid = "h 1"\nname = "x"', "hospital id"),
        ('[[hospitals]]\nid = "h1"\nname = "x"\ntelegram_chats = ["group"]', "Telegram id"),
        ('[[engineers]]\nid = "e1"\nname = "x"\nroles = ["admin"]', "unknown role"),
        ('[[engineers]]\nid = "e1"\nname = "x"\nroles = []', "roles"),
        (
            '[[engineers]]\nid = "e1"\nname = "x"\ntelegram_user = 5\n'
            '[[engineers]]\nid = "e2"\nname = "y"\ntelegram_user = 5',
            "telegram user 5 is listed twice",
        ),
        (
            '[[hospitals]]\nid = "h1"\nname = "x"\n[[hospitals]]\nid = "h1"\nname = "y"',
            "listed twice",
        ),
    ],
)
def test_specs_from_toml_rejects_mistakes(toml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        specs_from_toml(tomllib.loads(toml))


def test_sync_from_config_rule(registry: RegistryStore, engine: Engine, clock: FakeClock) -> None:
    # The CLI registered e02's Telegram account as 5001 and added an extra chat to h001.
    registry.add_identity("telegram", 5001, "e02")
    registry.add_chat("telegram", -1004004, "h001", "一院检验科")
    hospitals, engineers = specs_from_toml(tomllib.loads(CONFIG))

    report = registry.sync_from_config(hospitals, engineers)

    # config wins for the entries it lists
    e01 = registry.get_engineer("e01")
    assert e01 is not None and e01.name == "张工"
    assert registry.roles_of("e01") == {"engineer", "lead"}
    e = registry.engineer_for_user("telegram", 5001)
    assert e is not None and e.id == "e01"  # re-mapped from e02
    h = registry.get_hospital("h001")
    assert h is not None and (h.his_version, h.dedicated_engineer_id) == ("5.2.1", "e01")
    assert modules_of(engine, "h001") == ["门诊", "住院", "LIS"]
    slack = registry.hospital_for_chat("slack", "C123")
    assert slack is not None and slack.id == "h001"  # config moved C123 from h002
    # entries the CLI added that config does not list are kept
    assert {x.id for x in registry.list_hospitals()} == {"h001", "h002", "h003"}
    assert {x.id for x in registry.list_engineers()} == {"e01", "e02", "e05", "e09"}
    kept = registry.hospital_for_chat("telegram", -1004004)
    assert kept is not None and kept.id == "h001"
    assert report.hospitals_added == ["h003"]
    assert report.hospitals_updated == ["h001"]
    assert report.engineers_updated == ["e01"]
    assert report.engineers_added == []

    # a second sync with the same config changes nothing
    again = registry.sync_from_config(hospitals, engineers)
    assert (again.hospitals_added, again.hospitals_updated) == ([], [])
    assert (again.engineers_added, again.engineers_updated) == ([], [])

    # a CLI edit to a listed entry is overwritten at the next start
    registry.add_identity("slack", "U999", "e01")  # an extra account: kept (nothing deleted)
    clock.advance(days=1)
    edited = (
        dataclasses.replace(hospitals[0], his_version="5.3.0", modules=("门诊",)),
        hospitals[1],
    )
    report = registry.sync_from_config(edited, engineers)
    assert report.hospitals_updated == ["h001"]
    h = registry.get_hospital("h001")
    assert h is not None and h.his_version == "5.3.0" and h.updated_at == clock.now
    assert modules_of(engine, "h001") == ["门诊"]
    assert {(i.platform, i.platform_user_id) for i in registry.identities_of("e01")} == {
        ("telegram", "5001"),
        ("slack", "U123"),
        ("slack", "U999"),
    }


def test_sync_does_not_reactivate_a_migrated_chat_and_says_so(registry: RegistryStore) -> None:
    registry.move_chat("telegram", -1001001, -1002001001)
    hospitals, engineers = specs_from_toml(tomllib.loads(CONFIG))
    report = registry.sync_from_config(hospitals, engineers)
    assert registry.hospital_for_chat("telegram", -1001001) is None
    h = registry.hospital_for_chat("telegram", -1002001001)
    assert h is not None and h.id == "h001"
    assert any("-1001001" in w and "migrated to -1002001001" in w for w in report.warnings)


def test_sync_is_all_or_nothing(registry: RegistryStore) -> None:
    bad = [
        HospitalSpec(id="h005", name="新医院"),
        HospitalSpec(id="h006", name="另一家", dedicated_engineer="e404"),
    ]
    with pytest.raises(RegistryNotFound, match="e404"):
        registry.sync_from_config(bad, [EngineerSpec(id="e20", name="新工程师")])
    assert registry.get_hospital("h005") is None
    assert registry.get_engineer("e20") is None


def test_sync_into_an_empty_database(engine: Engine, clock: FakeClock) -> None:
    reg = RegistryStore(engine, clock)
    hospitals, engineers = specs_from_toml(tomllib.loads(CONFIG))
    report = reg.sync_from_config(hospitals, engineers)
    assert report.hospitals_added == ["h001", "h003"] and report.engineers_added == ["e01"]
    h = reg.hospital_for_chat("telegram", -1001001)
    assert h is not None and h.id == "h001"
    e = reg.engineer_for_user("slack", "U123")
    assert e is not None and e.id == "e01"


def modules_of(engine: Engine, hospital_id: str) -> list[str]:
    """The hospital's modules in their configured order (read directly: no caller needs it)."""
    with Session(engine) as s:
        stmt = (
            select(HospitalModule.module)
            .where(HospitalModule.hospital_id == hospital_id)
            .order_by(col(HospitalModule.position))
        )
        return list(s.exec(stmt).all())
