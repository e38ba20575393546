"""Service reports for the annual and monthly service reviews: pure computation, no web code.

Periods are calendar months (or years) in the reports' local time zone, queried as aware UTC.
The definitions below are also shown on the report page, because the figures go into
contract reviews and must mean the same thing to both sides:

* tickets: opened in the period (``created_at``); "resolved" counts tickets whose resolution
  (``completed_at``) falls in the period, whenever they were opened;
* time to accept = ``accepted_at - created_at``; time to resolve = ``completed_at -
  created_at``, over the tickets opened in the period that have that time;
* median: the middle value, the mean of the two middle ones for an even count;
  p90: nearest rank, the smallest value with at least 90 % of values at or below it
  (``sorted[ceil(0.9 n) - 1]``), so it is always a time that really happened;
* beyond target (超时): a ticket opened in the period that breached its accept or resolve
  target, judged by ``bot.web.sla_report.SlaJudge`` — by its SLA clocks, or without them by
  its hospital contract's own target for its urgency, else the default — as every report,
  export and review judges it;
* bot questions: exchanges asked in the period, except small talk, quiet ones and follow-ups
  ("还是不行" under an answer belongs to the question it follows; a message that is nothing
  but a follow-up or a ping — 「还是不行」, 「在吗」, 「有人吗？急」 — is no question either,
  wherever it was asked);
  answered: the bot replied with knowledge-base articles (an answer or a choice of articles);
  escalated: a ticket was opened, or the user said the answer did not help;
  deflection rate = answered and not escalated / questions;
  solved rate = marked "已解决" by the user / questions;
* unanswered questions: escalated, or given no article at all; grouped by their text after
  ``kb_index.text.normalise`` with punctuation and spaces removed; hospitals by name.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, or_, select
from sqlmodel import col

from bot import texts
from bot.conversation.exchanges import Exchange, Outcome
from bot.conversation.skips import SkippedMessage
from bot.infra.clock import as_utc
from bot.privacy.models import ERASED
from bot.registry.models import Hospital
from bot.sla.clocks import SlaClocks
from bot.sla.targets import Target
from bot.tickets.models import OPEN_STATUSES, URGENCIES, Ticket
from bot.web.sla_report import (
    Clock,
    SlaJudge,
    SlaOutcome,
    SlaRow,
    TicketSla,
    basis,
    opened_clocks,
    sla_rows,
    source_of,
)
from kb_index.articles import CATEGORIES
from kb_index.text import normalise

#: Decisions that are not a question to the bot (follow-ups belong to the question before).
NOT_QUESTIONS = ("smalltalk", "follow_up")
#: Decisions where the bot replied with knowledge-base articles.
ANSWERED = ("answer", "confirm", "clarify")
ESCALATED = (Outcome.ESCALATED.value, Outcome.UNSOLVED.value)
#: What a ping or a follow-up is made of besides "did not help" (``texts.without_unsolved``):
#: greetings, calls for someone, urgency, "what now". A message of nothing else names no
#: problem, so it is neither a question nor an unanswered topic.
_NO_TOPIC_WORDS = re.compile(
    r"在吗|在不在|有人吗|有没有人|人呢|你好|您好|哈喽|hello|hi|喂|请问|老师|工程师|小助手|客服|"
    r"急+|快|赶紧|帮忙|帮帮忙|看看|看一下|看下|求助|麻烦|谢谢|怎么办|咋办|咋整|怎么弄|怎么回事|"
    r"还是|又|了|啊|呀|吗|呢|吧|哦|嗯|的|是|这个|那个|一下|还|呐|哈"
)


def names_no_problem(text: str) -> bool:
    """True for 「还是不行」, 「在吗」, 「有人吗？急急急」: nothing left once the follow-up words,
    pings and punctuation are gone (「还是报2304」 keeps its code and stays a question)."""
    rest = _NO_TOPIC_WORDS.sub("", texts.without_unsolved(question_key(text)))
    return len(rest) < 2


# -- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    year: int
    month: int | None  # None: the whole year
    start: dt.datetime  # aware UTC, inclusive
    end: dt.datetime  # aware UTC, exclusive

    @property
    def label(self) -> str:
        return f"{self.year}年全年" if self.month is None else f"{self.year}年{self.month}月"


@dataclass(frozen=True)
class Durations:
    count: int
    median: dt.timedelta | None
    p90: dt.timedelta | None


@dataclass(frozen=True)
class Timing:
    urgency: str | None  # None: all tickets
    opened: int
    accept: Durations
    resolve: Durations
    #: The urgency's target now: the hospital's (own or default) in a one-hospital report,
    #: else the default. None for all urgencies.
    target: Target | None = None
    #: Where it comes from and how it counts (默认目标，全天计时；2 家医院另有合同目标).
    target_note: str = ""


@dataclass(frozen=True)
class LateTicket:
    number: str
    hospital_id: str
    hospital_name: str
    urgency: str
    status: str
    created_at: dt.datetime
    #: Until accepted/resolved, or until now while still open.
    age: dt.timedelta
    #: The targets it was judged by and how it did (``SlaJudge``).
    sla: TicketSla
    still_open: bool

    @property
    def accept_late(self) -> bool:
        return self.sla.accept.outcome is SlaOutcome.BREACHED

    @property
    def resolve_late(self) -> bool:
        return self.sla.resolve.outcome is SlaOutcome.BREACHED


@dataclass(frozen=True)
class BotStats:
    questions: int = 0
    answered: int = 0
    solved: int = 0
    escalated: int = 0
    deflected: int = 0  # answered and not escalated

    @property
    def deflection_rate(self) -> float | None:
        return self.deflected / self.questions if self.questions else None

    @property
    def solved_rate(self) -> float | None:
        return self.solved / self.questions if self.questions else None


@dataclass(frozen=True)
class Unanswered:
    text: str  # as first asked (stored redacted)
    count: int
    last_asked: dt.datetime
    hospitals: tuple[str, ...]


@dataclass(frozen=True)
class Slice:
    """One row of the per-month or per-hospital table."""

    key: str
    label: str
    opened: int
    resolved: int
    accept_median: dt.timedelta | None
    resolve_median: dt.timedelta | None
    beyond_target: int
    bot: BotStats


@dataclass(frozen=True)
class Report:
    period: Period
    hospital_id: str | None
    hospital_name: str  # "全部医院" for all
    now: dt.datetime
    opened: int
    resolved: int
    by_category: tuple[tuple[str, int], ...]
    by_urgency: tuple[tuple[str, int], ...]
    timing: tuple[Timing, ...]  # all tickets first, then P1..P4
    beyond_target: tuple[LateTicket, ...]
    bot: BotStats
    #: Messages the bot left alone because an engineer was already talking with the asker
    #: (``skipped_message``): the bot's restraint, which the questions above do not count.
    left_to_engineers: int
    top_unanswered: tuple[Unanswered, ...]
    months: tuple[Slice, ...]  # whole-year reports only
    hospitals: tuple[Slice, ...]  # all-hospital reports only
    sla: tuple[SlaRow, ...]  # SLA met/breached per month × hospital × urgency

    @property
    def open_beyond_target(self) -> int:
        return sum(1 for t in self.beyond_target if t.still_open)


# -- statistics ------------------------------------------------------------------------------------


def median(values: Sequence[dt.timedelta]) -> dt.timedelta | None:
    """The middle value (mean of the two middle ones for an even count); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def nearest_rank(values: Sequence[dt.timedelta], pct: float) -> dt.timedelta | None:
    """Percentile by nearest rank: ``sorted[ceil(pct/100 * n) - 1]``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def durations(values: Sequence[dt.timedelta]) -> Durations:
    return Durations(len(values), median(values), nearest_rank(values, 90))


def question_key(text: str) -> str:
    """Questions asked the same way group together: normalised, punctuation and spaces gone."""
    return "".join(
        ch for ch in normalise(text) if not unicodedata.category(ch).startswith(("P", "Z"))
    )


# -- periods ---------------------------------------------------------------------------------------


def period(year: int, month: int | None, zone: ZoneInfo) -> Period:
    """A local calendar month (or year, ``month=None``) as aware UTC bounds."""
    if month is None:
        first, after = dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
    else:
        first = dt.datetime(year, month, 1)
        after = dt.datetime(year + month // 12, month % 12 + 1, 1)
    return Period(year, month, _to_utc(first, zone), _to_utc(after, zone))


def _to_utc(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return as_utc(local.replace(tzinfo=zone))


def month_finder(year: int, zone: ZoneInfo) -> Callable[[dt.datetime], int]:
    """The local month (1–12) of a UTC time within ``year``: a bisect over the months'
    UTC starts, not a time-zone conversion per row (a year holds ~100k rows to place)."""
    starts = [period(year, m, zone).start for m in range(2, 13)]
    return lambda value: bisect_right(starts, value) + 1


# -- the rows read ---------------------------------------------------------------------------------


class _Ticket(NamedTuple):
    id: int
    number: str
    hospital_id: str
    category: str
    urgency: str
    status: str
    created_at: dt.datetime
    accepted_at: dt.datetime | None
    completed_at: dt.datetime | None
    closed_at: dt.datetime | None


class _Question(NamedTuple):
    hospital_id: str
    question: str
    decision: str
    outcome: str
    created_at: dt.datetime  # aware UTC


class _Read(NamedTuple):
    tickets: list[_Ticket]
    questions: list[_Question]
    names: dict[str, str]
    #: The clocks of the tickets opened in the period, by ticket id and kind.
    clocks: dict[int, dict[str, Clock]]
    left_to_engineers: int


def _read(engine: Engine, hospital_id: str | None, span: Period) -> _Read:
    """Tickets opened or resolved in the period, their clocks, its bot questions, and
    hospital names."""
    start, end = span.start, span.end
    # exchange times are timezone-aware columns: they are compared with aware bounds
    a_start, a_end = start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)
    tq = select(*(col(getattr(Ticket, f)) for f in _Ticket._fields)).where(
        or_(
            (col(Ticket.created_at) >= start) & (col(Ticket.created_at) < end),
            (col(Ticket.completed_at) >= start) & (col(Ticket.completed_at) < end),
        )
    )
    eq = select(*(col(getattr(Exchange, f)) for f in _Question._fields)).where(
        col(Exchange.created_at) >= a_start,
        col(Exchange.created_at) < a_end,
        col(Exchange.decision).not_in(NOT_QUESTIONS),
        col(Exchange.outcome) != Outcome.QUIET.value,
    )
    sq = select(func.count()).where(
        col(SkippedMessage.at) >= a_start, col(SkippedMessage.at) < a_end
    )
    if hospital_id is not None:
        tq = tq.where(col(Ticket.hospital_id) == hospital_id)
        eq = eq.where(col(Exchange.hospital_id) == hospital_id)
        sq = sq.where(col(SkippedMessage.hospital_id) == hospital_id)
    with engine.connect() as conn:
        tickets = [_Ticket(*row) for row in conn.execute(tq)]
        questions = [
            _Question(h, text, decision, outcome, as_utc(at))
            for h, text, decision, outcome, at in conn.execute(eq)
            if not names_no_problem(text)
        ]
        names = {h: n for h, n in conn.execute(select(col(Hospital.id), col(Hospital.name)))}
        clocks = opened_clocks(conn, hospital_id, start, end)
        left_to_engineers = conn.execute(sq).scalar_one()
    return _Read(tickets, questions, names, clocks, left_to_engineers)


# -- building --------------------------------------------------------------------------------------


def build_report(
    db_engine: Engine,
    *,
    hospital_id: str | None,
    year: int,
    month: int | None,
    zone: ZoneInfo,
    sla: SlaClocks,
    top_n: int,
    now: dt.datetime,
) -> Report:
    """The report of one hospital (or all, ``None``) for a local month (or year, ``None``).

    ``now`` (aware UTC) is when open tickets' ages are measured; ``sla`` holds the targets
    tickets without clocks are judged by (``SlaJudge``).
    """
    span = period(year, month, zone)
    now = as_utc(now)
    tickets, questions, names, clocks, left_to_engineers = _read(db_engine, hospital_id, span)
    opened = [t for t in tickets if span.start <= t.created_at < span.end]
    resolved = [t for t in tickets if t.completed_at and span.start <= t.completed_at < span.end]
    judge = SlaJudge(
        sla, [hospital_id] if hospital_id else {*names, *(t.hospital_id for t in opened)}
    )
    late = {
        t: x for t in opened if (x := _late(t, judge(t, clocks.get(t.id, {}), now), now, names))
    }
    categories = Counter(t.category for t in opened)
    urgencies = Counter(t.urgency for t in opened)
    rows = (opened, resolved, questions, list(late))
    months: tuple[Slice, ...] = ()
    month_of = month_finder(year, zone) if month is None else lambda _at: month
    if month is None:  # every month of the year, zeros included
        keys = [(m, f"{m}月") for m in range(1, 13)]
        months = _breakdown(keys, lambda _h, at: month_of(at), *rows)
    hospitals: tuple[Slice, ...] = ()
    if hospital_id is None:  # every registered hospital, and any since removed
        ids = sorted(
            set(names) | {t.hospital_id for t in tickets} | {q.hospital_id for q in questions}
        )
        hospitals = _breakdown([(h, names.get(h, h)) for h in ids], lambda h, _at: h, *rows)
    return Report(
        period=span,
        hospital_id=hospital_id,
        hospital_name="全部医院" if hospital_id is None else names.get(hospital_id, hospital_id),
        now=now,
        opened=len(opened),
        resolved=len(resolved),
        by_category=tuple((c, categories[c]) for c in CATEGORIES),
        by_urgency=tuple((u, urgencies[u]) for u in URGENCIES),
        timing=tuple(_timing(u, opened, judge, hospital_id) for u in (None, *URGENCIES)),
        beyond_target=tuple(
            sorted(late.values(), key=lambda x: (not x.still_open, -x.age, x.number))
        ),
        bot=bot_stats(questions),
        left_to_engineers=left_to_engineers,
        top_unanswered=top_unanswered(questions, top_n, names),
        months=months,
        hospitals=hospitals,
        sla=sla_rows(
            db_engine,
            hospital_id=hospital_id,
            start=span.start,
            end=span.end,
            month_of=month_of,
            names=names,
            now=now,
        ),
    )


def _timing(
    urgency: str | None, opened: Sequence[_Ticket], judge: SlaJudge, hospital_id: str | None
) -> Timing:
    rows = [t for t in opened if urgency is None or t.urgency == urgency]
    target, note = None, ""
    if urgency is not None:
        target = judge.target(hospital_id, urgency) if hospital_id else judge.default(urgency)
        note = basis(source_of(target), target.working_time)
        if hospital_id is None and (owning := judge.owning(urgency)):
            note += f"；{owning} 家医院另有合同目标"
    return Timing(
        urgency, len(rows), durations(_accept(rows)), durations(_resolve(rows)), target, note
    )


def _accept(rows: Iterable[_Ticket]) -> list[dt.timedelta]:
    return [t.accepted_at - t.created_at for t in rows if t.accepted_at]


def _resolve(rows: Iterable[_Ticket]) -> list[dt.timedelta]:
    return [t.completed_at - t.created_at for t in rows if t.completed_at]


def _late(t: _Ticket, sla: TicketSla, now: dt.datetime, names: dict[str, str]) -> LateTicket | None:
    """The ticket if it missed (or, still open, has already missed) a target; else None."""
    if not sla.late:
        return None
    still_open = t.status in OPEN_STATUSES
    done = t.completed_at or (now if still_open else None)
    return LateTicket(
        number=t.number,
        hospital_id=t.hospital_id,
        hospital_name=names.get(t.hospital_id, t.hospital_id),
        urgency=t.urgency,
        status=t.status,
        created_at=t.created_at,
        age=(done or now) - t.created_at,
        sla=sla,
        still_open=still_open,
    )


def bot_stats(questions: Sequence[_Question]) -> BotStats:
    answered = [q for q in questions if q.decision in ANSWERED]
    return BotStats(
        questions=len(questions),
        answered=len(answered),
        solved=sum(q.outcome == Outcome.SOLVED for q in questions),
        escalated=sum(q.outcome in ESCALATED for q in questions),
        deflected=sum(q.outcome not in ESCALATED for q in answered),
    )


def top_unanswered(
    questions: Iterable[_Question], top_n: int, names: Mapping[str, str] | None = None
) -> tuple[Unanswered, ...]:
    """The most frequent escalated or article-less questions; ties: most recent first. Their
    hospitals by name (``names``; the id for one no longer registered)."""
    names = names or {}
    groups: dict[str, list[_Question]] = defaultdict(list)
    for q in questions:
        if q.outcome in ESCALATED or q.decision not in ANSWERED:
            key = question_key(q.question)
            if key and q.question != ERASED:  # erased questions are no topic
                groups[key].append(q)
    rows = []
    for items in groups.values():
        items.sort(key=lambda q: q.created_at)
        where = tuple(sorted({names.get(q.hospital_id, q.hospital_id) for q in items}))
        rows.append(Unanswered(items[0].question, len(items), items[-1].created_at, where))
    rows.sort(key=lambda u: u.last_asked, reverse=True)
    rows.sort(key=lambda u: u.count, reverse=True)  # stable: equal counts stay most recent first
    return tuple(rows[: max(top_n, 0)])


def _breakdown(
    keys: Iterable[tuple[object, str]],
    key_of: Callable[[str, dt.datetime], object],
    opened: Sequence[_Ticket],
    resolved: Sequence[_Ticket],
    questions: Sequence[_Question],
    late: Iterable[_Ticket],
) -> tuple[Slice, ...]:
    """Rows of a breakdown table; ``key_of(hospital, time)`` says which row a record is in."""
    opened_by = _group(opened, lambda t: key_of(t.hospital_id, t.created_at))
    done_by = _group(resolved, lambda t: key_of(t.hospital_id, t.completed_at or t.created_at))
    asked_by = _group(questions, lambda q: key_of(q.hospital_id, q.created_at))
    late_by = _group(late, lambda t: key_of(t.hospital_id, t.created_at))
    return tuple(
        Slice(
            key=str(key),
            label=label,
            opened=len(opened_by[key]),
            resolved=len(done_by[key]),
            accept_median=median(_accept(opened_by[key])),
            resolve_median=median(_resolve(opened_by[key])),
            beyond_target=len(late_by[key]),
            bot=bot_stats(asked_by[key]),
        )
        for key, label in keys
    )


_R = TypeVar("_R")


def _group(rows: Iterable[_R], key: Callable[[_R], object]) -> defaultdict[object, list[_R]]:
    out: defaultdict[object, list[_R]] = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out
