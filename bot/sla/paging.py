"""Paging engineers: a direct message on each platform they are registered on, with a 收到
button, and a POST to the phone/SMS paging service's webhook.

A Telegram engineer must have opened a private chat with the bot once (Telegram lets a bot
write only to users who started it); a Slack engineer is written to by user id (Slack opens
the DM). What was reached is returned, so the hospital and the audit trail are told the truth.

A private chat takes about one message a second (Telegram), so in a storm of P1s the pages to
one engineer would queue one per second; instead the pages waiting while one is being sent
go out together in the next message (each with its 收到 button).

Every send is keyed in the outbox by the step it belongs to (``Page.key``: ticket, clock,
step, round) and its recipient, so a step carried out again after a crash or a leader change
sends only what it had not: each page's own key is claimed before the message carrying it
(a batch's message has a key of its own, the first page's with ``+``), and a page already
sent, or whose outcome is unknown, is left out of the next batch — reported as reached, or as
unknown (never re-sent). Every key is claimed like any keyed send (``Messenger.claim``):
``queued`` while the message waits in the adapter's rate limiter and ``sending`` with the
message when the limiter lets it go, so a page still waiting at a ``kill -9`` is sent by the
step's replay, once, and never reported unknown. The webhook's POST is keyed the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from enum import StrEnum

import aiohttp

from adapters.base import Button, ChatRef, Reply
from bot.inbox.models import OutboxState
from bot.inbox.store import OutboxStore
from bot.infra.clock import Clock, as_utc
from bot.infra.gateway import Database
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
    #: The step's key (``Firing.key``): the prefix of every send's outbox key.
    key: str


class Outcome(StrEnum):
    """What became of one page to one chat (its outbox row's state)."""

    REACHED = "reached"
    UNKNOWN = "unknown"  # the request went out and no answer came: maybe delivered
    MISSED = "missed"  # refused, or proven undelivered


def _outcome(state: str) -> Outcome:
    """What an outbox row's state says of a page it recorded."""
    if state == OutboxState.SENT:
        return Outcome.REACHED
    if state == OutboxState.FAILED:
        return Outcome.MISSED
    #: unknown, or ``sending``: left by a worker that died, or held by another one now
    return Outcome.UNKNOWN


@dataclass(frozen=True)
class PageResult:
    at: dt.datetime
    #: (engineer id, engineer name, platform) of every direct message that was delivered.
    reached: tuple[tuple[str, str, str], ...]
    #: Engineers no direct message reached (no account, or every send failed).
    unreached: tuple[str, ...]
    #: "" (no webhook configured), "ok", or why the webhook failed.
    webhook: str
    #: (engineer id, name, platform) of every direct message whose outcome is unknown (a
    #: timeout after the request went out, a worker that died mid-send): not re-sent.
    unknown: tuple[tuple[str, str, str], ...] = ()

    @property
    def reached_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name, _ in self.reached))

    def summary(self) -> str:
        """One line for the audit trail."""
        parts = [f"{name}（{platform}）" for _, name, platform in self.reached]
        line = "已私信 " + "、".join(parts) if parts else "私信未送达任何人"
        if self.unknown:
            maybe = "、".join(f"{name}（{platform}）" for _, name, platform in self.unknown)
            line += f"；呼叫结果未知（未重发）：{maybe}"
        if self.unreached:
            line += "；未送达：" + "、".join(self.unreached)
        if self.webhook:
            line += f"；呼叫服务：{self.webhook}"
        return line


