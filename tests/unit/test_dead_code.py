"""No public function, class or method in bot/, adapters/, intents/ or kb_index/ that nothing
outside tests/ uses (``scripts/dead_code.py``: the name scan, with its allow-list)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dead_code.py"


def load_scanner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dead_code", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_no_public_code_is_used_by_tests_only() -> None:
    dead = load_scanner().name_scan()
    assert not dead, (
        "used by nothing outside tests/: remove it, move a test-only look-up into tests/ "
        "(tests/lookups.py), or add it with its reason to ALLOWED in scripts/dead_code.py:\n"
        + "\n".join(map(str, dead))
    )


def test_every_allowed_entry_still_exists() -> None:
    scanner = load_scanner()
    defined = {d.key for d in scanner.definitions()}
    assert set(scanner.ALLOWED) <= defined, set(scanner.ALLOWED) - defined


def test_the_scan_finds_what_only_tests_use_and_keeps_what_is_registered(
    tmp_path: Path,
) -> None:
    scanner = load_scanner()
    package = tmp_path / "bot"
    package.mkdir()
    (package / "store.py").write_text(
        "class Store:\n"
        "    def used(self) -> int: ...\n"
        "    def only_tests(self) -> int: ...\n"
        "    def by_name(self) -> int: ...\n"
        "@router.get('/x')\n"
        "def route() -> None: ...\n"
        "def exported() -> None: ...\n"
        "__all__ = ['exported']\n"
        "def run() -> None:\n"
        "    Store().used()\n"
        "    getattr(Store(), 'by_name')()\n",
        encoding="utf-8",
    )
    (tmp_path / "pyproject.toml").write_text('[project.scripts]\nx = "bot.store:run"\n')
    for folder in ("adapters", "intents", "kb_index", "benchmarks", "scripts"):
        (tmp_path / folder).mkdir()
    scanner.ROOT, scanner.TEMPLATES = tmp_path, tmp_path / "templates"
    assert sorted(d.key for d in scanner.name_scan()) == [
        "bot/store.py:Store.only_tests",
        "bot/store.py:exported",
    ]
