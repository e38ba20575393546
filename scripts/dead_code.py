"""Public code that nothing outside tests/ uses: functions, classes and methods in bot/,
adapters/, intents/ and kb_index/ (Alembic migrations excepted).

    python scripts/dead_code.py           # the name scan (1 s; tests/unit/test_dead_code.py)
    python scripts/dead_code.py --typed   # also the type-aware scan (mypy, ~30 s)

The name scan counts a definition as used when its name appears anywhere outside tests/ (in
bot/, adapters/, intents/, kb_index/, benchmarks/, scripts/): as a name, an attribute, a string
that is an identifier (``getattr``, registrations), a word of a console template, or of
pyproject.toml (entry points) — strings in ``__all__`` do not count. It never reports used code,
but a method whose name some other class also uses (``get``, ``count``) passes unseen.

The typed scan resolves each ``x.name`` through mypy's inferred types, so a store's ``count``
used only by tests is found even though ``itertools.count`` is used everywhere. A method counts
as used when it is reached on its class, a base or a subclass, on a Protocol declaring the name,
or on a receiver whose type mypy does not know. It reports candidates to read, not verdicts.

Code that tests need from outside (a test's synchronisation point, a library's hook) is kept
with its reason in ``ALLOWED``; a look-up only tests make belongs in tests/ instead.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "adapters", "intents", "kb_index")
USERS = (*PACKAGES, "benchmarks", "scripts")
SKIPPED = ("bot/migrations/versions/",)
TEMPLATES = ROOT / "bot" / "web" / "templates"
#: Decorators that do not register a function anywhere (a registering one — a route, a
#: command, an exception handler — is a use).
PLAIN_DECORATORS = frozenset(
    {"property", "staticmethod", "classmethod", "cached_property", "abstractmethod", "override"}
)

#: Public code used only by tests or from outside Python, and why it stays.
ALLOWED: dict[str, str] = {
    "adapters/slack/web_api.py:RetryAfter.prepare_for_next_attempt_async": (
        "slack_sdk's RetryHandler hook"
    ),
    "adapters/telegram/limiter.py:ChatRateLimiter.process_request": (
        "python-telegram-bot's BaseRateLimiter hook"
    ),
    "bot/infra/clock.py:UtcDateTime.process_bind_param": "SQLAlchemy TypeDecorator hook",
    "bot/infra/clock.py:UtcDateTime.process_result_value": "SQLAlchemy TypeDecorator hook",
    "adapters/web/wakeups.py:Wakeups.watching": (
        "tests observe that the watch task runs only while polls wait"
    ),
    "adapters/wecom/client.py:TenantConnection.wait_connected": (
        "tests wait for the WebSocket before the fake server pushes"
    ),
    "bot/routing/actions.py:worst_case": (
        "an action's declared bound: tests check every encoding stays within it"
    ),
    "adapters/dingtalk/stream.py:_Callbacks.process": "dingtalk_stream's CallbackHandler hook",
    "bot/inbox/dispatcher.py:Inbox.drained": (
        "tests wait until every queued event was handled before they look"
    ),
    "adapters/wecom/adapter.py:WeComAdapter.connections": (
        "tests check which tenants' connections are up"
    ),
    "adapters/wecom/adapter.py:WeComAdapter.failed": "tests check why a tenant did not start",
    "adapters/dingtalk/adapter.py:DingTalkAdapter.stream": (
        "tests reach a tenant's stream to break it or see it stopped"
    ),
    "bot/redact/__init__.py:find_pii": (
        "the spans redact() masks, which the redaction tests assert one by one"
    ),
}


@dataclass(frozen=True)
class Definition:
    path: str
    line: int
    owner: str  # the class of a method; "" for a module-level function or class
    name: str

    @property
    def key(self) -> str:
        return f"{self.path}:{self.owner + '.' if self.owner else ''}{self.name}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.owner + '.' if self.owner else ''}{self.name}"


def _sources(folders: tuple[str, ...]) -> Iterator[tuple[str, ast.Module]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(SKIPPED):
                yield rel, _parsed(path)


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _registered(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name not in PLAIN_DECORATORS and not name.endswith("setter"):
            return True
    return False


def definitions() -> list[Definition]:
    """The public functions, classes and methods of the packages (registered ones aside)."""
    found = []
    for rel, tree in _sources(PACKAGES):
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if not node.name.startswith("_") and not _registered(node):
                found.append(Definition(rel, node.lineno, "", node.name))
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (
                        isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                        and not item.name.startswith("_")
                        and not _registered(item)
                    ):
                        found.append(Definition(rel, item.lineno, node.name, item.name))
    return found


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", text))


def _mentions(tree: ast.Module) -> tuple[set[str], set[str]]:
    """A module's names and attributes, and the identifier strings outside ``__all__``."""
    exported = {
        id(element)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        for element in ast.walk(node.value)
    }
    names: set[str] = set()
    strings: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.isidentifier()
            and id(node) not in exported
        ):
            strings.add(node.value)
    return names, strings


