"""Slack identifiers both directions share: the platform name, message timestamps (``ts``),
the message ids made up for slash commands, and the ``action_id`` prefix of our buttons."""

from __future__ import annotations

import datetime as dt
import re

PLATFORM = "slack"
#: action_id prefix of our buttons (``hisbot:<n>``); the adapter listens to exactly these.
ACTION_PREFIX = "hisbot:"

#: Message ids the adapter makes up for slash commands: ``cmd:<user id>:<trigger id>``.
#: A reply to one is delivered ephemerally to that user (see ``SlackAdapter.send``).
COMMAND_REF_PREFIX = "cmd:"

_TS = re.compile(r"^\d+\.\d+$")


def is_ts(value: str | None) -> bool:
    """Whether ``value`` looks like a Slack message timestamp ("1712345678.123456")."""
    return bool(value) and _TS.match(value or "") is not None


def ts_to_datetime(ts: str | None) -> dt.datetime:
    """A Slack ``ts`` as an aware UTC datetime (now, if missing or malformed)."""
    try:
        return dt.datetime.fromtimestamp(float(ts or ""), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return dt.datetime.now(dt.UTC)


def command_message_id(user_id: str, trigger_id: str) -> str:
    """The made-up message id of a slash command invocation (it has no Slack message)."""
    return f"{COMMAND_REF_PREFIX}{user_id}:{trigger_id}"


def command_user(message_id: str | None) -> str | None:
    """The invoking user of a ``command_message_id``, or None for a real message id."""
    if not message_id or not message_id.startswith(COMMAND_REF_PREFIX):
        return None
    user = message_id[len(COMMAND_REF_PREFIX) :].split(":", 1)[0]
    return user or None
