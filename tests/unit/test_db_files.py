"""The SQLite database holds patient data: its files are the owner's only (issue 13, item 5)."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from bot.infra.db import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "data" / "hisbot.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # a write, so the WAL and shared-memory files exist
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(db.parent) == 0o700
    engine.dispose()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "hisbot.db"
    make_engine(f"sqlite:///{db}").dispose()
    db.chmod(0o644)
    Path(f"{db}-wal").write_bytes(b"")
    Path(f"{db}-wal").chmod(0o644)
    engine = make_engine(f"sqlite:///{db}")
    assert mode(db) == 0o600 and mode(Path(f"{db}-wal")) == 0o600
    engine.dispose()
