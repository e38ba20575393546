"""``[duty]`` and ``[sla]`` settings: mistakes are errors naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.infra.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[duty]\nday_start = "8点"', "day_start must be HH:MM"),
        ('[duty]\nday_start = "18:00"\nday_end = "09:00"', "day_start must be before day_end"),
        ('[duty]\ntimezone = "Mars/Olympus"', "unknown time zone"),
        ("[sla]\nwarn_fraction = 1.5", "[sla] warn_fraction must be above 0 and below 1, not 1.5"),
        ('[sla]\nwebhook_url = "ftp://pager"', "webhook_url must be an http(s) URL"),
        ('[sla]\nworking_time = ["P5"]', "unknown urgency 'P5'"),
        ("[sla]\nrepeat_minutes = 0", "[sla] repeat_minutes must be above 0, not 0"),
    ],
)
def test_bad_duty_and_sla_settings_are_refused(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(path)


def test_the_shipped_config_holds_the_defaults() -> None:
    settings = load_settings(Path(__file__).resolve().parents[2] / "config.toml")
    assert (settings.duty.day_start, settings.duty.day_end) == ("08:30", "17:30")
    assert settings.sla.enabled and settings.sla.working_time == ("P3", "P4")
