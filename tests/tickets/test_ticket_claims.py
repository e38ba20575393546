"""Concurrent claims: exactly one engineer gets the ticket, the others are told who did."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.registry import RegistryStore
from bot.tickets import AlreadyClaimed, Ticket, TicketStore

N_THREADS = 8


@dataclass
class Race:
    won: list[str] = field(default_factory=list)
    lost: list[AlreadyClaimed] = field(default_factory=list)
    other: list[BaseException] = field(default_factory=list)


def race(store: TicketStore, number: str, engineers: list[str]) -> Race:
    """Every engineer claims ``number`` at the same moment, each on its own thread."""
    result = Race()
    barrier = threading.Barrier(len(engineers))
    lock = threading.Lock()

    def claim(engineer_id: str) -> None:
        barrier.wait()
        try:
            t = store.claim(number, engineer_id)
            with lock:
                result.won.append(t.accepted_by or "")
        except AlreadyClaimed as exc:
            with lock:
                result.lost.append(exc)
        except BaseException as exc:
            with lock:
                result.other.append(exc)

    threads = [threading.Thread(target=claim, args=(e,)) for e in engineers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return result


def test_concurrent_claims_have_exactly_one_winner(
    store: TicketStore, registry: RegistryStore, open_ticket: Callable[..., Ticket]
) -> None:
    engineers = [f"c{i:02d}" for i in range(N_THREADS)]
    for e in engineers:
        registry.add_engineer(e, f"工程师{e}", ["engineer"])
    for round_ in range(3):  # several tickets: a lucky interleaving must not hide a race
        number = open_ticket().number
        result = race(store, number, engineers)
        assert not result.other, result.other
        assert len(result.won) == 1, (round_, result.won)
        winner = result.won[0]
        assert len(result.lost) == N_THREADS - 1
        assert {exc.engineer_id for exc in result.lost} == {winner}
        assert all(f"工程师{winner}" in str(exc) for exc in result.lost)
        got = store.get(number)
        assert (got.status, got.accepted_by) == ("accepted", winner)
        accepted = [e for e in store.events(number) if e.kind == "accepted"]
        assert [e.actor_id for e in accepted] == [winner]
