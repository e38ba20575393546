"""Tables of the web console: engineers' logins, sessions, hospital access links, and the audit
of who changed what through the console.

Secrets are never stored: passwords as argon2 hashes, session tokens and access-link tokens as
SHA-256 digests (a leaked database does not let anyone in). Times are aware UTC, as everywhere.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


class WebAccount(SQLModel, table=True):
    """An engineer's console login (the user name is the engineer's registry id)."""

    __tablename__ = "web_account"

    engineer_id: str = Field(foreign_key="engineer.id", primary_key=True, max_length=32)
    password_hash: str
    active: bool = True
    created_at: dt.datetime = utc_field()
    password_changed_at: dt.datetime = utc_field()


class HospitalLink(SQLModel, table=True):
    """A per-hospital access link: whoever holds it sees that hospital's tickets (only)."""

    __tablename__ = "hospital_link"

    id: int | None = Field(default=None, primary_key=True)
    hospital_id: str = Field(foreign_key="hospital.id", index=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    label: str = ""
    created_by: str = Field(default="", max_length=80)
    created_at: dt.datetime = utc_field()
    revoked_at: dt.datetime | None = utc_field(default=None, nullable=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser: an engineer (``engineer_id``) or a hospital link (``link_id``)."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # "engineer" | "hospital"
    engineer_id: str | None = Field(default=None, foreign_key="engineer.id", max_length=32)
    hospital_id: str | None = Field(default=None, foreign_key="hospital.id", max_length=32)
    link_id: int | None = Field(default=None, foreign_key="hospital_link.id")
    csrf_token: str = Field(max_length=64)
    created_at: dt.datetime = utc_field()
    expires_at: dt.datetime = utc_field(index=True)


class WebAudit(SQLModel, table=True):
    """Who did what in the console (logins, refused logins, accounts, links, KB edits).

    Ticket changes are audited in ``ticket_event`` and article versions in
    ``kb_article_version``; this table holds the rest, append-only by convention.
    """

    __tablename__ = "web_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = utc_field(index=True)
    #: "engineer:e01", "hospital:h001#3" (link 3), "anonymous", "cli".
    actor: str = Field(max_length=80)
    action: str = Field(max_length=32)
    target: str = Field(default="", max_length=120, index=True)
    detail: str = ""
    ip: str = Field(default="", max_length=64)


class LoginCount(SQLModel, table=True):
    """Repeated events of one subject in its current window — failed or refused logins,
    cross-hospital probes — shared by every worker: a count kept in one process's memory is N
    counts behind a load balancer (the table's name is from its first use, the login limits).

    ``kind`` says what ``subject`` is (``bot.web.counts.Kind``); the window starts at the
    subject's first event and the count starts over once ``window_ends_at`` has passed. Rows
    past their window are deleted (``WindowCounts.purge``)."""

    __tablename__ = "login_count"

    kind: str = Field(primary_key=True, max_length=8)
    #: A lower-cased user name, a client address, both (``name\naddress``), or a link's
    #: audit name (probes).
    subject: str = Field(primary_key=True, max_length=200)
    count: int = 0
    window_ends_at: dt.datetime = utc_field(index=True)
