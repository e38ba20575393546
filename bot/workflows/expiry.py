"""Telling the hospital and the desks, once, that a remote grant has run out.

The contract allows remote help only with the hospital's permission and for the time it agreed
to. The bot enforces the end wherever it checks a grant (``is_live``), but the remote tool is
outside the bot and keeps its session: so when the time is up the hospital's thread and the
engineers' desks are told that the permission has ended, and how to ask again. Each message
is keyed in the outbox (``remote-expired:<grant>:<where>``): a restart, a retry or a new
leader tells nobody twice. A grant whose end passed more than ``ANNOUNCE_WITHIN`` ago (a bot
that was down for days) is not announced any more: news that late misleads more than it helps.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

# APScheduler 3 ships no type information (see the wiring notes for a mypy override)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlmodel import col, select

from adapters.base import ChatRef, Reply
from bot.inbox.scope import SendDeferred
from bot.infra.clock import Clock, as_utc
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.infra.scheduling import add_interval_job, stop_scheduler
from bot.registry.models import Hospital
from bot.registry.sessions import read_session
from bot.tickets.models import Ticket
from bot.tickets.opening import hospital_thread
from bot.workflows.models import GrantStatus, RemoteGrant
from bot.workflows.times import shown

log = logging.getLogger(__name__)

#: How long after its end a grant is still announced.
ANNOUNCE_WITHIN = dt.timedelta(days=1)
#: How often the job looks for grants that have just run out.
CHECK_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Expired:
    """A grant that has run out, with what its messages need."""

    grant_id: int
    tool: str
    expires_at: dt.datetime
    ticket: Ticket
    hospital_name: str


def expired_grants(engine: Engine, now: dt.datetime) -> list[Expired]:
    """Granted, never revoked, and ended within ``ANNOUNCE_WITHIN`` of ``now`` (blocking)."""
    now = as_utc(now)
    query = (
        select(RemoteGrant, Ticket, Hospital)
        .join(Ticket, col(Ticket.id) == col(RemoteGrant.ticket_id))
        .join(Hospital, col(Hospital.id) == col(RemoteGrant.hospital_id))
        .where(
            col(RemoteGrant.status) == GrantStatus.GRANTED,
            col(RemoteGrant.revoked_at).is_(None),
            col(RemoteGrant.expires_at) <= now,
            col(RemoteGrant.expires_at) > now - ANNOUNCE_WITHIN,
        )
        .order_by(col(RemoteGrant.id))
    )
    with read_session(engine) as s:
        return [
            Expired(grant.id or 0, grant.tool, as_utc(grant.expires_at), ticket, hospital.name)
            for grant, ticket, hospital in s.exec(query).all()
            if grant.expires_at is not None
        ]


class GrantExpiry:
    """The leader's job that announces grants that have run out. Always on: the contract's
    remote rule holds for every deployment, and with no grants it is one small query a minute."""

    def __init__(
        self,
        *,
        db: Database,
        messenger: Messenger,
        desk_chats: Sequence[ChatRef],
        clock: Clock,
        zone: ZoneInfo,
    ) -> None:
        """``zone``: where the end time is shown (``[reports] timezone``)."""
        self._db = db
        self._messenger = messenger
        self._desk_chats = tuple(desk_chats)
        self._clock = clock
        self._zone = zone
        self._scheduler: AsyncIOScheduler | None = None
        #: Grants whose every message is out, and how many: not claimed again each minute of
        #: their announcing day (a restart forgets them; the keys still send nothing twice).
        self._told: dict[int, int] = {}

    async def announce(self) -> int:
        """Tell each grant's hospital thread and every desk that it has run out; returns how
        many of those messages are out (a message sent before counts, and is not sent again)."""
        now = self._clock()
        try:
            grants = await self._db.read(lambda: expired_grants(self._db.engine, now))
        except Exception:  # the next check tries again; the bot keeps serving
            log.exception("looking for expired remote grants failed")
            return 0
        # grants told in full earlier are not claimed again; only those still in their day stay
        told = {g.grant_id: self._told[g.grant_id] for g in grants if g.grant_id in self._told}
        out = sum(told.values())
        for grant in grants:
            if grant.grant_id in told:
                continue
            messages = self._messages(grant)
            sent = await self._send_all(grant.grant_id, messages)
            out += sent
            if sent == len(messages):
                told[grant.grant_id] = sent
        self._told = told
        return out

    async def _send_all(self, grant_id: int, messages: list[tuple[str, Reply]]) -> int:
        """Send each keyed message; returns how many are out (now or before)."""
        sent = 0
        for key, reply in messages:
            try:
                message = await self._messenger.send(reply, key=key)
            except SendDeferred:  # not delivered now (a long 429, an outage): next check
                log.warning("remote grant %d's expiry notice deferred", grant_id)
                continue
            sent += message is not None
        return sent

    def _messages(self, grant: Expired) -> list[tuple[str, Reply]]:
        until = shown(grant.expires_at, self._zone)
        number = grant.ticket.number
        out: list[tuple[str, Reply]] = []
        chat, question_id = hospital_thread(grant.ticket)
        if chat.platform in self._messenger.platforms:  # not a ticket registered on the web
            text = (
                f"工单 #{number}：远程协助授权（{grant.tool}）已于 {until} 到期，工程师不能再"
                "远程操作。如需继续，请工程师重新申请。"
            )
            reply = Reply(chat=chat, text=text, reply_to=question_id)
            out.append((f"remote-expired:{grant.grant_id}:hospital", reply))
        desk_text = (
            f"工单 #{number}：{grant.hospital_name} 的远程授权 {grant.grant_id}（{grant.tool}）"
            f"已于 {until} 到期，请结束远程会话；如需继续，请用 /remote 重新申请。"
        )
        for desk in self._desk_chats:
            key = f"remote-expired:{grant.grant_id}:{desk.platform}:{desk.chat_id}"
            out.append((key, Reply(chat=desk, text=desk_text)))
        return out

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)
        add_interval_job(
            self._scheduler,
            self.announce,
            every=CHECK_EVERY,
            first=dt.datetime.now(dt.UTC),
            job_id="remote-grant-expiry",
        )
        self._scheduler.start()

    async def stop(self) -> None:
        await stop_scheduler(self._scheduler)
        self._scheduler = None
