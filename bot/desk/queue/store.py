"""Which tickets each digest covered: written before the digest is sent, recorded after.

Every call is one transaction (sync: call it through the gateway).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import col, select

from bot.desk.queue.models import DeskDigest, DeskDigestTicket
from bot.inbox.models import OutboxMessage, OutboxState
from bot.infra.clock import Clock, utc_now
from bot.registry.sessions import read_session, write_session
from bot.tickets.models import Ticket


class DigestStore:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def plan(
        self, platform: str, chat_id: str, tickets: Sequence[Ticket], *, urgent: bool = False
    ) -> DeskDigest | None:
        """A digest (``urgent``: of P1/P2 tickets) for these tickets in this desk chat, written
        before it is sent; tickets some digest there already covers are left out (None:
        nothing left to list)."""
        with write_session(self._engine) as s:
            covered = set(
                s.exec(
                    select(DeskDigestTicket.ticket_id).where(
                        DeskDigestTicket.platform == platform,
                        DeskDigestTicket.chat_id == chat_id,
                        col(DeskDigestTicket.ticket_id).in_([t.id for t in tickets]),
                    )
                ).all()
            )
            fresh = [t for t in tickets if t.id is not None and t.id not in covered]
            if not fresh:
                return None
            digest = DeskDigest(
                platform=platform, chat_id=chat_id, created_at=self._clock(), urgent=urgent
            )
            s.add(digest)
            s.flush()
            assert digest.id is not None
            for position, ticket in enumerate(fresh, 1):
                assert ticket.id is not None
                s.add(
                    DeskDigestTicket(
                        digest_id=digest.id,
                        ticket_id=ticket.id,
                        platform=platform,
                        chat_id=chat_id,
                        position=position,
                    )
                )
            s.flush()
            s.refresh(digest)
            return digest

    def unsent(self, platform: str, chat_id: str) -> list[DeskDigest]:
        """Digests written but not recorded as sent (a crash, a failed send), oldest first."""
        with read_session(self._engine) as s:
            stmt = (
                select(DeskDigest)
                .where(
                    DeskDigest.platform == platform,
                    DeskDigest.chat_id == chat_id,
                    col(DeskDigest.message_id).is_(None),
                )
                .order_by(col(DeskDigest.id))
            )
            return list(s.exec(stmt).all())

    def tickets_of(self, digest_id: int) -> list[Ticket]:
        """The digest's tickets in the order it lists them."""
        with read_session(self._engine) as s:
            stmt = (
                select(Ticket)
                .join(DeskDigestTicket, col(DeskDigestTicket.ticket_id) == col(Ticket.id))
                .where(DeskDigestTicket.digest_id == digest_id)
                .order_by(col(DeskDigestTicket.position))
            )
            return list(s.exec(stmt).all())

    def covered_in(self, platform: str, chat_id: str) -> dict[int, bool]:
        """The tickets some digest in this desk chat lists (they count as carded): ticket id →
        whether that digest was an urgent one."""
        with read_session(self._engine) as s:
            stmt = (
                select(DeskDigestTicket.ticket_id, DeskDigest.urgent)
                .join(DeskDigest, col(DeskDigest.id) == col(DeskDigestTicket.digest_id))
                .where(DeskDigestTicket.platform == platform, DeskDigestTicket.chat_id == chat_id)
            )
            return dict(s.exec(stmt).all())

    def record(self, digest_id: int, message_id: str) -> None:
        """The digest was sent as this message."""
        with write_session(self._engine) as s:
            digest = s.get(DeskDigest, digest_id)
            if digest is not None and digest.message_id is None:
                digest.message_id = message_id
                digest.posted_at = self._clock()
                s.add(digest)

    def listing(self, ticket_id: int) -> list[DeskDigest]:
        """The sent digests that list this ticket (one per desk chat at most)."""
        with read_session(self._engine) as s:
            stmt = (
                select(DeskDigest)
                .join(DeskDigestTicket, col(DeskDigestTicket.digest_id) == col(DeskDigest.id))
                .where(
                    DeskDigestTicket.ticket_id == ticket_id,
                    col(DeskDigest.message_id).is_not(None),
                )
            )
            return list(s.exec(stmt).all())

    def digest_at(self, platform: str, chat_id: str, message_id: str) -> DeskDigest | None:
        """The digest posted as this message (a reply to it names one of its tickets)."""
        with read_session(self._engine) as s:
            stmt = select(DeskDigest).where(
                DeskDigest.platform == platform,
                DeskDigest.chat_id == chat_id,
                DeskDigest.message_id == message_id,
            )
            return s.exec(stmt).first()


def card_key(number: str, platform: str, chat_id: str) -> str:
    """The outbox key of a ticket's card in one desk chat (one send, ever)."""
    return f"card:{number}:{platform}:{chat_id}"


def cards_of_unknown_outcome(engine: Engine, platform: str, chat_id: str) -> set[str]:
    """Tickets whose card left for this desk chat but whose answer never came (a timeout, a
    kill mid-call). A send is claimed only once the adapter's limiter lets it go, so such a
    card was on the wire and almost always arrived: it is not listed again in a digest (that
    showed it twice); the console shows every ticket either way."""
    prefix, suffix = "card:", f":{platform}:{chat_id}"
    with read_session(engine) as s:
        keys = s.exec(
            select(OutboxMessage.key).where(
                col(OutboxMessage.key).startswith(prefix),
                col(OutboxMessage.key).endswith(suffix),
                OutboxMessage.state == OutboxState.UNKNOWN,
            )
        ).all()
    return {key[len(prefix) : -len(suffix)] for key in keys}
