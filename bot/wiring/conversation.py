"""The composition root's wiring of the conversation, the desk, the features and the inbox.

Each part gets, by name, the collaborators it uses, picked from the app's ``Services`` here
and nowhere else: the pipeline, the group hooks, the follow-ups, the hospital side, the desk,
the workflows' chat commands, the KB loop's label prompt and weekly summary never see
``Services`` (``bot.app.build_app`` calls ``conversation``, ``register_features`` and
``inbox`` once; the console builds its ``ServiceChat`` with ``service_chat``).
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from adapters.base import ChatRef, CoreHandlers, Reply
from bot.conversation.actions import ChangeCategory, NotSameProblem, WhichFollowUp
from bot.conversation.answers import Answers
from bot.conversation.category_taps import CategoryTaps
from bot.conversation.followups import FollowUps
from bot.conversation.group import Group
from bot.conversation.hospital_side import HospitalSide
from bot.conversation.nudge_model import NudgeModel
from bot.conversation.pipeline import Pipeline
from bot.desk.commands import Desk
from bot.desk.queue.store import DigestStore
from bot.duty import commands as duty_commands
from bot.inbox import Inbox, InboxStore
from bot.kb.loop.label_flow import LabelPrompt
from bot.kb.loop.settings import KbLoopSettings
from bot.kb.loop.weekly import WeeklySummary
from bot.privacy.gate import RedactionGate
from bot.routing import Router
from bot.sla.actions import AckPage
from bot.texts import answer_delayed
from bot.tickets.services import Services
from bot.web.console_telling import console_telling
from bot.workflows.chat import ServiceChat


@dataclass(frozen=True)
class Conversation:
    """The parts that handle chat messages and buttons, wired once."""

    pipeline: Pipeline
    desk: Desk
    followups: FollowUps
    hospital_side: HospitalSide
    category_taps: CategoryTaps
    #: Which article answered a resolved ticket (None: ``[kbloop] ask_labels = false``).
    label_prompt: LabelPrompt | None


def conversation(services: Services, router: Router) -> Conversation:
    s = services
    label_prompt = None
    if s.labels is not None:
        label_prompt = LabelPrompt(
            db=s.db,
            registry=s.registry,
            tickets=s.tickets,
            engine=s.engine,
            article=s.article,
            messenger=s.messenger,
            labels=s.labels,
        )
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
        ask_label=label_prompt.ask if label_prompt is not None else None,
    )
    group = Group(
        db=s.db,
        registry=s.registry,
        exchanges=s.exchanges,
        tickets=s.tickets,
        links=s.links,
        flow=s.ticket_flow,
        followups=followups,
        messenger=s.messenger,
        clock=s.clock,
        settings=s.settings.group,
        nudge_model=NudgeModel.load(),
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
    return Conversation(pipeline, desk, followups, hospital_side, taps, label_prompt)


def register_features(router: Router, services: Services, parts: Conversation) -> None:
    """Every feature's commands, button actions and message hooks; hooks run in this order
    (a reply in a ticket's thread is relayed before a reply to a notice is recorded)."""
    pipeline = parts.pipeline
    pipeline.register(router)  # the buttons under answers; replies in a ticket's thread
    parts.desk.register(router)  # ticket commands, 接单
    parts.hospital_side.register(router)  # a hospital's /ticket, /tickets
    services.broadcasts.register(router)
    if services.sla is not None:
        duty_commands.register(
            router, services.sla, services.registry, services.db, services.messenger
        )
        router.action(AckPage, pipeline.acknowledge_page)
    service_chat(services).register(router)
    if parts.label_prompt is not None:
        parts.label_prompt.register(router)
    # a busy group's follow-ups: which question a bare 「还是不行」 meant; one-tap categories;
    router.action(WhichFollowUp, parts.followups.on_button)
    router.action(ChangeCategory, parts.category_taps.on_button)
    router.action(NotSameProblem, pipeline.group.on_not_same)  # a 「我也是」 taken back


def service_chat(services: Services) -> ServiceChat:
    """The workflows' chat commands and hospital notices (also the console's service pages)."""
    s = services
    return ServiceChat(
        db=s.db,
        registry=s.registry,
        tickets=s.tickets,
        flow=s.ticket_flow,
        messenger=s.messenger,
        redact=s.redact,
        clock=s.clock,
        desk_chats=s.settings.desk_chats,
        workflows=s.workflows,
    )


def weekly_summary(services: Services, settings: KbLoopSettings, zone: ZoneInfo) -> WeeklySummary:
    """「本周新出现的常见问题」 to every desk chat, scheduled in ``zone``."""
    s = services
    return WeeklySummary(
        db=s.db,
        engine=s.engine,
        registry=s.registry,
        article=s.article,
        messenger=s.messenger,
        desk_chats=s.settings.desk_chats,
        clock=s.clock,
        settings=settings,
        zone=zone,
    )


def inbox(services: Services, pipeline: Pipeline, store: InboxStore) -> Inbox:
    """Every arriving event stored in ``store`` before the platform is answered, cut and
    redacted at the edge, then handled by ``pipeline`` in its chat's lane; while the
    database is unavailable the chat is told once that its answer is delayed."""
    messenger = services.messenger

    async def tell_delayed(chat: ChatRef) -> None:
        await messenger.send_now(Reply(chat=chat, text=answer_delayed()))

    return Inbox(
        services.db,
        store,
        CoreHandlers(pipeline.on_message, pipeline.on_button, pipeline.on_chat_event),
        is_desk=services.is_desk,
        incoming=RedactionGate(services.settings.max_message_chars, services.redact).incoming,
        tell_delayed=tell_delayed,
        console=console_telling(services, service_chat(services)),
    )
