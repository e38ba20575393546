"""The KB loop: from tickets and unanswered questions to reviewed articles, and back.

* ``labels``: when an engineer resolves an escalated question, one tap records which article
  answers it (or none, or "a new article is needed"); these labels are the deployment's own
  query set (``history``) for ``hisbot kb eval/calibrate --from-history``.
* ``problems``: resolved tickets and unanswered questions grouped into common problems
  (embedding clustering + category), ranked by frequency and hospitals hit.
* ``drafting``: a KB-format draft from a group's tickets (redacted through the one gate), or,
  when an article nearly covers the group, a proposal to add the hospitals' phrasings to it.
"""
