"""The composition root's builders, by concern; ``bot.app`` calls them once, in order.

``knowledge`` (registry sync, KB import and index, the answer engine), ``platforms``
(adapters chosen from config, the playground, the desk chats), ``operations`` (SLA watch and
clocks, notices, retention), ``tickets`` (the ticket flow, desk cards, card outbox and the
frozen ``Services``), ``conversation`` (the pipeline, desk and features on the router, the
inbox), ``cluster`` (leases, takeover, desk roles), ``console`` (the web console's app).
Each takes its collaborators as arguments and returns what it built; none keeps state.
"""
