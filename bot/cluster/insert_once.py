"""``INSERT … ON CONFLICT DO NOTHING``: the one statement that lets workers racing for the same
row agree on who wrote it, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def insert_new(session: Session, model: type[SQLModel], row: dict[str, Any]) -> Any | None:
    """Insert ``row`` unless it clashes with an existing row (primary key or any unique
    constraint); the new row's primary key, or None when it existed (caller commits). Not a
    caught IntegrityError: that would abort an enclosing PostgreSQL transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__  # type: ignore[attr-defined]
    key = next(iter(table.primary_key.columns))
    statement = insert(table).values(row).on_conflict_do_nothing().returning(key)
    found = session.execute(statement).first()
    return None if found is None else found[0]


def insert_once(session: Session, model: type[SQLModel], row: dict[str, Any]) -> bool:
    """Insert ``row`` unless a row with its key exists; True when this call inserted it."""
    return insert_new(session, model, row) is not None
