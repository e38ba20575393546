"""Personal data: one redaction gate for every text that is stored or shown, and erasure.

``gate`` masks personal data (``bot.redact``) wherever text enters or leaves: chat messages
at the pipeline's edge, replies on their way to any platform, and every personal-text column
on its way into the database. ``purge`` erases what was kept (by ticket, hospital, phone or
ID number, or age) and leaves in the audit trail only *that* it was erased, by whom and when.
"""
