"""What a contract test sees of a platform: the ``Platform`` harness interface, the declared
``Capability`` gaps, and ``Shown`` (a bot message as the chat shows it)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from adapters.base import Adapter, ButtonPress, ChatRef, MessageRef
from tests.contract.core import RecordingCore


@dataclass(frozen=True)
class Shown:
    """A bot message as the chat shows it now (edits applied), in neutral terms."""

    text: str
    #: The ``Button.action`` each button carries back when pressed.
    actions: list[str]
    #: The platform users the message mentions (ids as the core gave them).
    mentions: list[str]
    #: The message it answers (reply, thread root or the question it is bound to).
    reply_to: str | None


class Capability(enum.Enum):
    """What the contract asks that some platform genuinely cannot do."""

    #: A group message that does not address the bot still reaches it.
    UNADDRESSED = "unaddressed group messages"
    #: A user's file reaches the bot, with its caption.
    FILES = "files"
    #: A button press is answered with a text shown to the presser.
    TOAST = "press acknowledgements"
    #: The bot's answer quotes (or threads under) the question it answers.
    QUOTE = "quoted replies"
    #: A send tells the core when its rate limiter lets it go (``ReleasesSends``); without it
    #: the core marks a send under way before handing it over.
    RELEASE = "sends released from the rate limiter"


class Platform:
    """A running adapter, its fake and the moves of a user on that platform."""

    name: str
    #: What this platform cannot do, and why (its fallback is what the contract checks).
    lacks: ClassVar[Mapping[Capability, str]] = {}
    #: A group chat with the bot in it, and a colleague the core may mention.
    group: ChatRef
    engineer: str
    adapter: Adapter
    core: RecordingCore

    async def user_says(self, text: str, *, reply_to: MessageRef | None = None) -> str:
        """A user @-mentions the bot in ``group`` (replying to/quoting ``reply_to``); returns
        the platform's id of the message."""
        raise NotImplementedError

    def can(self, capability: Capability) -> bool:
        return capability not in self.lacks

    async def user_chats(self, text: str) -> str:
        """A user says ``text`` in ``group`` without addressing the bot (``UNADDRESSED``)."""
        raise NotImplementedError

    async def user_sends_file(self, caption: str, name: str, content: bytes) -> str:
        """A user @-mentions the bot with a file attached (``FILES``)."""
        raise NotImplementedError

    def shown(self, ref: MessageRef) -> Shown:
        raise NotImplementedError

    async def press(self, ref: MessageRef, action: str) -> None:
        """A user presses the button of ``ref`` that carries ``action``."""
        raise NotImplementedError

    def acknowledged(self, press: ButtonPress) -> list[str]:
        """The texts the presser was shown in answer to ``press`` (``TOAST``)."""
        raise NotImplementedError

    def throttle_next_sends(self, times: int) -> None:
        """The platform refuses the next ``times`` sends with its rate-limit answer."""
        raise NotImplementedError

    async def remove_bot(self) -> ChatRef:
        """The bot is removed from a chat (or the chat is gone); returns that chat."""
        raise NotImplementedError

    def sends(self) -> int:
        """How many messages the bot got into chats so far (parts of a split message count)."""
        raise NotImplementedError
