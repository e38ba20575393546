"""Slack edge of hisbot (slack-bolt async): see ``adapter.SlackAdapter``.

Translates Events API / interactivity / slash-command payloads into ``adapters.base`` objects
and ``Reply`` objects into Web API calls; never imports the core (``bot/``, ``intents/``,
``kb_index/``).
"""

from .adapter import SlackAdapter
from .blocks import render, render_ephemeral, render_update
from .events import to_button_press, to_chat_event, to_command, to_incoming
from .settings import SlackSettings

__all__ = [
    "SlackAdapter",
    "SlackSettings",
    "render",
    "render_ephemeral",
    "render_update",
    "to_button_press",
    "to_chat_event",
    "to_command",
    "to_incoming",
]
