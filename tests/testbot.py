"""An in-process test bot for pipeline behaviour: the real app and services (pipeline, ticket
store, desk, answer engine over the sample KB, temp SQLite) behind ``MemoryAdapter``, an
``Adapter`` with no network. Tests of what the bot *does* read like a chat::

    async with running_testbot(tmp_path, index_dir, CONFIG) as bot:
        await bot.say("医保结算报错2304", user=NURSE, chat=H1)
        answer = await bot.reply(chat=H1)
        await bot.press(answer, "没解决，转工程师", user=NURSE)

Platform behaviour (rendering, rate limits, retries) belongs to the adapter contract suite
(tests/contract) and the platform's own e2e tests, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.base import (
    ButtonPress,
    ChatRef,
    CoreHandlers,
    DeliveryError,
    IncomingMessage,
    MessageRef,
    Reply,
    Sender,
)
from adapters.budget import SendBudget
from bot.app import App, build_app
from bot.infra.config import Secrets, load_settings
from bot.infra.db import make_engine
from bot.tickets.store import TicketStore
from tests.contract.core import Changes
from tests.linked import watch_links

REPO = Path(__file__).resolve().parent.parent

# Two hospitals and two engineers on one platform (chat and user ids as on Telegram).
H1_CHAT, H2_CHAT, DESK, STRANGER_CHAT = -1001001, -1002002, -1009000, -1007777
WANG, LI = 5001, 5002
NURSE, CASHIER = 7001, 7002


def two_hospitals_config(telegram_extra: str = "") -> str:
    """第一/第二人民医院 on Telegram, 王工 (h001's dedicated engineer) and 李工 at the desk."""
    return f"""
[kb]
dir = "{REPO / "kb"}"
[telegram]
engineers_chat = {DESK}
{telegram_extra}
[[hospitals]]
id = "h001"
name = "第一人民医院"
dedicated_engineer = "e01"
telegram_chats = [{H1_CHAT}]
[[hospitals]]
id = "h002"
name = "第二人民医院"
telegram_chats = [{H2_CHAT}]
[[engineers]]
id = "e01"
name = "王工"
telegram_user = {WANG}
[[engineers]]
id = "e02"
name = "李工"
telegram_user = {LI}
"""


_TICKET_NO = re.compile(r"#(\d{4}-\d{6})")


def ticket_number(text: str | None) -> str:
    """The ticket number a message names (fails the test when it names none)."""
    m = _TICKET_NO.search(text or "")
    assert m, f"no ticket number in {text!r}"
    return m.group(1)


@dataclass
class Said:
    """One message the bot got into a chat; ``reply`` is its current content (edits applied)."""

    ref: MessageRef
    reply: Reply
    edits: list[Reply] = field(default_factory=list)

    @property
    def chat_id(self) -> str:
        return self.ref.chat_id

    @property
    def text(self) -> str:
        return self.reply.text

    @property
    def labels(self) -> list[str]:
        return [b.label for row in self.reply.buttons for b in row]


class MemoryAdapter:
    """An ``Adapter`` kept in memory: what the bot says is recorded in ``said``; chats in
    ``gone`` refuse sends permanently (the bot was removed)."""

    def __init__(self, platform: str = "telegram", budget: SendBudget | None = None) -> None:
        self.platform = platform
        #: What it declares as every chat's send budget (None: nothing, as the web chat).
        self.budget = budget
        self.said: list[Said] = []
        self.acknowledged: list[tuple[ButtonPress, str]] = []
        self.gone: set[str] = set()
        self.handlers: CoreHandlers | None = None
        self._ids = itertools.count(1_000_000)
        self.changes = Changes()
        #: Sends matching a predicate wait for its event (a slow platform for that message);
        #: ``held`` lists those waiting.
        self.holds: list[tuple[Callable[[Reply], bool], asyncio.Event]] = []
        self.held: list[Reply] = []

    def next_id(self) -> str:
        return str(next(self._ids))

    async def start(self, handlers: CoreHandlers) -> None:
        self.handlers = handlers

    async def stop(self) -> None:
        self.handlers = None

    def send_budget(self, chat: ChatRef) -> SendBudget | None:
        return self.budget

    async def send(self, reply: Reply) -> MessageRef:
        if reply.chat.chat_id in self.gone:
            raise DeliveryError(reply.chat, "bot was removed from the chat")
        for matches, release in self.holds:
            if matches(reply):
                self.held.append(reply)
                self.changes.bump()
                await release.wait()
        ref = MessageRef(self.platform, reply.chat.chat_id, self.next_id())
        self.said.append(Said(ref, reply))
        self.changes.bump()
        return ref

    async def edit(self, message: MessageRef, reply: Reply) -> None:
        said = next((s for s in self.said if s.ref == message), None)
        if said is None:
            raise DeliveryError(reply.chat, "message to edit not found")
        said.edits.append(reply)
        said.reply = reply
        self.changes.bump()

    async def acknowledge(self, press: ButtonPress, text: str = "") -> None:
        self.acknowledged.append((press, text))
        self.changes.bump()

    async def wait_until(
        self, predicate: Callable[[], bool], what: str, timeout: float = 20.0
    ) -> None:
        """Until ``predicate`` holds (woken by every send/edit); the timeout guards a hang."""
        await self.changes.wait_until(
            predicate,
            timeout,
            lambda: (
                f"timed out waiting for {what}; the bot said "
                f"{[(s.chat_id, s.text[:40]) for s in self.said]}"
            ),
        )


@dataclass
class TestBot:
    """The running app and its in-memory chat; see the module docstring."""

    __test__ = False  # not a pytest class

    app: App
    adapter: MemoryAdapter

    @property
    def replies(self) -> list[Said]:
        return self.adapter.said

    @property
    def tickets(self) -> TicketStore:
        return self.app.services.tickets

    def chat(self, chat_id: int | str) -> ChatRef:
        return ChatRef(self.adapter.platform, str(chat_id))

    async def say(
        self,
        text: str,
        *,
        user: int | str,
        chat: int | str,
        name: str = "",
        reply_to: Said | str | None = None,
        mentions_bot: bool = True,
    ) -> IncomingMessage:
        """``user`` writes ``text`` in ``chat``; returns once the core took the message."""
        assert self.adapter.handlers is not None, "the bot is not running"
        target = reply_to.ref.message_id if isinstance(reply_to, Said) else reply_to
        message = IncomingMessage(
            chat=self.chat(chat),
            message_id=self.adapter.next_id(),
            sender=Sender(str(user), name or str(user)),
            text=text,
            sent_at=dt.datetime.now(dt.UTC),
            reply_to_message_id=target,
            mentions_bot=mentions_bot or target is not None,
        )
        await self.adapter.handlers.on_message(message)
        return message

    async def press(self, said: Said, label: str, *, user: int | str, name: str = "") -> None:
        """``user`` presses the button labelled ``label`` on ``said``."""
        assert self.adapter.handlers is not None, "the bot is not running"
        (action,) = [b.action for row in said.reply.buttons for b in row if b.label == label]
        press = ButtonPress(
            said.ref, Sender(str(user), name or str(user)), action, press_id=self.adapter.next_id()
        )
        await self.adapter.handlers.on_button(press)

    async def reply(
        self, *, chat: int | str, where: Callable[[Said], bool] = lambda _: True
    ) -> Said:
        """The first message the bot said in ``chat`` that matches ``where`` (waits for it)."""

        def found() -> Said | None:
            return next((s for s in self.said_in(chat) if where(s)), None)

        await self.adapter.wait_until(lambda: found() is not None, f"a reply in chat {chat}")
        said = found()
        assert said is not None
        return said

    def said_in(self, chat: int | str) -> list[Said]:
        return [s for s in self.adapter.said if s.chat_id == str(chat)]


@contextlib.asynccontextmanager
async def running_testbot(
    tmp_path: Path,
    index_dir: Path,
    config: str,
    *,
    platform: str = "telegram",
    budget: SendBudget | None = None,
) -> AsyncIterator[TestBot]:
    """The app built from ``config`` (TOML; a ``[storage]`` on ``tmp_path`` is added) with a
    ``MemoryAdapter`` for ``platform`` declaring ``budget``; ``index_dir`` is shared so the KB
    is embedded once."""
    path = tmp_path / "config.toml"
    path.write_text(config + f'\n[storage]\nurl = "sqlite:///{tmp_path}/bot.db"\n', "utf-8")
    settings = load_settings(path)
    settings = dataclasses.replace(
        settings, kb=dataclasses.replace(settings.kb, index_dir=str(index_dir))
    )
    adapter = MemoryAdapter(platform, budget)
    app = build_app(
        settings, Secrets.from_env({}), db=make_engine(settings.storage_url), adapters=[adapter]
    )
    watch_links(app)  # tests quoting a bot message wait until it is linked (until_linked)
    await app.start()
    try:
        yield TestBot(app, adapter)
    finally:
        await app.stop()
