"""The desk's queue of cards: urgent cards first, non-urgent ones paced, digests in a storm.

One Telegram group takes about 20 messages a minute. ``outbox.py`` decides what the desk chat
gets next (a P1/P2 card at once, a non-urgent card only while the chat's rate leaves room for
an urgent one, one digest instead of many cards when the backlog outgrows the rate);
``store.py`` records which tickets a digest covered; ``digest.py`` renders it.
"""
