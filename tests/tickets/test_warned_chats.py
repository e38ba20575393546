"""An unregistered chat is told once for all workers and restarts: of workers seeing its
messages at the same moment, exactly one wins the right to warn it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from bot.cluster.warned_chats import WarnedChats
from tests.tickets.conftest import FakeClock


def test_one_warning_per_chat_across_workers(
    make_db: Callable[..., Engine], clock: FakeClock
) -> None:
    workers = [WarnedChats(make_db(), clock)] + [
        WarnedChats(make_db(create=False), clock) for _ in range(3)
    ]
    start = threading.Barrier(len(workers))

    def see(chat: WarnedChats) -> bool:
        start.wait()
        return chat.first_warning("telegram", "-100777")

    with ThreadPoolExecutor(len(workers)) as pool:
        won = list(pool.map(see, workers))
    assert won.count(True) == 1
    assert not workers[0].first_warning("telegram", "-100777")  # after a restart too
    assert workers[1].first_warning("slack", "-100777")  # another platform's chat is another
