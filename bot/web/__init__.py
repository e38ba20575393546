"""The web console: the KB's address, the ticket registration platform, service reports and a
chat playground, served by ``hisbot run`` beside the chat adapters on the same asyncio loop.

Server-rendered (FastAPI + Jinja2, autoescaped), every asset served from ``static/``. Pages are
thin: they authorise the viewer, call the same stores and ticket operations the chat desk uses,
and render. See ``bot/web/app.py`` for the routes' composition and the security rules.
"""
