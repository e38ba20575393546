"""What the broadcaster says in the engineers' chat, every message through the one keyed send
path (``bot.inbox.sending``), so none is lost to a crash and none is sent twice.

* Alerts are keyed by what caused them, per desk chat (``<cause>:desk:<platform>:<chat>``): a
  round re-run after a crash, or the same round on another worker, finds the key and does
  not send again. A wave missed while the bot was down: ``notice-missed:<wave>``, sent before
  the wave is closed (a crash in between: the next round decides again and finds it sent).
* The alert about deliveries whose outcome is unknown is owed in the database: the
  transaction that records the unknown outcome sets ``Delivery.tell_unknown``; the owed rows
  are grouped per notice and given their alert's key (``unknown_alert``) before the send, so
  a retry (the next round, the restart, another worker) sends the same alert under the same
  key; the debt is cleared, and audited, once every desk's send is recorded.
* Replies to ``/notice`` are keyed as the inbox event's next send (``bot.inbox.scope``): a
  replay of the event does not answer twice. Outside an event (none today) best effort.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine, update
from sqlmodel import col, select

from adapters.base import ChatRef, MessageRef, Reply
from bot.broadcasts.access import audit_in
from bot.broadcasts.models import Delivery, DeliveryStatus, delivery_key
from bot.broadcasts.transport import Transport
from bot.inbox.scope import handling_here
from bot.inbox.sending import KeyedSender, Outcome
from bot.infra.actors import Actor
from bot.infra.clock import Clock
from bot.infra.gateway import Database
from bot.registry.sessions import read_session, write_session

log = logging.getLogger(__name__)

#: Groups named in one unknown-delivery alert (the rest are counted; all are in the audit).
LISTED = 20


@dataclass(frozen=True)
class OwedAlert:
    """One alert the engineers are owed: its outbox key (the cause) and its deliveries that
    are still unknown (a 已知悉 press may have settled some since)."""

    key: str
    notice_id: int
    unknown: tuple[Delivery, ...]

    def where(self, limit: int | None = None) -> str:
        rows = self.unknown if limit is None else self.unknown[:limit]
        listed = ", ".join(f"{d.hospital_id or '工程师群'} {d.platform}:{d.chat_id}" for d in rows)
        more = len(self.unknown) - len(rows)
        return listed + (f" 等（另有 {more} 个群，见 /notice status）" if more else "")

    def text(self) -> str:
        n = self.notice_id
        return (
            f"⚠️ 通知 #{n}：有 {len(self.unknown)} 个群的发送无法确认是否送达"
            f"（进程中断或平台未应答；为避免重复，未自动重发）：{self.where(LISTED)}。"
            f"医院点击“已知悉”即自动确认；确需补发：/notice resend {n} <医院>"
        )


def owes_alerts(engine: Engine) -> bool:
    with read_session(engine) as s:
        return (
            s.exec(select(Delivery.id).where(col(Delivery.tell_unknown)).limit(1)).first()
            is not None
        )


def owed_unknown_alerts(engine: Engine) -> list[OwedAlert]:
    """Give each owed delivery without an alert key its notice's alert key (one alert per
    notice for those found together), then list every alert still owed. Locks the rows it
    keys, so two workers never put one delivery in two alerts."""
    with write_session(engine) as s:
        fresh = s.exec(
            select(Delivery)
            .where(col(Delivery.tell_unknown), col(Delivery.unknown_alert).is_(None))
            .order_by(col(Delivery.id))
            .with_for_update()
        ).all()
        keys: dict[int, str] = {}
        for d in fresh:
            d.unknown_alert = keys.setdefault(d.notice_id, f"unknown-alert:{delivery_key(d)}")
            s.add(d)
        s.flush()
        owed = s.exec(
            select(Delivery).where(col(Delivery.tell_unknown)).order_by(col(Delivery.id))
        ).all()
        groups: dict[str, list[Delivery]] = {}
        for d in owed:
            groups.setdefault(d.unknown_alert or "", []).append(d)
        return [
            OwedAlert(
                key, rows[0].notice_id, tuple(r for r in rows if r.status == DeliveryStatus.UNKNOWN)
            )
            for key, rows in groups.items()
        ]


def settle_alert(engine: Engine, alert: OwedAlert, now: dt.datetime) -> bool:
    """The alert's sends are recorded: its deliveries owe nothing more, audited once (by
    whichever worker settles it first). False: settled before."""
    with write_session(engine) as s:
        result = s.exec(
            update(Delivery)
            .where(col(Delivery.unknown_alert) == alert.key, col(Delivery.tell_unknown))
            .values(tell_unknown=False)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:
            return False
        if alert.unknown:
            audit_in(s, now, Actor.system(), "unknown", alert.notice_id, True, alert.where())
        return True


class DeskMessages:
    """The broadcaster's messages to the engineers' chats (``desk_chats``), keyed."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        clock: Clock,
        transport: Transport,
        sender: KeyedSender,
        desk_chats: Sequence[ChatRef],
    ) -> None:
        self._db = db
        self._engine = engine
        self._clock = clock
        self._transport = transport
        self._sender = sender
        self.desk_chats = tuple(desk_chats)

    async def alert(self, text: str, cause: str) -> bool:
        """Tell every engineers' chat ``text``, once per ``cause``. True when every desk's
        send has an outcome on record (sent, refused, or unknown); False when one is still
        to be tried (a transient failure released its key, the database failed, or another
        worker is sending it): the caller keeps the cause and tries again next round."""
        settled = True
        for chat in self.desk_chats:
            key = f"{cause}:desk:{chat.platform}:{chat.chat_id}"
            try:
                result = await self._sender.send(
                    self._transport.sender(chat), Reply(chat=chat, text=text), key
                )
            except Exception as exc:  # the database or a bug: the round goes on, retried later
                log.warning("alert %s to the engineers' chat failed: %s", key, exc)
                settled = False
                continue
            settled = settled and result.outcome not in (Outcome.RETRY, Outcome.ELSEWHERE)
        return settled

    async def tell_unknown(self) -> int:
        """Send every unknown-delivery alert owed (this round's, or one a crash left owed);
        returns how many were settled."""
        if not await self._db.read(partial(owes_alerts, self._engine)):
            return 0  # the usual round: no write transaction
        owed = await self._db.write(partial(owed_unknown_alerts, self._engine))
        settled = 0
        for alert in owed:
            if alert.unknown and not await self.alert(alert.text(), alert.key):
                continue
            settled += await self._db.write(
                partial(settle_alert, self._engine, alert, self._clock())
            )
        return settled

    async def say(self, reply: Reply) -> MessageRef | None:
        """Answer an engineer's command: keyed as the inbox event's next send (a replay of
        the event finds it sent), best effort outside an event. A failure is logged, never
        raised, and not retried: the command's work is done, and re-running it (a second
        ``/notice create``) would do it twice."""
        handling = handling_here()
        where = f"{reply.chat.platform}:{reply.chat.chat_id}"
        try:
            if handling is None:
                return await self._transport.deliver(reply)
            result = await self._sender.send(
                self._transport.sender(reply.chat),
                reply,
                handling.next_key(),
                retry=lambda _: False,
            )
        except Exception as exc:
            log.warning("reply to /notice in %s failed: %s", where, exc)
            return None
        return result.ref if result.outcome is Outcome.SENT else None