@dataclass
class _Waiting:
    """The pages waiting for one chat's next message, and who awaits each."""

    pages: list[tuple[Page, str, asyncio.Future[Outcome]]] = field(default_factory=list)


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
    """``outbox``: where each page's key is claimed and recorded, through ``db``; it must be
    the outbox ``messenger`` records its keyed sends in (a batch's outcome is read from the
    message's row)."""

    def __init__(
        self,
        registry: RegistryStore,
        messenger: Messenger,
        settings: SlaSettings,
        clock: Clock,
        db: Database,
        outbox: OutboxStore,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self._registry = registry
        self._messenger = messenger
        self._db = db
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        self._http = http
        self._waiting: dict[ChatRef, _Waiting] = {}
        self._senders: set[asyncio.Task[None]] = set()

    async def page(self, page: Page) -> PageResult:
        at = as_utc(self._clock())
        sends = [self._message(engineer_id, page) for engineer_id in page.engineer_ids]
        outcomes = await asyncio.gather(*sends)
        found = [o for per_engineer in outcomes for o in per_engineer]
        reached = tuple(who for who, outcome in found if outcome is Outcome.REACHED)
        unknown = tuple(who for who, outcome in found if outcome is Outcome.UNKNOWN)
        told = {engineer_id for engineer_id, _, _ in (*reached, *unknown)}
        unreached = tuple(e for e in page.engineer_ids if e not in told)
        webhook = await self._webhook(page, at) if self._settings.webhook_url else ""
        return PageResult(at, reached, unreached, webhook, unknown)

    async def _message(
        self, engineer_id: str, page: Page
    ) -> list[tuple[tuple[str, str, str], Outcome]]:
        registry = self._registry
        engineer = await self._db.read(lambda: registry.get_engineer(engineer_id))
        identities = await self._db.read(lambda: registry.identities_of(engineer_id))
        name = engineer.name if engineer else engineer_id
        out = []
        for identity in identities:
            if (
                identity.platform not in _DM_PLATFORMS
                or identity.platform not in self._messenger.platforms
            ):
                continue
            chat = ChatRef(identity.platform, identity.platform_user_id)
            key = f"{page.key}:dm:{chat.platform}:{chat.chat_id}"
            outcome = await self._deliver(chat, page, key)
            out.append(((engineer_id, name, identity.platform), outcome))
        return out

    async def _deliver(self, chat: ChatRef, page: Page, key: str) -> Outcome:
        """Send ``page`` to ``chat`` in the chat's next message (with every other page waiting
        for it), keyed ``key``; what became of it."""
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(chat)
        if waiting is None:
            waiting = self._waiting[chat] = _Waiting()
            sender = asyncio.create_task(self._send_waiting(chat, waiting), name="page-sender")
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        waiting.pages.append((page, key, done))
        return await done

    async def _send_waiting(self, chat: ChatRef, waiting: _Waiting) -> None:
        """One message at a time to ``chat``, each carrying every page waiting then."""
        try:
            while waiting.pages:
                batch, waiting.pages = waiting.pages, []
                try:
                    outcomes = await self._send_batch(chat, [(p, key) for p, key, _ in batch])
                except Exception as exc:  # handed to each waiter, whose page() reports it
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for _, key, done in batch:
                    if not done.done():
                        done.set_result(outcomes[key])
        finally:
            del self._waiting[chat]

    async def _send_batch(self, chat: ChatRef, batch: list[tuple[Page, str]]) -> dict[str, Outcome]:
        """Claim each page's key, send the pages nobody sent before as one message, and record
        its outcome under every key it carried."""
        outbox, keys = self._outbox, [key for _, key in batch]
        # ``queued`` while the message waits in the adapter's limiter: ``sending`` with it
        prior = await self._messenger.claim(keys, chat)
        outcomes = {key: _outcome(row.state) for key, row in prior.items() if row is not None}
        fresh = [(page, key) for page, key in batch if prior[key] is None]
        if not fresh:
            return outcomes
        carried = [key for _, key in fresh]
        message_key = f"{carried[0]}+{len(carried)}" if len(carried) > 1 else f"{carried[0]}+"
        reply = _page_reply(chat, [page for page, _ in fresh])
        # a crash before the limiter lets it go leaves the keys ``queued``: the step's replay
        # sends them; from then on ``sending``: unknown once this worker is dead
        await self._messenger.send(reply, key=message_key, retry_later=True, carries=carried)
        row = await self._db.read(lambda: outbox.get(message_key))
        if row is None:  # proven undelivered and released: a later attempt may send them
            await self._db.write(lambda: outbox.release(carried))
            outcomes.update((key, Outcome.MISSED) for key in carried)
            return outcomes
        state = OutboxState(row.state)
        if state is OutboxState.QUEUED:  # taken over while queued: another worker sends it
            outcomes.update((key, Outcome.UNKNOWN) for key in carried)
            return outcomes
        if state is OutboxState.SENDING:  # another worker holds the message key: unknown here
            state = OutboxState.UNKNOWN
        message_id, error = row.message_id, row.error
        await self._db.write(lambda: outbox.record(carried, state, message_id, error))
        outcomes.update((key, _outcome(state)) for key in carried)
        return outcomes

    async def _webhook(self, page: Page, at: dt.datetime) -> str:
        """POST the page once per step (keyed like a message); what the audit line says."""
        outbox, key = self._outbox, f"{page.key}:webhook"
        prior = await self._db.write(lambda: outbox.claim(key, "webhook", "paging"))
        if prior is not None:
            return {Outcome.REACHED: "ok", Outcome.MISSED: "失败"}.get(
                _outcome(prior.state), "结果未知（未重发）"
            )
        state, told = await self._post(page, at)
        if state is None:  # proven not delivered: a later attempt of this step may try again
            await self._db.write(lambda: outbox.release(key))
        else:
            await self._db.write(lambda: outbox.record(key, state, None, told))
        return told

    async def _post(self, page: Page, at: dt.datetime) -> tuple[OutboxState | None, str]:
        """The POST itself: (the outbox state to record, None if proven undelivered; the audit
        text)."""
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
        except aiohttp.ClientConnectorError as exc:  # never connected: the POST did not arrive
            log.warning("paging webhook failed: %s", type(exc).__name__)
            return None, f"失败（{type(exc).__name__}）"
        except (aiohttp.ClientError, TimeoutError) as exc:  # sent, no answer: maybe delivered
            log.warning("paging webhook outcome unknown: %s", type(exc).__name__)
            return OutboxState.UNKNOWN, f"结果未知（{type(exc).__name__}，未重发）"
        if status >= 300:
            log.warning("paging webhook answered HTTP %d", status)
            return None, f"失败（HTTP {status}）"
        return OutboxState.SENT, "ok"
