"""Paging engineers: a direct message on each platform they are registered on, with a 收到
button, and a POST to the phone/SMS paging service's webhook.

A Telegram engineer must have opened a private chat with the bot once (Telegram lets a bot
write only to users who started it); a Slack engineer is written to by user id (Slack opens
the DM). What was reached is returned, so the hospital and the audit trail are told the truth.

A private chat takes about one message a second (Telegram), so in a storm of P1s the pages to
one engineer would queue one per second; instead the pages waiting while one is being sent
go out together in the next message (each with its 收到 button).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import aiohttp

from adapters.base import Button, ChatRef, Reply
from bot.infra.clock import Clock, as_utc
from bot.infra.messenger import Messenger
from bot.registry.store import RegistryStore
from bot.routing import encode
from bot.sla.actions import AckPage
from bot.sla.settings import SlaSettings

log = logging.getLogger(__name__)

#: Platforms a person can be written to directly ("web" is the playground: no DMs).
_DM_PLATFORMS = ("telegram", "slack", "dingtalk", "wecom")


@dataclass(frozen=True)
class Page:
    number: str
    urgency: str
    hospital: str
    text: str
    engineer_ids: tuple[str, ...]


@dataclass(frozen=True)
class PageResult:
    at: dt.datetime
    #: (engineer id, engineer name, platform) of every direct message that was delivered.
    reached: tuple[tuple[str, str, str], ...]
    #: Engineers no direct message reached (no account, or every send failed).
    unreached: tuple[str, ...]
    #: "" (no webhook configured), "ok", or why the webhook failed.
    webhook: str

    @property
    def reached_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name, _ in self.reached))

    def summary(self) -> str:
        """One line for the audit trail."""
        parts = [f"{name}（{platform}）" for _, name, platform in self.reached]
        line = "已私信 " + "、".join(parts) if parts else "私信未送达任何人"
        if self.unreached:
            line += "；未送达：" + "、".join(self.unreached)
        if self.webhook:
            line += f"；呼叫服务：{self.webhook}"
        return line


@dataclass
class _Waiting:
    """The pages waiting for one chat's next message, and who awaits each."""

    pages: list[tuple[Page, asyncio.Future[bool]]] = field(default_factory=list)


def _page_reply(chat: ChatRef, pages: list[Page]) -> Reply:
    """One page as it is; several as one message listing each, a 收到 button per ticket."""
    if len(pages) == 1:
        text = pages[0].text
    else:
        text = f"🚨 {len(pages)} 条呼叫：\n\n" + "\n\n".join(p.text for p in pages)
    label = "收到，我来处理" if len(pages) == 1 else "收到 #{}"
    buttons = tuple(
        (Button(label.format(p.number), encode(AckPage(p.number))),)
        for p in dict((p.number, p) for p in pages).values()
    )
    return Reply(chat=chat, text=text, buttons=buttons, priority=True)


class Pager:
    def __init__(
        self,
        registry: RegistryStore,
        messenger: Messenger,
        settings: SlaSettings,
        clock: Clock,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self._registry = registry
        self._messenger = messenger
        self._settings = settings
        self._clock = clock
        self._http = http
        self._waiting: dict[ChatRef, _Waiting] = {}
        self._senders: set[asyncio.Task[None]] = set()

    async def page(self, page: Page) -> PageResult:
        at = as_utc(self._clock())
        sends = [self._message(engineer_id, page) for engineer_id in page.engineer_ids]
        reached_lists = await asyncio.gather(*sends)
        reached = tuple(r for found in reached_lists for r in found)
        unreached = tuple(
            e for e, found in zip(page.engineer_ids, reached_lists, strict=True) if not found
        )
        webhook = await self._webhook(page, at) if self._settings.webhook_url else ""
        return PageResult(at, reached, unreached, webhook)

    async def _message(self, engineer_id: str, page: Page) -> list[tuple[str, str, str]]:
        engineer = await asyncio.to_thread(self._registry.get_engineer, engineer_id)
        identities = await asyncio.to_thread(self._registry.identities_of, engineer_id)
        name = engineer.name if engineer else engineer_id
        reached = []
        for identity in identities:
            if (
                identity.platform not in _DM_PLATFORMS
                or identity.platform not in self._messenger.platforms
            ):
                continue
            chat = ChatRef(identity.platform, identity.platform_user_id)
            if await self._deliver(chat, page):
                reached.append((engineer_id, name, identity.platform))
        return reached

    async def _deliver(self, chat: ChatRef, page: Page) -> bool:
        """Send ``page`` to ``chat`` in the chat's next message (with every other page waiting
        for it); True once delivered."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(chat)
        if waiting is None:
            waiting = self._waiting[chat] = _Waiting()
            sender = asyncio.create_task(self._send_waiting(chat, waiting), name="page-sender")
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        waiting.pages.append((page, done))
        return await done

    async def _send_waiting(self, chat: ChatRef, waiting: _Waiting) -> None:
        """One message at a time to ``chat``, each carrying every page waiting then."""
        try:
            while waiting.pages:
                batch, waiting.pages = waiting.pages, []
                try:
                    sent = await self._messenger.send(_page_reply(chat, [p for p, _ in batch]))
                except Exception as exc:  # handed to each waiter, whose page() reports it
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for _, done in batch:
                    if not done.done():
                        done.set_result(sent is not None)
        finally:
            del self._waiting[chat]

    async def _webhook(self, page: Page, at: dt.datetime) -> str:
        body = {
            "ticket": page.number,
            "urgency": page.urgency,
            "hospital": page.hospital,
            "engineers": list(page.engineer_ids),
            "text": page.text,
            "at": at.replace(tzinfo=dt.UTC).isoformat(),
        }
        timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout)
        try:
            if self._http is not None:
                async with self._http.post(
                    self._settings.webhook_url, json=body, timeout=timeout
                ) as r:
                    status = r.status
            else:
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(self._settings.webhook_url, json=body, timeout=timeout) as r,
                ):
                    status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("paging webhook failed: %s", type(exc).__name__)
            return f"失败（{type(exc).__name__}）"
        if status >= 300:
            log.warning("paging webhook answered HTTP %d", status)
            return f"失败（HTTP {status}）"
        return "ok"
