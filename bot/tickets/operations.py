"""Ticket operations as engineers and hospitals perform them, from any surface.

The chat desk (``bot/desk/commands.py``) and the web console (``bot/web``) both call these, so a claim,
a resolution or a reply follows the same rules and has the same effects wherever it is done:
the ticket store decides (and audits), the hospital's thread is told, the desk cards are
re-rendered. Errors are the ticket store's (``TicketError`` and subclasses); each surface turns
them into its own sentences.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from functools import partial

from adapters.base import Button, MessageRef, Reply
from bot import texts
from bot.conversation.incident_flow import tell_reporters
from bot.inbox.scope import replaying
from bot.registry.models import Engineer, Hospital
from bot.registry.sessions import transaction
from bot.tickets.flow import Services, card_in, hospital_thread, refresh_cards
from bot.tickets.links import Side
from bot.tickets.models import Direction, Status, Ticket
from bot.tickets.store import (
    Actor,
    AlreadyClaimed,
    InvalidTransition,
    NotAllowed,
    ResolutionRequired,
    ThreadEntry,
    TicketError,
    TicketNotFound,
)

log = logging.getLogger(__name__)

#: Platform name of tickets registered on the web console (and of the playground's chats).
WEB_PLATFORM = "web"


_RULES = {
    "not_owner": "只有该工单的受理工程师或组长可以这样做。",
    "reason_required": "请写明重新打开的原因。",
    "text_required": "内容不能为空。",
    "cannot_take": "该工程师没有接单权限。",
    "not_engineer": "只有已登记的工程师可以这样做。",
}
_MOVES = {
    "accepted": "接单",
    "in_progress": "开始处理",
    "resolved": "标记解决",
    "closed": "关闭",
    "reopened": "重新打开",
    "assigned": "指派",
}


def explain(exc: TicketError) -> str:
    """A refused ticket operation, in the words the desk and the console show engineers."""
    if isinstance(exc, AlreadyClaimed):
        return f"工单 #{exc.number} 已被 {exc.engineer_name or exc.engineer_id} 接单。"
    if isinstance(exc, ResolutionRequired):
        return "请写明处理方式（必填，会告知医院）。"
    if isinstance(exc, TicketNotFound):
        return texts.not_found(exc.number)
    if isinstance(exc, InvalidTransition):
        now = texts.STATUS_LABELS.get(exc.from_status, exc.from_status)
        return f"工单当前状态为「{now}」，不能{_MOVES.get(exc.to_status, exc.to_status)}。"
    if isinstance(exc, NotAllowed) and exc.code in _RULES:
        return _RULES[exc.code]
    return f"操作未完成：{exc}"


async def tell_hospital(
    services: Services, ticket: Ticket, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
) -> MessageRef | None:
    """Say something in the ticket's hospital thread (replying to the question) and link the
    message to the ticket, so a reply to it continues the ticket."""
    chat, question_id = hospital_thread(ticket)
    sent = await services.messenger.send(
        Reply(chat=chat, text=text, reply_to=question_id, buttons=buttons)
    )
    if sent is not None:
        await services.db.write(
            lambda: services.links.link(
                sent.platform, sent.chat_id, sent.message_id, ticket.number, Side.HOSPITAL
            )
        )
    return sent


async def claim(services: Services, number: str, engineer: Engineer) -> Ticket:
    """Accept a new ticket (atomic: one winner), update the cards and tell the hospital."""
    try:
        ticket = await services.db.write(lambda: services.tickets.claim(number, engineer.id))
    except AlreadyClaimed as exc:
        if not (replaying() and exc.engineer_id == engineer.id):
            raise
        # a replay of this very claim (a crash came before the hospital was told): finish it
        ticket = await services.db.read(lambda: services.tickets.get(number))
    await refresh_cards(services, ticket.number)
    await tell_hospital(services, ticket, texts.accepted(engineer.name, ticket.number))
    return ticket


async def resolve(services: Services, number: str, engineer: Engineer, resolution: str) -> Ticket:
    """Resolve with the required resolution text and tell the hospital how."""
    try:
        ticket = await services.db.write(
            lambda: services.tickets.resolve(number, engineer.id, resolution)
        )
    except InvalidTransition as exc:
        done = await services.db.read(lambda: services.tickets.get(number))
        if not (replaying() and exc.from_status == Status.RESOLVED):
            raise
        if done.resolution != resolution.strip():
            raise
        ticket = done  # a replay of this very /resolve: finish telling the hospital
    await tell_hospital(services, ticket, texts.resolved(ticket.number, resolution))
    await tell_reporters(services, ticket, texts.resolved(ticket.number, resolution))
    await refresh_cards(services, ticket.number)
    return ticket


async def reopen(services: Services, number: str, engineer: Engineer, reason: str) -> Ticket:
    ticket = await services.db.write(
        lambda: services.tickets.reopen(number, engineer.id, reason or "重新打开")
    )
    await tell_hospital(services, ticket, texts.reopened(ticket.number))
    await refresh_cards(services, ticket.number)
    return ticket


async def assign(services: Services, number: str, target: Engineer, by: Engineer) -> Ticket:
    ticket = await services.db.write(lambda: services.tickets.assign(number, target.id, by.id))
    await refresh_cards(services, ticket.number)
    return ticket


async def classify(
    services: Services, number: str, engineer: Engineer, category: str, urgency: str
) -> Ticket:
    """Correct the service category and urgency (the bot only suggests them; the reports and
    the contract's record count the corrected values). Each change is an audit event."""

    def change() -> Ticket:
        ticket = services.tickets.get(number)
        if category != ticket.category:
            ticket = services.tickets.set_category(number, category, engineer.id)
        if urgency != ticket.urgency:
            ticket = services.tickets.set_urgency(number, urgency, engineer.id)
        return ticket

    ticket = await services.db.write(change)
    await refresh_cards(services, ticket.number)
    return ticket


async def note(services: Services, number: str, engineer: Engineer, text: str) -> None:
    """An internal note: recorded in the audit trail, never shown to the hospital."""
    await services.db.write(lambda: services.tickets.add_note(number, engineer.id, text))


async def reply_to_hospital(
    services: Services,
    number: str,
    engineer: Engineer,
    text: str,
    source: MessageRef | None = None,
) -> MessageRef | None:
    """An engineer's message to the hospital, kept on the ticket, then relayed into its
    thread: recorded before it is sent, so a crash between the two loses nothing (the replay
    sends it). ``source``: the engineer's chat message, linked to the ticket in the same
    transaction (a replay that finds the link does not record it twice)."""
    ticket = await services.db.read(lambda: services.tickets.get(number))

    def record() -> int | None:
        with transaction(services.db.engine):
            if source is not None:
                if services.links.ticket_for(*_at(source)) is not None:
                    return None  # recorded by an earlier attempt of this event
                services.links.link(*_at(source), ticket.number, Side.DESK)
            kept = services.tickets.append_message(
                ticket.number, Direction.ENGINEER, engineer.id, text
            )
            return kept.id

    kept = await services.db.write(record)
    sent = await tell_hospital(
        services, ticket, texts.relayed_from_engineer(engineer.name, ticket.number, text)
    )
    if sent is not None and kept is not None:
        await services.db.write(lambda: services.tickets.set_message_ref(kept, sent))
    return sent


def _at(ref: MessageRef) -> tuple[str, str, str]:
    return ref.platform, ref.chat_id, ref.message_id


async def relay_to_desks(
    services: Services, ticket: Ticket, hospital_name: str, author_name: str, body: str
) -> None:
    """Show a hospital's message on the ticket's card in every desk (as a reply to it).

    Not while a desk's budget has no room for an urgent message after it if nobody has
    claimed the ticket (a P1 too: its card or digest already shows it, and in a P1 storm the
    people repeating their question in its thread took the slots the next P1s waited for): the
    message is on the ticket (console, ``/ticket``), and the desk's budget stays free for
    urgent tickets. Once someone has claimed it, every follow-up is relayed."""
    for desk in services.settings.desk_chats:
        if ticket.status == "new" and not services.desk_has_room(desk):
            log.info("desk %s saturated: #%s's follow-up kept on it", desk.chat_id, ticket.number)
            continue
        card = await services.db.read(partial(card_in, services, ticket.number, desk))
        sent = await services.messenger.send(
            Reply(
                chat=desk,
                text=texts.relayed_from_hospital(hospital_name, author_name, ticket.number, body),
                reply_to=card.message_id if card else None,
            )
        )
        if sent is not None:
            await services.db.write(
                partial(
                    services.links.link,
                    sent.platform,
                    sent.chat_id,
                    sent.message_id,
                    ticket.number,
                    Side.DESK,
                )
            )


async def hospital_follow_up(
    services: Services,
    ticket: Ticket,
    hospital: Hospital,
    author: Actor,
    author_name: str,
    body: str,
    ref: MessageRef | None = None,
) -> None:
    """A hospital user adds to their ticket (in its chat thread or on the web): kept on the
    ticket and relayed to the engineers. ``body`` must already be redacted. ``ref`` (their chat
    message) is linked to the ticket in the same transaction, so a replay of the message finds
    it recorded and only relays what was not relayed yet."""

    def record() -> None:
        with transaction(services.db.engine):
            if ref is not None:
                if services.links.ticket_for(*_at(ref)) is not None:
                    return  # recorded by an earlier attempt of this event
                services.links.link(*_at(ref), ticket.number, Side.HOSPITAL)
            services.tickets.append_message(ticket.number, Direction.HOSPITAL, author, body, ref)

    await services.db.write(record)
    await relay_to_desks(services, ticket, hospital.name, author_name, body)


async def hospital_reopen(
    services: Services,
    ticket: Ticket,
    hospital: Hospital,
    author: Actor,
    author_name: str,
    reason: str,
) -> Ticket:
    """The hospital says a resolved ticket is not solved: back to its engineer, who is told."""
    reopened = await services.db.write(
        lambda: services.tickets.reopen(ticket.number, author, reason or "医院反馈问题仍未解决")
    )
    await refresh_cards(services, reopened.number)
    await relay_to_desks(
        services, reopened, hospital.name, author_name, f"重新打开：{reason or '问题仍未解决'}"
    )
    return reopened


def register_web_ticket(
    services: Services,
    hospital: Hospital,
    *,
    reporter_id: str,
    reporter_name: str,
    question: str,
    category: str,
    urgency: str,
    now: dt.datetime,
) -> Ticket:
    """A ticket registered on the web form. The text is redacted here, like chat questions;
    the card goes to the desks through the outbox."""
    clean = services.redact(question.strip())
    ticket = services.tickets.open_ticket(
        hospital_id=hospital.id,
        reporter_platform=WEB_PLATFORM,
        reporter_user_id=reporter_id,
        reporter_name=reporter_name,
        source_platform=WEB_PLATFORM,
        source_chat_id=hospital.id,
        source_message_id=f"form-{secrets.token_hex(6)}",
        question=clean,
        category=category,
        urgency=urgency,
        thread=[ThreadEntry(Direction.HOSPITAL, reporter_name, clean, now)],
    )
    services.notify_cards()
    return ticket