def loose_names() -> set[str]:
    """Names used where no type says on what: identifier strings (``getattr``,
    registrations), console templates, pyproject.toml (entry points), and everything
    benchmarks/ and scripts/ mention."""
    found: set[str] = set()
    for folder in USERS:
        for _, tree in _sources((folder,)):
            names, strings = _mentions(tree)
            found |= strings | (names if folder not in PACKAGES else set())
    for template in TEMPLATES.rglob("*.html"):
        found |= _words(template.read_text(encoding="utf-8"))
    return found | _words((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def used_names() -> set[str]:
    """Every name the code outside tests/ mentions (see the module docstring)."""
    names = loose_names()
    for _, tree in _sources(PACKAGES):
        names |= _mentions(tree)[0]
    return names


def protocol_methods() -> set[str]:
    """The method names our ``Protocol`` classes declare."""
    found: set[str] = set()
    for _, tree in _sources(PACKAGES):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", "")) == "Protocol" for base in node.bases
            ):
                found |= {
                    item.name
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                }
    return found


def name_scan() -> list[Definition]:
    """Definitions whose name nothing outside tests/ mentions, less ``ALLOWED``."""
    used = used_names()
    return [d for d in definitions() if d.name not in used and d.key not in ALLOWED]


def typed_scan() -> list[Definition]:  # pragma: no cover - an audit tool, run by hand
    """Methods no typed member access outside tests/ reaches (see the module docstring)."""
    from mypy import build
    from mypy.main import process_options
    from mypy.nodes import MemberExpr, MypyFile, RefExpr, TypeInfo
    from mypy.types import (
        CallableType,
        Instance,
        TupleType,
        Type,
        TypeType,
        TypeVarType,
        UnionType,
        get_proper_type,
    )

    files = [
        str(ROOT / rel) for folder in PACKAGES for rel, _ in _sources((folder,))
    ]  # the packages only: benchmarks/ and scripts/ count through the name scan
    sources, options = process_options([*files, "--follow-imports=skip"], require_targets=True)
    options.export_types, options.preserve_asts, options.incremental = True, True, False
    result = build.build(sources, options)

    def classes(of: Type) -> list[TypeInfo] | None:
        t = get_proper_type(of)
        if isinstance(t, Instance):
            return [t.type]
        if isinstance(t, TypeType):
            return classes(t.item)
        if isinstance(t, CallableType) and t.is_type_obj():
            return [t.type_object()]
        if isinstance(t, TupleType):
            return classes(t.partial_fallback)
        if isinstance(t, TypeVarType):
            return classes(t.upper_bound)
        if isinstance(t, UnionType):
            parts = [c for item in t.items for c in (classes(item) or [])]
            return parts or None
        return None

    generic = {"builtins.object", "typing.Protocol", "typing.Generic", "abc.ABC"}
    reached: set[tuple[str, str]] = set()
    # names reached where no type says on what, and every Protocol method's name (a receiver
    # narrowed by ``isinstance`` on a Protocol implements it without naming it)
    untyped = loose_names() | protocol_methods()
    for expr, _ in result.types.items():
        if not isinstance(expr, MemberExpr):  # only ours: imports are skipped, not checked
            continue
        if isinstance(expr.expr, RefExpr) and isinstance(expr.expr.node, MypyFile):
            continue  # a module's function (``itertools.count``), not a method
        receiver = result.types.get(expr.expr)
        found = classes(receiver) if receiver is not None else None
        if not found:
            untyped.add(expr.name)
            continue
        for info in found:
            reached |= {(b.fullname, expr.name) for b in info.mro if b.fullname not in generic}
            if any(b.is_protocol for b in info.mro):  # implemented without naming the Protocol
                untyped.add(expr.name)
    dead = []
    for d in definitions():
        if not d.owner or d.key in ALLOWED or d.name in untyped:
            continue
        module = result.graph.get(_module_of(d.path))
        symbol = module.tree.names.get(d.owner) if module and module.tree else None
        owner = symbol.node if symbol else None
        mro = [b.fullname for b in owner.mro] if isinstance(owner, TypeInfo) else []
        if not any((base, d.name) in reached for base in mro):
            dead.append(d)
    return dead


def _module_of(path: str) -> str:
    module = path.removesuffix(".py").replace("/", ".")
    return module.removesuffix(".__init__")


def main(argv: list[str]) -> int:
    found = name_scan()
    if "--typed" in argv:
        found += [d for d in typed_scan() if d not in found]
    for definition in found:
        print(definition)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
