"""The one table of the KB loop: which article answers a resolved ticket's question.

A label holds no free text: the question is the ticket's (redacted, and erased with it), so a
purge of the ticket leaves a label that ``history`` skips.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from bot.infra.clock import utc_field


class Verdict(StrEnum):
    #: An existing article answers the question (``article_id``).
    ARTICLE = "article"
    #: The KB does not and should not cover it (a one-off, a bug fixed in code).
    NONE = "none"
    #: Not covered, and worth an article: the problem list ranks it for drafting.
    NEW = "new"


class QuestionLabel(SQLModel, table=True):
    """The engineer's verdict on one ticket's question; a later tap replaces it."""

    __tablename__ = "question_label"
    __table_args__ = (
        CheckConstraint("verdict IN ('article', 'none', 'new')", name="ck_question_label_verdict"),
    )

    ticket_id: int = Field(
        foreign_key="ticket.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    verdict: str = Field(max_length=8)
    article_id: str | None = Field(default=None, max_length=64)
    labelled_by: str = Field(foreign_key="engineer.id", max_length=32)
    labelled_at: dt.datetime = utc_field()
