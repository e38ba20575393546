"""The house rules, checked on the source: imports run one way only.

bot → intents → kb_index,  bot → adapters;  adapters import none of bot/intents/kb_index;
the core (bot, intents, kb_index) imports no platform library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_LIBS = ("telegram", "slack_bolt", "slack_sdk")


def imports_of(package: str) -> dict[str, set[str]]:
    """Top-level modules imported by each file of a package (module-level and local imports)."""
    out: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations/versions" in path.as_posix():
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        out[str(path.relative_to(ROOT))] = names
    return out


def offenders(package: str, forbidden: tuple[str, ...], allow: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for file, names in imports_of(package).items():
        if file.startswith(allow):
            continue
        for name in names:
            if name.split(".")[0] in forbidden:
                bad.append(f"{file} imports {name}")
    return sorted(bad)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("adapters", ("bot", "intents", "kb_index")),
        ("kb_index", ("bot", "intents", "adapters")),
        ("intents", ("bot", "adapters")),
    ],
)
def test_imports_run_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(package, forbidden) == []


@pytest.mark.parametrize("package", ["bot", "intents", "kb_index"])
def test_the_core_imports_no_platform_library(package: str) -> None:
    # the composition root may name a concrete adapter class, nothing else in the core may
    assert offenders(package, PLATFORM_LIBS) == []
    allowed = ("bot/app.py", "bot/infra/config.py")
    adapter_users = [
        f"{file} imports {name}"
        for file, names in imports_of(package).items()
        if not file.startswith(allowed)
        for name in names
        if name.startswith("adapters.") and name != "adapters.base"
    ]
    assert adapter_users == []


def test_the_pipeline_and_the_desk_never_see_the_services_bag() -> None:
    """The conversation and the desk get their collaborators by name from the composition
    root (``bot/wiring.py``), never the whole ``Services``."""
    users = []
    for package in ("bot/conversation", "bot/desk"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "bot.tickets.services"
                    and any(alias.name == "Services" for alias in node.names)
                ):
                    users.append(str(path.relative_to(ROOT)))
    assert users == []
