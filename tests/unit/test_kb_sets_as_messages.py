"""scripts/kb_sets_as_messages.py: the KB query sets as one message corpus, and its two halves —
the scope head learns from group a and is guarded by group b, so they must never overlap."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kb_sets_as_messages", ROOT / "scripts" / "kb_sets_as_messages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_groups_split_the_kbs_and_only_b_carries_the_other_sets() -> None:
    kb_sets = script()
    every = kb_sets.query_files(kb_sets.RESERVED)
    a = kb_sets.query_files(kb_sets.RESERVED, "a")
    b = kb_sets.query_files(kb_sets.RESERVED, "b")
    assert a and b and not set(a) & set(b)
    assert sorted(a + b) == sorted(every)
    kbs = [p for p in every if p.parent.parent.name == "kbs"]
    assert a == kbs[0::2]  # every other KB in sorted order, from the first
    assert all(p.parent.parent.name == "kbs" for p in a)  # never heldout-lay or the shared set
    assert not {p.parent.name for p in every} & set(kb_sets.RESERVED)
