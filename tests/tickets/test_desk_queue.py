"""The desk's card queue (``bot.desk.queue``) on a clock the test moves: a P1 overtakes a
backlog of P3 cards, a saturated desk gets ONE digest covering the waiting tickets once, the
storm over it gets cards again, a restart never re-posts a digest, and more P1s than the
chat's limiter sends within seconds are shown at once in ONE urgent digest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import ChatRef, DeliveryError, MessageRef, Reply
from adapters.budget import SendBudget
from bot.conversation.exchanges import ExchangeStore
from bot.desk.posting import DeskCards
from bot.desk.queue.models import DeskDigest, DeskDigestTicket
from bot.desk.queue.outbox import CardOutbox, DeskQueue
from bot.desk.queue.settings import DeskSettings
from bot.desk.queue.store import DigestStore
from bot.inbox.store import OutboxStore
from bot.infra.gateway import Database
from bot.infra.messenger import Messenger
from bot.registry import RegistryStore
from bot.tickets import Ticket, TicketStore
from bot.tickets.flow import TicketFlow
from bot.tickets.links import LinkStore
from bot.tickets.services import BotSettings, DeskPort
from bot.tickets.store import Actor
from tests.testbot import MemoryAdapter, ticket_number

from .conftest import FakeClock

DESK = ChatRef("telegram", "-1009000")
#: 6 non-urgent sends a minute: one every 10 s; a digest above 4 waiting or after 60 s.
SETTINGS = DeskSettings(
    non_urgent_per_minute=6, digest_after_cards=4, digest_after_seconds=60, digest_buttons=3
)


#: What the Telegram adapter declares for a group: 20 a minute, a burst of 3 (one every 3 s).
GROUP = SendBudget(20, 60.0, 3)


class BudgetedAdapter(MemoryAdapter):
    """A ``MemoryAdapter`` that declares ``budget`` for every chat (None: declares nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.budget: SendBudget | None = None
        #: Sends whose text holds one of these go out but get no answer (a read timeout).
        self.unanswered: set[str] = set()

    def send_budget(self, chat: ChatRef) -> SendBudget | None:
        return self.budget

    async def send(self, reply: Reply) -> MessageRef:
        if any(part in reply.text for part in self.unanswered):
            raise DeliveryError(reply.chat, "read timed out", False, outcome_unknown=True)
        return await super().send(reply)


@pytest.fixture
def services(
    engine: Engine, clock: FakeClock, registry: RegistryStore, store: TicketStore
) -> Iterator[Any]:
    """The slice of ``Services`` the card outbox uses, sending to a ``MemoryAdapter``."""
    db = Database(engine)
    messenger = Messenger(db, OutboxStore(engine, clock))
    adapter = BudgetedAdapter()
    messenger.register(adapter)
    links, desk = LinkStore(engine), DeskPort()
    settings = BotSettings(desk_chats=(DESK,), desk=SETTINGS)
    cards = DeskCards(
        db=db,
        registry=registry,
        tickets=store,
        links=links,
        messenger=messenger,
        settings=settings,
        desk=desk,
    )
    flow = TicketFlow(
        db=db,
        tickets=store,
        exchanges=ExchangeStore(engine, clock=clock),
        links=links,
        messenger=messenger,
        settings=settings,
        desk=desk,
        cards=cards,
        title=lambda article_id: article_id,
        redact=lambda text: text,
    )
    yield SimpleNamespace(
        db=db,
        tickets=store,
        registry=registry,
        links=links,
        messenger=messenger,
        settings=settings,
        clock=clock,
        sla=None,
        desk=desk,
        ticket_flow=flow,
        cards=cards,
        adapter=adapter,
    )
    db.close()


def desk_queue(services: Any) -> DeskQueue:
    return DeskQueue(
        db=services.db,
        tickets=services.tickets,
        cards=services.cards,
        messenger=services.messenger,
        desk_chats=services.settings.desk_chats,
        clock=services.clock,
        settings=SETTINGS,
    )


def desk_texts(services: Any) -> list[str]:
    return [s.text for s in services.adapter.said if s.chat_id == DESK.chat_id]


def carded(services: Any) -> list[str]:
    """Numbers of the tickets that got a card of their own, in the order they were posted."""
    return [ticket_number(t) for t in desk_texts(services) if t.startswith("🎫")]


def digests(services: Any) -> list[str]:
    return [t for t in desk_texts(services) if t.startswith("📋")]


def p3s(open_ticket: Callable[..., Ticket], n: int) -> list[str]:
    return [open_ticket(urgency="P3", question=f"问题{i} 打印机脱机").number for i in range(n)]


async def test_a_p1_card_overtakes_the_backlog_of_p3_cards(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    queue = desk_queue(services)
    backlog = p3s(open_ticket, 3)
    wait = await queue.run_once()
    assert carded(services) == backlog[:1]  # one non-urgent card, then the pace holds
    assert wait == pytest.approx(10.0)
    clock.advance(seconds=2)
    p1 = open_ticket(urgency="P1", question="全院HIS登录不了").number
    p2 = open_ticket(urgency="P2", question="收费站全部卡死").number
    assert await queue.run_once() == pytest.approx(8.0)
    assert carded(services) == [backlog[0], p1, p2]  # not held by the pace, most urgent first
    clock.advance(seconds=8)
    await queue.run_once()
    assert carded(services) == [backlog[0], p1, p2, backlog[1]]


async def test_a_non_urgent_card_waits_until_the_chats_limiter_has_room_for_an_urgent_one(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    """Telegram's group budget as the adapter declares it: a burst of 3, one every 3 s."""
    services.adapter.budget = GROUP
    queue = desk_queue(services)
    urgent = [open_ticket(urgency="P1", question=f"全院第{i}个系统停了").number for i in range(2)]
    backlog = p3s(open_ticket, 1)
    # two urgent cards filled 2 of the bucket's 3: a P3 now would leave no room for a P1
    assert await queue.run_once() == pytest.approx(3.0)
    assert carded(services) == urgent
    clock.advance(seconds=3)
    await queue.run_once()
    assert carded(services) == [*urgent, *backlog]
    clock.advance(seconds=1)  # the P3 filled the bucket to 2 again: a P1 still passes at once
    p1 = open_ticket(urgency="P1", question="全院网络中断").number
    await queue.run_once()
    assert carded(services) == [*urgent, *backlog, p1]


async def test_a_saturated_desk_gets_one_digest_covering_each_waiting_ticket_once(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock, engine: Engine
) -> None:
    queue = desk_queue(services)
    p1 = open_ticket(urgency="P1", question="全院HIS登录不了").number
    waiting = p3s(open_ticket, 7)
    await queue.run_once()
    assert carded(services) == [p1]  # the P1 first, then the 7 others in one digest
    assert desk_texts(services)[0].startswith("🎫")
    (digest,) = digests(services)
    for number in waiting:
        assert digest.count(f"#{number} ") == 1 and f"/claim {number}" in digest
    assert p1 not in digest and "市第一人民医院" in digest
    (said,) = [s for s in services.adapter.said if s.text.startswith("📋")]
    assert said.labels == [f"接单 #{n}" for n in waiting[:3]]
    with Session(engine) as s:
        rows = s.exec(select(DeskDigestTicket).order_by(DeskDigestTicket.position)).all()
        (row,) = s.exec(select(DeskDigest)).all()
    assert [r.ticket_id for r in rows] == [services.tickets.get(n).id for n in waiting]
    assert row.message_id == said.ref.message_id
    clock.advance(minutes=5)  # nothing is waiting: nothing more is sent
    assert await queue.run_once() is None
    assert len(desk_texts(services)) == 2
    services.tickets.set_urgency(waiting[3], "P1", Actor.engineer("e09"))
    await queue.run_once()  # raised to P1 after it was listed: a card of its own at once
    assert carded(services) == [p1, waiting[3]] and len(digests(services)) == 1


async def test_an_old_waiting_ticket_is_digested_and_after_the_storm_cards_come_back(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    queue = desk_queue(services)
    first = p3s(open_ticket, 1)
    await queue.run_once()
    assert carded(services) == first
    clock.advance(seconds=1)
    two = p3s(open_ticket, 2)  # not above 4 waiting, but held by the pace …
    clock.advance(seconds=61)  # … until the first of them waited over 60 s
    await queue.run_once()
    (digest,) = digests(services)
    assert all(f"#{n} " in digest for n in two)
    clock.advance(seconds=10)
    after = p3s(open_ticket, 1)  # the storm is over: a card of its own again
    await queue.run_once()
    assert carded(services) == first + after and len(digests(services)) == 1


@pytest.mark.parametrize(("urgency", "mark"), [("P3", "📋"), ("P1", "🚨")])
async def test_a_restart_after_a_digest_went_out_does_not_post_it_again(
    services: Any,
    open_ticket: Callable[..., Ticket],
    clock: FakeClock,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    urgency: str,
    mark: str,
) -> None:
    """A digest (P3s: saturated; P1s: more than the limiter sends within seconds, an urgent
    one, sent before anything else at the restart) posted but not recorded."""
    services.adapter.budget = GROUP
    waiting = [open_ticket(urgency=urgency, question=f"第{i}台电脑打不开").number for i in range(6)]

    def crash(*args: Any) -> None:
        raise RuntimeError("the process died before the digest was recorded")

    def posted() -> list[Any]:
        return [s for s in services.adapter.said if s.text.startswith(mark)]

    monkeypatch.setattr(DigestStore, "record", crash)
    with pytest.raises(RuntimeError):
        await desk_queue(services).run_once()
    assert len(posted()) == 1
    monkeypatch.undo()
    clock.advance(minutes=1)
    restarted = desk_queue(services)  # a new process: a fresh pace, same tables
    assert await restarted.run_once() is None
    (said,) = posted()
    assert len(desk_texts(services)) == 1 and carded(services) == []
    assert all(said.text.count(f"#{n} ") == 1 for n in waiting)
    with Session(engine) as s:
        (row,) = s.exec(select(DeskDigest)).all()
    assert row.message_id == said.ref.message_id and row.urgent == (urgency == "P1")
    ids = {services.tickets.get(n).id for n in waiting}
    covered = DigestStore(engine).covered_in(DESK.platform, DESK.chat_id)
    assert covered == dict.fromkeys(ids, urgency == "P1")


async def test_a_follow_up_on_an_unclaimed_ticket_is_kept_off_a_desk_without_room(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    services.adapter.budget = GROUP
    cards = CardOutbox(desk_queue(services))  # not started: the test runs its queue's passes
    services.desk.bind(cards)
    queue = cards.queue
    waiting = services.tickets.get(p3s(open_ticket, 1)[0])
    claimed = open_ticket(urgency="P3", question="挂号机黑屏")
    services.tickets.claim(claimed.number, "e01")
    p1s = [open_ticket(urgency="P1", question=f"全院第{i}个系统停了") for i in range(2)]
    await queue.run_once()  # two P1 cards: one more message would leave no room for a third

    def relayed() -> list[str]:
        return [t for t in desk_texts(services) if "还是不行" in t]

    await services.ticket_flow.relay_to_desks(waiting, "市第一人民医院", "小张", "还是不行")
    assert relayed() == []  # kept on the ticket: nobody works it yet
    await services.ticket_flow.relay_to_desks(
        services.tickets.get(p1s[0].number), "市第一人民医院", "小张", "还是不行 全院"
    )
    assert relayed() == []  # a P1's too: its card shows it, the slot is for the next P1
    claimed = services.tickets.get(claimed.number)
    await services.ticket_flow.relay_to_desks(claimed, "市第一人民医院", "小张", "还是不行 挂号机")
    assert len(relayed()) == 1  # an engineer is talking with the hospital: always shown
    clock.advance(seconds=6)
    await services.ticket_flow.relay_to_desks(waiting, "市第一人民医院", "小张", "还是不行")
    assert len(relayed()) == 2


def urgent_digests(services: Any) -> list[Any]:
    return [s for s in services.adapter.said if s.text.startswith("🚨")]


async def test_more_p1s_than_the_limiter_sends_in_seconds_get_one_urgent_digest(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock, engine: Engine
) -> None:
    """A burst of 3 and one every 3 s: 4 cards leave within 5 s, 8 P1s would take 15 s."""
    services.registry.add_identity("telegram", 5001, "e01")  # h001's dedicated engineer
    services.adapter.budget = GROUP
    queue = desk_queue(services)
    flood = [
        open_ticket(urgency="P1", question=f"第{i}个院区HIS全部登录不了").number for i in range(7)
    ]
    backlog = p3s(open_ticket, 2)
    flood.append(open_ticket(urgency="P2", question="收费站全部卡死").number)
    await queue.run_once()
    assert carded(services) == backlog[:1]  # no urgent card queued one by one; a paced P3
    (said,) = urgent_digests(services)
    assert desk_texts(services)[0] == said.text  # the first message in the desk
    assert said.text.startswith("🚨 紧急工单汇总（8 张")
    for number in flood:
        assert said.text.count(f"#{number} ") == 1 and f"/claim {number}" in said.text
    assert all(f"#{n} " not in said.text for n in backlog)  # P3s: paced, in the plain digests
    assert "[P1] 市第一人民医院：第0个院区HIS全部登录不了" in said.text
    assert said.labels == [f"接单 #{n}" for n in flood[:3]]
    assert said.reply.mention_user_ids == ("5001",)  # whom a P1 card would mention
    with Session(engine) as s:
        (row,) = s.exec(select(DeskDigest)).all()
    assert row.urgent and row.message_id == said.ref.message_id
    covered = DigestStore(engine).covered_in(DESK.platform, DESK.chat_id)
    assert covered == {services.tickets.get(n).id: True for n in flood}

    clock.advance(seconds=60)  # listed counts as shown: no card, no second listing
    await queue.run_once()
    assert len(urgent_digests(services)) == 1
    assert set(carded(services)) <= set(backlog)
    more = [open_ticket(urgency="P1", question=f"第{i}个机房断电").number for i in range(6)]
    await queue.run_once()
    assert len(urgent_digests(services)) == 2
    second = urgent_digests(services)[1].text
    assert all(second.count(f"#{n} ") == 1 for n in more)
    assert not any(f"#{n} " in second for n in flood)


async def test_a_p1_card_whose_send_got_no_answer_is_not_listed_again_in_a_digest(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    """The card left (claimed only when the limiter let it go) and no answer came: it almost
    surely arrived. It is not re-posted, nor listed in the next urgent digest (shown twice)."""
    services.adapter.budget = GROUP
    queue = desk_queue(services)
    services.adapter.unanswered.add("机房UPS断电")
    lost = open_ticket(urgency="P1", question="机房UPS断电，全院停机").number
    await queue.run_once()
    assert carded(services) == [] and urgent_digests(services) == []  # went, no answer
    services.adapter.unanswered.clear()
    clock.advance(seconds=60)
    flood = [
        open_ticket(urgency="P1", question=f"第{i}个院区HIS全部登录不了").number for i in range(6)
    ]
    await queue.run_once()
    (digest,) = urgent_digests(services)
    assert all(f"#{n} " in digest.text for n in flood)
    assert f"#{lost} " not in digest.text and lost not in carded(services)


async def test_a_single_p1_waits_for_the_desks_next_slot_and_gets_its_own_card(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    """Not handed to the adapter early (where it would queue behind the desk's other
    messages): it goes when the budget lets it leave at once."""
    services.adapter.budget = GROUP
    queue = desk_queue(services)
    for _ in range(5):
        queue.pace.entering(DESK)  # five messages just went to the desk: 3 now, then +3, +6 s
    p1 = open_ticket(urgency="P1", question="全院HIS登录不了").number
    assert await queue.run_once() == pytest.approx(9.0)  # the slot after the sixth's
    assert carded(services) == []
    clock.advance(seconds=9)
    await queue.run_once()
    assert carded(services) == [p1] and urgent_digests(services) == []
    # a few P1s the budget lets go at once (the burst is back): a card each
    clock.advance(seconds=60)
    few = [open_ticket(urgency="P1", question=f"第{i}个系统停了").number for i in range(3)]
    await queue.run_once()
    assert carded(services) == [p1, *few] and urgent_digests(services) == []


async def test_at_saturation_each_slot_carries_every_waiting_p1_before_any_p3(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    """The desk's budget spent, P3s and their digest overdue: the next slot goes to the P1s —
    one urgent digest listing all that wait then — and the P3s only get the slot after."""
    services.adapter.budget = GROUP
    queue = desk_queue(services)
    backlog = p3s(open_ticket, 6)
    clock.advance(seconds=61)  # saturated and overdue
    for _ in range(3):
        queue.pace.entering(DESK)  # engineers' answers took the burst
    early = open_ticket(urgency="P1", question="全院HIS登录不了").number
    assert await queue.run_once() == pytest.approx(3.0)
    assert desk_texts(services) == []  # nothing non-urgent takes the slot the P1 waits for
    clock.advance(seconds=2)
    late = [open_ticket(urgency=u, question=f"{u} 第二院区停了").number for u in ("P1", "P2")]
    assert await queue.run_once() == pytest.approx(1.0)
    clock.advance(seconds=1)
    await queue.run_once()
    (first, *_) = desk_texts(services)
    assert first.startswith("🚨 紧急工单汇总（3 张")  # every P1/P2 waiting at the slot
    assert all(first.count(f"#{n} ") == 1 for n in [early, *late])
    assert len(desk_texts(services)) == 1  # the P3s' digest waits for room after it
    clock.advance(seconds=6)
    await queue.run_once()
    (digest,) = digests(services)
    assert all(f"#{n} " in digest for n in backlog)


async def test_a_card_changed_while_the_desk_has_no_room_is_edited_when_it_has(
    services: Any, open_ticket: Callable[..., Ticket], clock: FakeClock
) -> None:
    """An edit spends the desk's budget like a message (in a P1 storm, incidents joined by
    other hospitals re-rendered cards and took the slots the next P1s waited for)."""
    services.adapter.budget = GROUP
    cards = CardOutbox(desk_queue(services))  # not started: the test runs its queue's passes
    services.desk.bind(cards)
    queue = cards.queue
    p1s = [open_ticket(urgency="P1", question=f"全院第{i}个系统停了").number for i in range(2)]
    await queue.run_once()  # two cards: an edit now would leave no room for a third P1
    services.tickets.claim(p1s[0], "e01")
    await services.cards.refresh(p1s[0])
    card = next(s for s in services.adapter.said if p1s[0] in s.text)
    assert card.edits == []  # held for the desk's next room
    assert await queue.run_once() == pytest.approx(3.0)
    clock.advance(seconds=3)
    assert await queue.run_once() is None
    assert len(card.edits) == 1 and "张工" in card.text  # re-rendered with the claim
