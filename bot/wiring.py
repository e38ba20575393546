"""The composition root's wiring of the conversation and the engineers' desk.

Each part gets, by name, the collaborators it uses, picked from the app's ``Services`` here
and nowhere else: the pipeline, the group hooks, the follow-ups, the hospital side and the
desk never see ``Services`` (``bot.app.build_app`` calls ``conversation`` once).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from bot.conversation.answers import Answers
from bot.conversation.category_taps import CategoryTaps
from bot.conversation.followups import FollowUps
from bot.conversation.group import Group
from bot.conversation.hospital_side import HospitalSide
from bot.conversation.pipeline import Pipeline
from bot.desk.commands import Desk
from bot.desk.queue.store import DigestStore
from bot.kb.loop import label_flow
from bot.privacy.gate import RedactionGate
from bot.routing import Router
from bot.tickets.services import Services


@dataclass(frozen=True)
class Conversation:
    """The parts that handle chat messages and buttons, wired once."""

    pipeline: Pipeline
    desk: Desk
    followups: FollowUps
    hospital_side: HospitalSide
    category_taps: CategoryTaps


def conversation(services: Services, router: Router) -> Conversation:
    s = services
    followups = FollowUps(
        db=s.db,
        registry=s.registry,
        exchanges=s.exchanges,
        links=s.links,
        tickets=s.tickets,
        flow=s.ticket_flow,
        messenger=s.messenger,
        clock=s.clock,
    )
    desk = Desk(
        db=s.db,
        registry=s.registry,
        tickets=s.tickets,
        links=s.links,
        digests=DigestStore(s.db.engine, s.clock),
        flow=s.ticket_flow,
        messenger=s.messenger,
        router=router,
        ask_label=partial(label_flow.ask, s) if s.labels is not None else None,
    )
    group = Group(
        db=s.db,
        registry=s.registry,
        exchanges=s.exchanges,
        tickets=s.tickets,
        flow=s.ticket_flow,
        followups=followups,
        messenger=s.messenger,
        clock=s.clock,
        settings=s.settings.group,
    )
    hospital_side = HospitalSide(
        db=s.db,
        registry=s.registry,
        tickets=s.tickets,
        links=s.links,
        messenger=s.messenger,
        router=router,
    )
    pipeline = Pipeline(
        router=router,
        db=s.db,
        registry=s.registry,
        exchanges=s.exchanges,
        links=s.links,
        tickets=s.tickets,
        engine=s.engine,
        answers=Answers(
            db=s.db,
            registry=s.registry,
            exchanges=s.exchanges,
            article=s.article,
            article_url=s.article_url,
            flow=s.ticket_flow,
            messenger=s.messenger,
        ),
        flow=s.ticket_flow,
        messenger=s.messenger,
        warned_chats=s.warned_chats,
        settings=s.settings,
        gate=RedactionGate(s.settings.max_message_chars, s.redact),
        is_desk=s.is_desk,
        sla=s.sla,
        desk=desk,
        group=group,
        followups=followups,
        hospital_side=hospital_side,
    )
    taps = CategoryTaps(
        db=s.db,
        registry=s.registry,
        flow=s.ticket_flow,
        messenger=s.messenger,
        is_desk=s.is_desk,
    )
    return Conversation(pipeline, desk, followups, hospital_side, taps)
