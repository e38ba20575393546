"""How the bot behaves in a busy hospital group, beside the decision itself.

The answer engine decides what one message is; these modules decide what the *conversation*
is: pieces of one question sent one after another (``pieces``), a person asking again about
their open ticket (``duplicates``), several people reporting one outage (``incident_flow``),
「还是不行」 after an answer or a resolution (``followups``), an engineer already talking to the
person (``presence``, ``skips``), thanks and greetings (``phrases``), one-tap category
corrections (``category_choices``, ``category_taps``). ``group.Group`` is what the pipeline
calls, one small hook per step; windows come from ``[bot.group]`` (``settings``).
"""
