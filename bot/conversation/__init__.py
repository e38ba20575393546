"""How the bot behaves in a busy hospital group, beside the decision itself.

The answer engine decides what one message is; these modules decide what the *conversation*
is: pieces of one question sent one after another (``pieces``), a person asking again about
their open ticket (``duplicates``), 「还是不行」 after an answer or a resolution
(``followups``), an engineer already talking to the person (``presence``), thanks and
greetings (``phrases``). The pipeline calls each through one small hook.
"""
