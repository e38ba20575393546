"""DingTalk edge of hisbot (Stream mode, many tenants): see ``adapter.DingTalkAdapter``.

Translates robot message and card callbacks into ``adapters.base`` objects and ``Reply``
objects into sessionWebhook / OpenAPI calls; never imports the core (``bot/``, ``intents/``,
``kb_index/``).

The package imports nothing itself: ``bot.infra.config`` reads ``settings`` without loading
the platform library.
"""
