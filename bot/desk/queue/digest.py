"""A digest's text and buttons: one message listing the tickets waiting for a card, or (an
urgent digest) the P1/P2 tickets the desk chat cannot card within seconds, with the mentions
their cards would carry.

Rendering only (it reads the database: call it through ``db``).
"""

from __future__ import annotations

from adapters.base import Button, ChatRef, Reply
from bot import texts
from bot.desk.cards import CardSource, mention_user_ids
from bot.routing import encode
from bot.tickets.actions import Claim
from bot.tickets.models import Ticket

#: How much of a question a digest line shows.
QUESTION_CHARS = 30


def digest_line(ticket: Ticket, hospital_name: str) -> str:
    question = " ".join(ticket.question.split())
    if len(question) > QUESTION_CHARS:
        question = question[:QUESTION_CHARS] + "…"
    if ticket.status == "new":
        todo = f"/claim {ticket.number}"
    else:  # claimed (or further) since the digest was posted: it is re-rendered
        todo = "✅ " + texts.STATUS_LABELS.get(ticket.status, ticket.status)
    return f"#{ticket.number} [{ticket.urgency}] {hospital_name}：{question}  {todo}"


def digest_reply(
    services: CardSource, tickets: list[Ticket], desk: ChatRef, buttons: int, *, urgent: bool
) -> Reply:
    """The digest for one desk chat; the first ``buttons`` unclaimed tickets get 接单. An
    urgent one mentions whom the tickets' cards would (the roster's on-call engineer, lead)."""
    hospitals = {t.hospital_id: services.registry.get_hospital(t.hospital_id) for t in tickets}
    names = {key: h.name if h else key for key, h in hospitals.items()}
    lines = [digest_line(t, names[t.hospital_id]) for t in tickets]
    if urgent:
        head = f"🚨 紧急工单汇总（{len(tickets)} 张；紧急工单较多，合并为一条，请立即处理）"
        mentions = tuple(
            dict.fromkeys(
                user
                for t in tickets
                for user in mention_user_ids(services, t, hospitals[t.hospital_id], desk.platform)
            )
        )
    else:
        head = f"📋 新工单汇总（{len(tickets)} 张；消息较多，合并为一条）"
        mentions = ()
    text = (
        head
        + "\n"
        + "\n".join(lines)
        + "\n接单：点按钮或发 /claim <工单号>；回复本消息时以工单号开头即转达给该医院。"
    )
    new = [t for t in tickets if t.status == "new"][:buttons]
    rows = tuple((Button(f"{texts.CLAIM} #{t.number}", encode(Claim(t.number))),) for t in new)
    return Reply(chat=desk, text=text, buttons=rows, mention_user_ids=mentions)
