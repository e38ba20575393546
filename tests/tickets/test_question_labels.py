"""Question labels (the KB loop) on SQLite and PostgreSQL: recorded only on resolved
tickets, replaced by a later tap, adopted when an article is published, and never a way
around an erasure."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from bot.kb.loop.labels import LabelRefused, LabelStore
from bot.kb.loop.models import Verdict
from bot.privacy.purge import Eraser, Scope
from bot.tickets.models import Ticket
from bot.tickets.store import TicketNotFound, TicketStore
from tests.tickets.conftest import FakeClock


@pytest.fixture
def labels(engine: Engine, clock: FakeClock) -> LabelStore:
    return LabelStore(engine, clock)


def resolved(store: TicketStore, open_ticket: Callable[..., Ticket], question: str) -> Ticket:
    t = open_ticket(question=question)
    store.claim(t.number, "e01")
    return store.resolve(t.number, "e01", "改为热敏模式后恢复")


def test_a_label_is_recorded_on_a_resolved_ticket_and_a_later_tap_replaces_it(
    store: TicketStore, open_ticket: Callable[..., Ticket], labels: LabelStore, clock: FakeClock
) -> None:
    t = resolved(store, open_ticket, "腕带打印机打出来是空白的")
    labels.record(t.number, Verdict.NEW, None, "e01")
    clock.advance(minutes=5)
    labels.record(t.number, Verdict.ARTICLE, "hb-007", "e02")
    label = labels.get(t.number)
    assert label is not None
    assert (label.verdict, label.article_id, label.labelled_by) == ("article", "hb-007", "e02")
    assert label.labelled_at == clock()
    [row] = labels.labelled()
    assert (row.number, row.question, row.resolution) == (
        t.number,
        "腕带打印机打出来是空白的",
        "改为热敏模式后恢复",
    )
    assert row.verdict is Verdict.ARTICLE and row.article_id == "hb-007"


def test_labels_are_refused_on_open_or_unknown_tickets_and_without_an_article(
    store: TicketStore, open_ticket: Callable[..., Ticket], labels: LabelStore
) -> None:
    t = open_ticket()
    with pytest.raises(LabelRefused, match="not resolved"):
        labels.record(t.number, Verdict.NONE, None, "e01")
    with pytest.raises(TicketNotFound):
        labels.record("2026-999999", Verdict.NONE, None, "e01")
    done = resolved(store, open_ticket, "x")
    with pytest.raises(LabelRefused, match="names the article"):
        labels.record(done.number, Verdict.ARTICLE, None, "e01")
    assert labels.get(t.number) is None and labels.get(done.number) is None


def test_publishing_adopts_new_article_labels_but_keeps_the_others(
    store: TicketStore, open_ticket: Callable[..., Ticket], labels: LabelStore
) -> None:
    new, none, other, unlabelled = (
        resolved(store, open_ticket, q) for q in ("腕带空白", "鼠标坏了", "医保2304", "腕带白的")
    )
    labels.record(new.number, Verdict.NEW, None, "e01")
    labels.record(none.number, Verdict.NONE, None, "e01")
    labels.record(other.number, Verdict.ARTICLE, "hb-002", "e01")
    numbers = [t.number for t in (new, none, other, unlabelled)]
    assert labels.adopt(numbers, "draft-install-1", "e09") == 2
    got = {r.number: (r.verdict.value, r.article_id) for r in labels.labelled()}
    assert got == {
        new.number: ("article", "draft-install-1"),
        none.number: ("none", None),
        other.number: ("article", "hb-002"),
        unlabelled.number: ("article", "draft-install-1"),
    }


def test_adopting_without_an_engineer_keeps_who_labelled_or_took_the_ticket(
    store: TicketStore, open_ticket: Callable[..., Ticket], labels: LabelStore
) -> None:
    """An import from files has no signed-in engineer: a 需要新文章 label stays in its
    labeller's name, an unlabelled ticket takes its engineer's; unknown numbers are skipped."""
    new, unlabelled = (resolved(store, open_ticket, q) for q in ("腕带空白", "腕带白的"))
    labels.record(new.number, Verdict.NEW, None, "e02")
    numbers = [new.number, unlabelled.number, "2019-999999"]
    assert labels.adopt(numbers, "hb-wristband", None) == 2
    by = {n: labels.get(n) for n in (new.number, unlabelled.number)}
    assert {n: (r.article_id, r.labelled_by) for n, r in by.items() if r} == {
        new.number: ("hb-wristband", "e02"),
        unlabelled.number: ("hb-wristband", "e01"),
    }


def test_an_erased_question_leaves_the_history(
    engine: Engine, store: TicketStore, open_ticket: Callable[..., Ticket], labels: LabelStore
) -> None:
    kept = resolved(store, open_ticket, "腕带打印机打出来是空白的")
    erased = resolved(store, open_ticket, "患者的腕带打不出来")
    for t in (kept, erased):
        labels.record(t.number, Verdict.NEW, None, "e01")
    Eraser(engine).erase(Scope.ticket(erased.number), by="e09")
    assert [r.number for r in labels.labelled()] == [kept.number]
