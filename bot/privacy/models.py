"""The erasure log: that personal data was erased, by whom, when, and how much — never what.

Append-only in the database itself, like the ticket audit log (triggers refuse UPDATE and
DELETE). ``target`` names a ticket, a hospital or a KB article version; an erasure by phone or
ID number leaves it empty, because the number is the very data that was asked to go.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field
from bot.tickets.models import make_append_only

#: What an erased question or resolution reads.
ERASED = "[已删除]"


class Erasure(SQLModel, table=True):
    __tablename__ = "erasure"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = utc_field()
    #: The engineer id who asked for it, or "system" (the retention job).
    actor: str = Field(max_length=80)
    #: "ticket", "hospital", "subject", "retention" or "kb_version".
    scope: str = Field(max_length=16)
    target: str = Field(default="", max_length=120)
    tickets: int = 0
    exchanges: int = 0
    receipts: int = 0
    kb_versions: int = 0
    #: Web chat (playground) entries deleted.
    web_chat_entries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


make_append_only(Erasure.__tablename__)
