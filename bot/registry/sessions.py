"""Write transactions that serialise correctly on SQLite and PostgreSQL.

On SQLite a transaction normally starts as a reader and upgrades to a writer at its first
write; two such transactions can both hold a read snapshot and then fail with "database is
locked" instead of waiting. ``write_session`` starts SQLite transactions with ``BEGIN
IMMEDIATE``: the write lock is taken first (waiting up to the connection's busy timeout), so
read-modify-write sequences inside are serialised. On PostgreSQL the transaction is an ordinary
READ COMMITTED one; code that reads before it writes locks the rows it reads
(``SELECT ... FOR UPDATE``) or writes with a conditional ``UPDATE``.

``transaction`` makes several stores' writes one transaction (opening a ticket: the ticket, its
exchanges' outcome, the message links, the notice link and the note): every ``write_session``
opened inside it, in the same thread, joins it instead of committing on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete
from sqlmodel import Session, SQLModel, select

#: The session of the enclosing ``transaction`` (per thread and task), if any.
_ambient: ContextVar[Session | None] = ContextVar("hisbot_transaction", default=None)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One write transaction for a unit of work across stores: committed when the block ends,
    rolled back (all of it) if it raises. Nested ``transaction``s join the outer one."""
    outer = _ambient.get()
    if outer is not None:
        yield outer
        return
    with _own_write_session(engine) as session:
        token = _ambient.set(session)
        try:
            yield session
        finally:
            _ambient.reset(token)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction: committed when the block ends, rolled back if it
    raises. Objects stay readable after the commit (``expire_on_commit=False``). Inside a
    ``transaction`` it is that transaction's session (committed when it ends)."""
    outer = _ambient.get()
    if outer is not None:
        yield outer
        return
    with _own_write_session(engine) as session:
        yield session


@contextmanager
def _own_write_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def read_session(engine: Engine) -> Session:
    """A session for reads; what it returns stays usable after it is closed."""
    return Session(engine, expire_on_commit=False)


def delete_batch(
    session: Session, table: type[SQLModel], limit: int, *where: ColumnElement[bool]
) -> int:
    """Delete up to ``limit`` rows of ``table`` that match ``where``, lowest ids first; returns
    how many. The retention purges call it until it returns fewer, one transaction a batch, so
    a long backlog never holds the writer for long."""
    ident: Any = table.__table__.c.id  # type: ignore[attr-defined]
    ids = list(session.exec(select(ident).where(*where).order_by(ident).limit(limit)).all())
    if ids:
        session.execute(delete(table).where(ident.in_(ids)))
    return len(ids)
