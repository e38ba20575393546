"""The house rules, checked on the source: imports run one way only.

bot → intents → kb_index,  bot → adapters;  adapters import none of bot/intents/kb_index;
the core (bot, intents, kb_index) imports no platform library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_LIBS = ("telegram", "slack_bolt", "slack_sdk", "dingtalk_stream")


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
    # the composition root may name a concrete adapter class, nothing else in the core may;
    # the contracts (adapters.base, and the web chats' board port) name no platform library
    assert offenders(package, PLATFORM_LIBS) == []
    contracts = ("adapters.base", "adapters.chat_board")
    allowed = ("bot/app.py", "bot/wiring/", "bot/infra/config.py")
    adapter_users = [
        f"{file} imports {name}"
        for file, names in imports_of(package).items()
        if not file.startswith(allowed)
        for name in names
        if name.startswith("adapters.") and name not in contracts
    ]
    assert adapter_users == []


#: Who may import ``Services``: the composition root (``app.py`` and its builders), the bag
#: itself, and the console (``bot/web``: its ``Console`` holds the bag).
SERVICES_ALLOWED = ("bot/app.py", "bot/wiring/", "bot/tickets/services.py", "bot/web/")


def services_importers(root: Path = ROOT, package: str = "bot") -> list[str]:
    """Files of ``package`` (under ``root``) that import ``Services`` (``from bot.tickets.services import
    Services``, relative or absolute) or its module (``from bot.tickets import services``,
    ``import bot.tickets.services``)."""
    users = []
    for path in (root / package).rglob("*.py"):
        if "migrations/versions" in path.as_posix():
            continue
        file = path.relative_to(root)
        here = file.with_suffix("").parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = any(a.name == "bot.tickets.services" for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level] if node.level else ()
                module = ".".join((*base, *(node.module or "").split("."))).strip(".")
                names = {alias.name for alias in node.names}
                found = (module == "bot.tickets.services" and "Services" in names) or (
                    module == "bot.tickets" and "services" in names
                )
            else:
                continue
            if found:
                users.append(file.as_posix())
    return sorted(set(users))


def test_only_the_composition_root_and_the_console_see_the_services_bag() -> None:
    """Features get their collaborators by name from the composition root
    (``bot/wiring/``), never the whole ``Services``."""
    assert [f for f in services_importers() if not f.startswith(SERVICES_ALLOWED)] == []


def test_the_services_check_sees_every_way_of_importing_it(tmp_path: Path) -> None:
    """The check above finds what it looks for (it would pass vacuously otherwise)."""
    sources = {
        "absolute.py": "from bot.tickets.services import BotSettings, Services\n",
        "relative.py": "from ..tickets.services import Services\n",
        "module.py": "from bot.tickets import services\n",
        "dotted.py": "import bot.tickets.services\n",
        "typing_only.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from bot.tickets.services import Services\n"
        ),
        "settings_only.py": "from bot.tickets.services import BotSettings, DeskPort\n",
        "other.py": "from bot.tickets.store import TicketStore\n",
    }
    feature = tmp_path / "bot" / "feature"
    feature.mkdir(parents=True)
    for name, source in sources.items():
        (feature / name).write_text(source, encoding="utf-8")
    found = services_importers(tmp_path)
    expected = ["absolute", "dotted", "module", "relative", "typing_only"]
    assert found == [f"bot/feature/{name}.py" for name in expected]
    # and on the real tree it sees the composition root
    assert {"bot/app.py", "bot/wiring/conversation.py"} <= set(services_importers())
