"""The same person asking the same thing while their ticket is open: one ticket, not two.

"The same thing" is judged on the words: the share of the new message's character bigrams
and Latin tokens (error codes such as 2304 or ORA-01653 count whole) that the open ticket's
text already has, after the same normalisation and pinyin shorthand the retriever uses
(「yb结算报2304」 and 「医保结算还是报2304」 share 医保, 结算, 2304).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.tickets.models import OPEN_STATUSES, Ticket
from kb_index.text import lexical_terms, prepare_query


def _terms(text: str) -> set[str]:
    return {t for t in lexical_terms(prepare_query(text)) if not t.startswith("c:")}


def overlap(new: str, known: str) -> float:
    """How much of ``new`` (0..1) ``known`` already says."""
    mine = _terms(new)
    if not mine:
        return 0.0
    return len(mine & _terms(known)) / len(mine)


def same_open_ticket(
    session: Session,
    hospital_id: str,
    platform: str,
    user_id: str,
    text: str,
    threshold: float,
) -> Ticket | None:
    """The person's open ticket in this hospital that ``text`` repeats best, if any repeats it
    enough (a read: call it through the database gateway)."""
    tickets = session.exec(
        select(Ticket)
        .where(
            Ticket.hospital_id == hospital_id,
            Ticket.reporter_platform == platform,
            Ticket.reporter_user_id == user_id,
            col(Ticket.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Ticket.id).desc())
        .limit(20)
    ).all()
    scored = [(overlap(text, t.question), t) for t in tickets]
    best = max(scored, key=lambda pair: pair[0], default=None)
    return best[1] if best is not None and best[0] >= threshold else None
