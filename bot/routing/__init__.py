"""Routing: typed button actions (``actions``) and the router of commands, actions and
message hooks (``router``) that features register with from the composition root."""

from bot.routing.actions import ActionCodec, ActionError, MaxBytes, action, encode
from bot.routing.router import CommandCall, Router, Scope, parse_command

__all__ = [
    "ActionCodec",
    "ActionError",
    "CommandCall",
    "MaxBytes",
    "Router",
    "Scope",
    "action",
    "encode",
    "parse_command",
]
