"""Every change of a ticket goes through the ticket flow (``bot/tickets/flow.py``).

The ticket store's writing methods are called only by the flow, its relays
(``bot/tickets/relaying.py``), its joins (``bot/tickets/joins.py``) and the transactions it runs (``bot/tickets/opening.py``), so every surface (chat, desk, console, workflows, the SLA
watch) gets the same rules, audit events and effects. Checked on the source: a call
``<something>.<writer>(...)`` is a store write when the writer's name is the store's alone,
or when the receiver is the ticket store (an expression ending in ``tickets``).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from bot.tickets.store import TicketStore

ROOT = Path(__file__).resolve().parents[2]
#: The flow, its relays, the transactions it runs on the writer (the console's too), and the
#: store itself.
OWNERS = (
    "bot/tickets/flow.py",
    "bot/tickets/relaying.py",
    "bot/tickets/joins.py",
    "bot/tickets/opening.py",
    "bot/tickets/console_actions.py",
    "bot/tickets/store.py",
)
#: Names other objects use too (an outbox's claim, an upgrade's start, a file's close): a
#: store write only when called on the ticket store.
SHARED_NAMES = {"claim", "assign", "start", "resolve", "close", "reopen"}
#: Where a ticket's card is, recorded by the desk cards when the card outbox posted it: the
#: card's bookkeeping, not a change of the ticket anyone must hear about.
CARD_RECORD = ("mark_card_posted", "bot/desk/posting.py")


def store_writers() -> set[str]:
    """The store's public methods that write: they open a write session, or call a method
    of the store that does."""
    sources = {
        name: inspect.getsource(fn)
        for name, fn in inspect.getmembers(TicketStore, inspect.isfunction)
    }
    writing = {name for name, source in sources.items() if "write_session(" in source}
    while grown := {
        name
        for name, source in sources.items()
        if name not in writing and any(f"self.{w}(" in source for w in writing)
    }:
        writing |= grown
    return {name for name in writing if not name.startswith("_")}


def writes_in(path: Path, writers: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name not in writers:
            continue
        receiver = ast.unparse(node.func.value)
        if name in SHARED_NAMES and not receiver.split(".")[-1].lstrip("_").endswith("tickets"):
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {receiver}.{name}")
    return found


def test_the_store_writers_are_the_ones_this_check_knows() -> None:
    writers = store_writers()
    assert {"open_ticket", "claim", "resolve", "add_note", "set_category", "close"} <= writers
    unique = writers - SHARED_NAMES - {CARD_RECORD[0]}
    assert unique == {
        "open_ticket",
        "add_note",
        "append_message",
        "set_message_ref",
        "set_category",
        "set_urgency",
    }, "a new writer: make sure its name is either the store's alone or in SHARED_NAMES"


def test_the_check_finds_the_flows_own_writes() -> None:
    """Not vacuous: the flow's claim, resolve and note, and its relays' recorded messages,
    are found."""
    found = "\n".join(writes_in(ROOT / "bot/tickets/flow.py", store_writers()))
    for call in ("self.tickets.claim", "self.tickets.resolve", "tickets.add_note"):
        assert call in found
    relayed = "\n".join(writes_in(ROOT / "bot/tickets/relaying.py", store_writers()))
    for call in ("self.tickets.append_message", "self.tickets.set_message_ref"):
        assert call in relayed


def test_only_the_ticket_flow_writes_tickets() -> None:
    writers = store_writers()
    offenders = []
    for package in ("bot", "adapters"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in OWNERS:
                continue
            allowed = writers - {CARD_RECORD[0]} if relative == CARD_RECORD[1] else writers
            offenders += writes_in(path, allowed)
    assert offenders == []
