"""Replies relayed to the worker that holds a platform's connection.

WeCom sends only over the bot's one long connection (a reply by req_id, a proactive
``aibot_send_msg``), and with several workers only the holder of ``receive:wecom`` has it. A
send on another worker — a desk card from the leader, a notice, an engineer's relay handled
where the desk's event landed, the console — is queued here in the shared database; the holder
takes it (``FOR UPDATE SKIP LOCKED``), sends it and writes the outcome, which the asker reads
back: the message's ref, or the ``DeliveryError`` the holder got.

The asker waits ``timeout`` seconds (longer than a lease takeover). A reply nobody took by then
is cancelled — known not sent, so the asker's outbox or inbox tries again later (the holder
takes no row older than ``timeout`` minus a margin, so this holds even when the cancel cannot
reach the database); one taken but not answered (the holder died mid-send) is outcome unknown,
never sent again blindly. The asker deletes its row once read; rows of an asker that died are
purged later.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from adapters.base import (
    Button,
    ChatRef,
    Citation,
    DeliveryError,
    MessageRef,
    Reply,
    SendsOverItsConnection,
)
from bot.cluster.models import RelayedSend
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.registry.sessions import write_session

log = logging.getLogger(__name__)

#: Seconds an asker waits for its reply to be taken (a takeover needs up to ~7.5 s).
RELAY_TIMEOUT = 15.0
#: Seconds between two looks at the table (the asker at its row, the holder for new rows).
RELAY_POLL = 0.1
#: Seconds before the asker's ``RELAY_TIMEOUT`` after which the holder no longer takes a row.
TAKE_MARGIN = 2.0
#: Replies the holder sends at once (each waits out the platform's limits by itself).
RELAY_CONCURRENCY = 16

QUEUED, TAKEN, SENT, FAILED, CANCELLED = "queued", "taken", "sent", "failed", "cancelled"


def encode_reply(reply: Reply) -> str:
    return json.dumps(dataclasses.asdict(reply), ensure_ascii=False, separators=(",", ":"))


def decode_reply(payload: str) -> Reply:
    data: dict[str, Any] = json.loads(payload)
    citation = data["citation"]
    return Reply(
        chat=ChatRef(**data["chat"]),
        text=data["text"],
        reply_to=data["reply_to"],
        citation=Citation(**citation) if citation else None,
        buttons=tuple(tuple(Button(**b) for b in row) for row in data["buttons"]),
        mention_user_ids=tuple(data["mention_user_ids"]),
    )


class RelayStore:
    """The ``relayed_send`` table (blocking: through the gateway from async code)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def queue(self, platform: str, chat_id: str, payload: str) -> int:
        row = RelayedSend(
            platform=platform, chat_id=chat_id, payload=payload, created_at=self._clock()
        )
        with write_session(self._engine) as s:
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def outcome(self, relay_id: int) -> RelayedSend | None:
        with Session(self._engine) as s:
            return s.get(RelayedSend, relay_id)

    def cancel(self, relay_id: int) -> bool:
        """Queued → cancelled; False when the holder took it first."""
        with write_session(self._engine) as s:
            done = s.execute(
                update(RelayedSend)
                .where(col(RelayedSend.id) == relay_id, col(RelayedSend.state) == QUEUED)
                .values(state=CANCELLED, payload="")
                .returning(col(RelayedSend.id))
            ).first()
            return done is not None

    def forget(self, relay_id: int) -> None:
        with write_session(self._engine) as s:
            s.execute(delete(RelayedSend).where(col(RelayedSend.id) == relay_id))

    def take(
        self, platform: str, owner: str, limit: int, fresh: dt.timedelta
    ) -> list[tuple[int, str]]:
        """Take up to ``limit`` queued rows of ``platform`` younger than ``fresh`` (older ones
        their asker counts as not sent; rows another holder is taking are skipped), after
        purging rows twice that old (their asker died or stopped waiting)."""
        now = self._clock()
        with write_session(self._engine) as s:
            s.execute(delete(RelayedSend).where(col(RelayedSend.created_at) < now - 2 * fresh))
            rows = s.execute(
                select(col(RelayedSend.id), col(RelayedSend.payload))
                .where(
                    col(RelayedSend.platform) == platform,
                    col(RelayedSend.state) == QUEUED,
                    col(RelayedSend.created_at) >= now - fresh,
                )
                .order_by(col(RelayedSend.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            taken = [(int(i), str(p)) for i, p in rows]
            if taken:
                s.execute(
                    update(RelayedSend)
                    .where(col(RelayedSend.id).in_([i for i, _ in taken]))
                    .values(state=TAKEN, taken_by=owner)
                )
            return taken

    def answer(self, relay_id: int, sent: MessageRef | None, failure: DeliveryError | None) -> None:
        values: dict[str, Any] = {"payload": ""}
        if sent is not None:
            values.update(state=SENT, message_id=sent.message_id)
        elif failure is not None:
            values.update(
                state=FAILED,
                error=failure.reason,
                permanent=failure.permanent,
                outcome_unknown=failure.outcome_unknown,
            )
        with write_session(self._engine) as s:
            s.execute(update(RelayedSend).where(col(RelayedSend.id) == relay_id).values(**values))


class SendRelay:
    """The asker's side (``CoreHandlers.send_elsewhere``) and the holder's (``serve``)."""

    def __init__(
        self,
        db: Database,
        store: RelayStore,
        *,
        timeout: float = RELAY_TIMEOUT,
        poll: float = RELAY_POLL,
    ) -> None:
        self._db = db
        self._store = store
        self._timeout = timeout
        self._poll = poll

    async def send(self, reply: Reply) -> MessageRef:
        """Have the connection's holder send ``reply``; its ref, or ``DeliveryError``."""
        chat, store = reply.chat, self._store
        try:
            relay_id = await self._db.write(
                lambda: store.queue(chat.platform, chat.chat_id, encode_reply(reply))
            )
        except Exception as exc:  # not queued: nothing went out
            raise DeliveryError(
                chat,
                f"cannot relay to the {chat.platform} connection ({type(exc).__name__})",
                False,
            ) from exc
        row = await self._wait(relay_id)
        if row is None and await self._cancelled(relay_id):
            raise DeliveryError(
                chat, f"no worker holds the {chat.platform} connection now: not sent", False
            )
        row = row or await self._wait(relay_id)
        with contextlib.suppress(Exception):  # purged later otherwise
            await self._db.write(lambda: store.forget(relay_id))
        if row is None:
            raise DeliveryError(
                chat, "relayed to the connection's holder, no answer", False, outcome_unknown=True
            )
        if row.state == SENT and row.message_id:
            return MessageRef(chat.platform, chat.chat_id, row.message_id)
        raise DeliveryError(chat, row.error, row.permanent, outcome_unknown=row.outcome_unknown)

    async def _cancelled(self, relay_id: int) -> bool:
        """Withdraw an untaken row; True unless the holder took it first. A row the database
        could not withdraw is past its taking window anyway (see ``RelayStore.take``)."""
        store = self._store
        try:
            if not await self._db.write(lambda: store.cancel(relay_id)):
                return False
            await self._db.write(lambda: store.forget(relay_id))
        except Exception as exc:
            log.warning("relay: row %s not withdrawn (%s)", relay_id, type(exc).__name__)
        return True

    async def _wait(self, relay_id: int) -> RelayedSend | None:
        """The row once answered (sent or failed), or None after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while loop.time() < deadline:
            await asyncio.sleep(self._poll)
            try:
                row = await self._db.read(lambda: self._store.outcome(relay_id))
            except Exception:  # the database is away a moment: the answer may still come
                continue
            if row is not None and row.state in (SENT, FAILED):
                return row
        return None

    def serve(self, adapter: SendsOverItsConnection, owner: str) -> RelayServer:
        return RelayServer(self._db, self._store, adapter, owner, self._poll, self._timeout)


class RelayServer:
    """On the connection's holder: takes the platform's relayed replies and sends them."""

    def __init__(
        self,
        db: Database,
        store: RelayStore,
        adapter: SendsOverItsConnection,
        owner: str,
        poll: float,
        timeout: float,
    ) -> None:
        self._db = db
        self._store = store
        self._adapter = adapter
        self._owner = owner
        self._poll = poll
        #: Rows the holder still takes: younger than the asker's wait, by a margin for clock
        #: skew between hosts and the time a take takes.
        self._fresh = dt.timedelta(seconds=max(timeout - TAKE_MARGIN, timeout / 2))
        self._sending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        platform = self._adapter.platform
        self._task = asyncio.create_task(self._run(), name=f"relay:{platform}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Take no more; let the sends under way finish for up to ``timeout`` seconds (one
        cut short is outcome unknown to its asker)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sending:
            _, pending = await asyncio.wait(self._sending, timeout=timeout)
            for sending in pending:
                sending.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        platform, store = self._adapter.platform, self._store
        while True:
            free = RELAY_CONCURRENCY - len(self._sending)
            rows: list[tuple[int, str]] = []
            if free > 0:
                try:
                    rows = await self._db.write(
                        partial(store.take, platform, self._owner, free, self._fresh)
                    )
                except Exception as exc:
                    log.warning(
                        "relay %s: cannot reach the database (%s)", platform, type(exc).__name__
                    )
            for relay_id, payload in rows:
                task = asyncio.create_task(self._send(relay_id, payload))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            if not rows:
                await asyncio.sleep(self._poll)

    async def _send(self, relay_id: int, payload: str) -> None:
        sent: MessageRef | None = None
        failure: DeliveryError | None = None
        try:
            reply = decode_reply(payload)
        except (ValueError, TypeError, KeyError) as exc:
            failure = DeliveryError(ChatRef(self._adapter.platform, "?"), f"unreadable ({exc})")
        else:
            try:
                sent = await self._adapter.send_here(reply)
            except DeliveryError as exc:
                failure = exc
            except Exception as exc:  # it may have gone out: never re-sent blindly
                log.exception("relay %s: sending failed", self._adapter.platform)
                failure = DeliveryError(reply.chat, type(exc).__name__, False, outcome_unknown=True)
        store = self._store
        try:
            await self._db.write(lambda: store.answer(relay_id, sent, failure))
        except Exception as exc:  # the asker reads no answer: outcome unknown to it
            log.warning("relay: outcome of %s not recorded (%s)", relay_id, type(exc).__name__)
