"""The kinds of group message the triage tells apart (the classifier's classes and the
exact rules' verdicts)."""

from __future__ import annotations

from enum import StrEnum


class MessageClass(StrEnum):
    QUESTION = "question"
    OUTAGE = "outage"
    CHITCHAT = "chitchat"
    PEOPLE = "people"
    NOTICE = "notice"


CLASSES: tuple[MessageClass, ...] = tuple(MessageClass)
