"""The database schema, versioned with Alembic.

``upgrade_to_head(url_or_engine)`` brings any database (new, or made before Alembic by
``SQLModel.metadata.create_all``) to the current schema; the bot calls it at start. It runs
from the installed package (the scripts live next to this file), so no alembic.ini is needed at
run time. alembic.ini at the repository root is for developers:

    .venv/bin/alembic -x url=sqlite:///data/hisbot.db current
    # a new revision after changing a model: diff the models against a scratch DB at head
    .venv/bin/alembic -x url=sqlite:////tmp/scratch.db upgrade head
    .venv/bin/alembic -x url=sqlite:////tmp/scratch.db revision --autogenerate -m "what changed"

Every module that defines tables must be listed in ``MODEL_MODULES``: it is what the
migrations (and the test that compares them with the models) consider the schema.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from bot.infra.db import SQLITE_BUSY_TIMEOUT_S

#: The modules whose SQLModel tables make up the schema.
MODEL_MODULES: tuple[str, ...] = (
    "kb_index.store",
    "bot.registry.models",
    "bot.tickets.models",
    "bot.tickets.attachments",
    "bot.conversation.exchanges",
    "bot.tickets.links",
    "bot.broadcasts.models",
    "bot.web.models",
    "bot.privacy.models",
    "bot.duty.models",
    "bot.sla.models",
    "bot.workflows.models",
    "bot.kb.loop.models",
    "bot.cluster.models",
    "bot.inbox.models",
    "bot.tickets.incidents",
    "bot.conversation.skips",
    "bot.desk.queue.models",
    "bot.webchat.models",
)

_HERE = Path(__file__).resolve().parent
#: Alembic keeps its running context in module globals: one migration per process at a time.
_IN_PROCESS = threading.Lock()


def schema_metadata() -> MetaData:
    """The tables of ``MODEL_MODULES`` (and nothing else a process may have imported)."""
    keep: set[str] = set()
    for name in MODEL_MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, SQLModel)
                and obj.__module__ == name
                and "__table__" in vars(obj)
            ):
                keep.add(str(obj.__tablename__))
    out = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        if table.name in keep:
            table.to_metadata(out)
    return out


def alembic_config() -> Config:
    """An Alembic config pointing at this package's scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("path_separator", "os")
    return cfg


def upgrade_to_head(target: str | Engine) -> None:
    """Run every migration the database has not had yet, all in one transaction: a failure
    leaves the schema as it was. Processes starting at once migrate one after the other
    (PostgreSQL: an advisory lock, see env.py; SQLite: ``BEGIN IMMEDIATE``)."""
    if isinstance(target, str):
        # the busy timeout make_engine gives its connections, not pysqlite's 5 s: a start that
        # finds another process migrating waits for it
        wait = {"timeout": SQLITE_BUSY_TIMEOUT_S} if target.startswith("sqlite") else {}
        engine = create_engine(target, poolclass=NullPool, connect_args=wait)
    else:
        engine = target
    try:
        cfg = alembic_config()
        with _IN_PROCESS, engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # pysqlite would run each DDL statement in autocommit; SQLite's DDL is
                # transactional, so take the write lock and keep it all in one transaction.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            connection.commit()
    finally:
        if isinstance(target, str):
            engine.dispose()
