"""Telegram edge of hisbot (python-telegram-bot 22): see ``adapter.TelegramAdapter``.

Translates Bot API updates into ``adapters.base`` objects and ``Reply`` objects into Bot API
calls; never imports the core (``bot/``, ``intents/``, ``kb_index/``).

The package imports nothing itself: ``bot.infra.config`` reads ``settings`` without loading
the platform library.
"""
