"""Telegram edge of hisbot (python-telegram-bot 22): see ``adapter.TelegramAdapter``.

Translates Bot API updates into ``adapters.base`` objects and ``Reply`` objects into Bot API
calls; never imports the core (``bot/``, ``intents/``, ``kb_index/``).
"""

from .adapter import ALLOWED_UPDATES, TelegramAdapter
from .messages import render, render_parts
from .settings import TelegramSettings
from .updates import to_button_press, to_chat_event, to_incoming

__all__ = [
    "ALLOWED_UPDATES",
    "TelegramAdapter",
    "TelegramSettings",
    "render",
    "render_parts",
    "to_button_press",
    "to_chat_event",
    "to_incoming",
]
