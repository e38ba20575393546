"""The composition root's web console: its ASGI app over the app's services, with the
login limits, the password hashing pool, the playground and the KB writer."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from adapters.web.adapter import WebAdapter
from bot.inbox import Inbox
from bot.infra.config import Settings
from bot.kb.editing import LiveKnowledge
from bot.tickets.services import Services
from bot.web.app import Console, create_console
from bot.web.auth import ConsoleStore
from bot.web.login_limits import LoginLimiter
from bot.web.passwords import HashingPool
from bot.wiring.operations import sla_clocks


def console_app(
    settings: Settings,
    services: Services,
    db: Engine,
    inbox: Inbox,
    chat_api: WebAdapter | None,
    kb_writer: LiveKnowledge | None,
) -> FastAPI:
    """The console (``[web]``); ``inbox``: where its actions that tell a chat are stored and
    handled (``bot.tickets.console_actions``); ``chat_api``: the playground's platform (None: off);
    ``kb_writer``: saves KB edits into the running engine."""
    web = settings.web
    console = Console(
        services=services,
        store=ConsoleStore(db),
        settings=settings,
        db=db,
        inbox=inbox,
        sla_clocks=services.sla.clocks if services.sla is not None else sla_clocks(settings, db),
        limiter=LoginLimiter(
            services.db,
            web.login_max_failures,
            web.login_window_minutes * 60.0,
            max_delay=web.login_max_delay_seconds,
            clock=services.clock,
        ),
        hashing=HashingPool(web.password_check_threads, web.password_check_queue),
        chat_api=chat_api,
        kb_writer=kb_writer,
    )
    return create_console(console)
