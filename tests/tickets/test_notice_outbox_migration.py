"""Migration 0019 on a database with notices under way (SQLite and PostgreSQL): a delivery an
earlier version left ``sending`` becomes ``unknown`` (it was on the wire: never re-sent), the
outcome of every delivery that ended is copied into the one outbox, queued ones stay to be
sent, and nothing of the old claim state machine is left."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from bot.inbox import OutboxStore
from bot.migrations import alembic_config, upgrade_to_head

AT = "2026-03-02 02:00:00"


def at_0018(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0018_sla_steps")


def old_deliveries(engine: Engine) -> None:
    """A notice of the previous version: one delivery per status it could be in."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notice (id, kind, title, body, product, module, version,"
                " download_url, checksum, action, urgent, status, created_by, created_at,"
                " updated_at) VALUES (1, 'announcement', '维护', '周六', '', '', '', '', '',"
                " '', false, 'sending', 'e05', :at, :at)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO notice_wave (id, notice_id, kind, offset_minutes, status, note)"
                " VALUES (1, 1, 'main', 0, 'fired', '')"
            )
        )
        rows = [
            (1, "-1", "sending", None, None, "tok1"),
            (2, "-2", "sent", "501", None, None),
            (3, "-3", "gave_up", None, "NetworkError: Bad Gateway", None),
            (4, "-4", "queued", None, None, None),
        ]
        for id_, chat, status, message_id, error, token in rows:
            conn.execute(
                text(
                    "INSERT INTO delivery (id, notice_id, wave_id, platform, chat_id, status,"
                    " attempts, last_error, claim_token, next_attempt_at, message_id,"
                    " created_at, updated_at) VALUES (:id, 1, 1, 'telegram', :chat, :status,"
                    " 1, :error, :token, :at, :message_id, :at, :at)"
                ),
                {
                    "id": id_,
                    "chat": chat,
                    "status": status,
                    "error": error,
                    "token": token,
                    "at": AT,
                    "message_id": message_id,
                },
            )


def test_deliveries_under_way_migrate_to_the_one_outbox(make_db: Callable[..., Engine]) -> None:
    engine = make_db(create=False)
    at_0018(engine)
    old_deliveries(engine)
    upgrade_to_head(engine)

    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT id, status FROM delivery")).all())
        resends = set(conn.execute(text("SELECT resends FROM delivery")).scalars())
        owed = dict(conn.execute(text("SELECT id, tell_unknown FROM delivery")).all())
    assert statuses == {1: "unknown", 2: "sent", 3: "gave_up", 4: "queued"}
    # the old version told the engineers of each send it found interrupted, at its start: the
    # migration that finds it instead owes them that alert (0021), else nobody hears of it
    assert {k: bool(v) for k, v in owed.items()} == {1: True, 2: False, 3: False, 4: False}
    assert resends == {0}
    columns = {c["name"] for c in inspect(engine).get_columns("delivery")}
    assert not columns & {"claim_token", "claimed_at"}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # no claim state left
        conn.execute(text("UPDATE delivery SET status = 'sending' WHERE id = 4"))

    outbox = OutboxStore(engine)
    found = {key: outbox.get(f"notice:{key}") for key in (1, 2, 3, 4)}
    assert {k: (r.state, r.message_id) if r else None for k, r in found.items()} == {
        1: ("unknown", None),  # on the wire when the old version stopped: never re-sent
        2: ("sent", "501"),
        3: ("failed", None),
        4: None,  # still to send: the broadcaster claims it
    }
    assert found[3] is not None and found[3].error == "NetworkError: Bad Gateway"
    assert outbox.claim("notice:1", "telegram", "-1") is not None  # not sent again
    assert outbox.claim("notice:4", "telegram", "-4") is None  # sent by the next round
