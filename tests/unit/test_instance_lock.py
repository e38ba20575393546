"""One ``hisbot run`` per SQLite database: a second one is refused naming the first, and a
first one killed with ``kill -9`` leaves no lock behind (the kernel drops an flock)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.cluster.instance_lock import AlreadyRunning, InstanceLock, hold_instance, sqlite_file

REPO = Path(__file__).resolve().parents[2]
STARTED = dt.datetime(2026, 12, 5, 9, 30, 15)

# What ``hisbot run`` does first (``bot.app.run``), in a process of its own that then waits.
HOLDER = """
import datetime as dt, sys
from bot.cluster.instance_lock import hold_instance
hold_instance(sys.argv[1], lambda: dt.datetime(2026, 12, 5, 9, 30, 15))
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    url = f"sqlite:///{tmp_path / 'data' / 'hisbot.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def clock() -> dt.datetime:
    return STARTED


def test_a_second_run_is_refused_naming_the_first(
    tmp_path: Path, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\nurl = "sqlite:///data/hisbot.db"\n', encoding="utf-8")
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err == (
        f"hisbot: {tmp_path / 'data' / 'hisbot.db'} is already served by hisbot run "
        f"(pid {holder.pid} on {socket.gethostname()}, started 2026-12-05 09:30:15 UTC); "
        "stop it first — one process per SQLite database (several workers need PostgreSQL)"
    )


def test_after_kill_9_of_the_first_a_new_one_starts(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    database = tmp_path / "data" / "hisbot.db"
    with pytest.raises(AlreadyRunning, match=f"pid {holder.pid} "):
        InstanceLock.acquire(database, clock)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    lock = InstanceLock.acquire(database, clock)  # no stale lock: the kernel dropped it
    assert lock.owner.pid == os.getpid()
    assert f'"pid": {os.getpid()}' in lock.path.read_text(encoding="utf-8")
    lock.release()


def test_released_on_stop_and_one_lock_per_database(tmp_path: Path) -> None:
    first = InstanceLock.acquire(tmp_path / "a.db", clock)
    other = InstanceLock.acquire(tmp_path / "b.db", clock)  # another database is another lock
    with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()} on "):
        InstanceLock.acquire(tmp_path / "a.db", clock)  # a second open file: refused too
    first.release()
    first.release()  # idempotent
    again = InstanceLock.acquire(tmp_path / "a.db", clock)
    again.release()
    other.release()


def test_server_and_memory_databases_take_no_lock() -> None:
    assert hold_instance("postgresql+psycopg://u@127.0.0.1/db", clock) is None
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite:///data/x.db") == Path("data/x.db")
