"""Slack edge of hisbot (slack-bolt async): see ``adapter.SlackAdapter``.

Translates Events API / interactivity / slash-command payloads into ``adapters.base`` objects
and ``Reply`` objects into Web API calls; never imports the core (``bot/``, ``intents/``,
``kb_index/``).

The package imports nothing itself: ``bot.infra.config`` reads ``settings`` without loading
the platform library.
"""
