"""A hospital user's message the conversation layer acts on, and how such a message is
recorded as part of an earlier conversation."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import ChatRef, IncomingMessage
from bot.conversation.exchanges import Exchange, ExchangeStore, Outcome
from bot.registry.models import Hospital
from bot.tickets.store import Actor


@dataclass(frozen=True)
class Said:
    """A hospital user's message the bot acts on (a chat message, or a recorded follow-up)."""

    chat: ChatRef
    message_id: str
    user_id: str
    name: str
    text: str

    @classmethod
    def of(cls, msg: IncomingMessage, text: str) -> Said:
        return cls(msg.chat, msg.message_id, msg.sender.user_id, msg.sender.display_name, text)

    def author(self, hospital: Hospital) -> Actor:
        return Actor.hospital_user(hospital.id, self.chat.platform, self.user_id, self.name)


def record(
    exchanges: ExchangeStore,
    hospital: Hospital,
    said: Said,
    thread_root: str,
    outcome: Outcome,
    decision: str = "follow_up",
) -> Exchange:
    """Record a message that is part of an earlier conversation (not a question of its own:
    the reports do not count ``follow_up``). A write: call it through the gateway."""
    return exchanges.record(
        hospital_id=hospital.id,
        platform=said.chat.platform,
        chat_id=said.chat.chat_id,
        thread_root=thread_root,
        question_message_id=said.message_id,
        reporter_user_id=said.user_id,
        reporter_name=said.name,
        question=said.text,
        decision=decision,
        article_ids=[],
        confidence=0.0,
        outcome=outcome,
    )
