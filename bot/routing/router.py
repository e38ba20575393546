"""The router: commands by name and scope, typed button actions, ordered message hooks.

Features register here from the composition root (``bot/app.py``), explicitly — no plugin
discovery. The rules are python-telegram-bot's ``Application``: handlers are tried in a
defined order, the first that takes the update wins, and a clash is an error when it is
registered (a command registered twice in one scope, an action prefix or type taken twice),
never a question of which module happened to be called first.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Flag, auto
from typing import Any, TypeVar

from adapters.base import ButtonPress, IncomingMessage, Reply
from bot.registry.models import Engineer, Hospital
from bot.routing.actions import ActionCodec, ActionError

A = TypeVar("A")

_COMMAND = re.compile(r"^/(\w+)(?:@\w+)?\s*(.*)$", re.S)


def parse_command(text: str) -> tuple[str, str] | None:
    """``/name args`` (a ``/name@botname`` suffix is allowed) → (name, args)."""
    m = _COMMAND.match(text.strip())
    return (m.group(1).lower(), m.group(2).strip()) if m else None


class Scope(Flag):
    """Where a command may be typed: the engineers' desk, a hospital's group, or both."""

    DESK = auto()
    HOSPITAL = auto()
    BOTH = DESK | HOSPITAL


@dataclass(frozen=True)
class CommandCall:
    """One command as typed: ``engineer`` is the sender's record in a desk chat (None when
    the sender is not a registered engineer), ``hospital`` the group's hospital elsewhere."""

    msg: IncomingMessage
    name: str
    args: str
    scope: Scope
    engineer: Engineer | None = None
    hospital: Hospital | None = None

    def reply(self, text: str) -> Reply:
        """The answer to the command, in its chat, replying to it."""
        return Reply(chat=self.msg.chat, text=text, reply_to=self.msg.message_id)


CommandHandler = Callable[[CommandCall], Awaitable[None]]
#: A hook sees every hospital message that is not a command, before the question path; it
#: returns True when it has taken the message (the rest, and the question path, are skipped).
MessageHook = Callable[[IncomingMessage, Hospital, str], Awaitable[bool]]


@dataclass(frozen=True)
class Command:
    name: str
    scope: Scope
    handler: CommandHandler
    #: In a desk chat, only registered engineers may run it (others are told so); False for a
    #: command that checks (and audits) its callers itself, like ``/notice``.
    engineers_only: bool = True


class Router:
    def __init__(self) -> None:
        self.actions = ActionCodec()
        self._commands: dict[tuple[str, Scope], Command] = {}
        self._buttons: dict[type[Any], Callable[[ButtonPress, Any], Awaitable[None]]] = {}
        self._hooks: list[tuple[str, MessageHook]] = []

    # ---- registration -------------------------------------------------------------------

    def command(
        self,
        name: str,
        scope: Scope,
        handler: CommandHandler,
        *,
        engineers_only: bool = True,
    ) -> None:
        name = name.lower()
        if not re.fullmatch(r"\w+", name):
            raise ActionError(f"command name {name!r}: letters, digits and '_' only")
        for one in (Scope.DESK, Scope.HOSPITAL):
            if one in scope and (name, one) in self._commands:
                where = "desk" if one is Scope.DESK else "hospital"
                raise ActionError(f"/{name} is already registered in {where} chats")
        command = Command(name, scope, handler, engineers_only)
        for one in (Scope.DESK, Scope.HOSPITAL):
            if one in scope:
                self._commands[(name, one)] = command

    def action(self, cls: type[A], handler: Callable[[ButtonPress, A], Awaitable[None]]) -> None:
        """Route presses of ``cls``'s buttons to ``handler``; its prefix must be free."""
        self.actions.register(cls)
        self._buttons[cls] = handler

    def hook(self, name: str, hook: MessageHook) -> None:
        """Add a message hook after the ones already registered (order is the call order)."""
        if any(known == name for known, _ in self._hooks):
            raise ActionError(f"message hook {name!r} is already registered")
        self._hooks.append((name, hook))

    # ---- dispatch -----------------------------------------------------------------------

    def find_command(self, name: str, scope: Scope) -> Command | None:
        return self._commands.get((name, scope))

    def commands(self, scope: Scope) -> list[str]:
        """The command names of one scope, sorted (for help texts)."""
        return sorted(name for name, one in self._commands if one is scope)

    async def press(self, press: ButtonPress) -> bool:
        """Run the handler of the press's action; False when the button carries no
        registered action (the caller tells the user it is no longer valid)."""
        value = self.actions.decode(press.action)
        if value is None:
            return False
        await self._buttons[type(value)](press, value)
        return True

    async def hooks(self, msg: IncomingMessage, hospital: Hospital, text: str) -> bool:
        for _, hook in self._hooks:
            if await hook(msg, hospital, text):
                return True
        return False
