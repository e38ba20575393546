"""常见问题 in the console: tickets grouped into a problem, its draft opened in the KB editor,
published with one save, and answered by the bot at the next question."""

from __future__ import annotations

import re

from bot.kb.loop.labels import LabelStore
from bot.kb.loop.models import Verdict
from intents.decide import DecisionKind
from tests.web.conftest import WebEnv, csrf_of

WRISTBAND = [
    "腕带打印机打出来是空白的",
    "病人腕带打印出来一片空白，患者张三 电话13812345678",
    "护士站腕带打不出字，纸是白的",
    "住院腕带打印机出纸但是没有内容",
]
RESOLUTION = "原因：驱动设成了热转印。1. 打印方式改为热敏；2. 打印测试腕带确认清晰。"


def seed(web: WebEnv) -> list[str]:
    services = web.app.services
    labels = LabelStore(web.app.db)  # type: ignore[arg-type]
    numbers = []
    for n, text in enumerate(WRISTBAND):
        t = web.register_ticket(("h001", "h002")[n % 2], text, category="install")
        services.tickets.claim(t.number, "e01")
        services.tickets.resolve(t.number, "e01", RESOLUTION)
        labels.record(t.number, Verdict.NEW, None, "e01")
        numbers.append(t.number)
    return numbers


def field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'name="{name}"[^>]*>([^<]*)</textarea>', html
    )
    assert m, f"no field {name}"
    return m.group(1)


async def test_a_problem_is_listed_drafted_and_published(web: WebEnv) -> None:
    numbers = seed(web)
    await web.login("e01")
    page = await web.client.get("/problems")
    assert page.status_code == 200
    html = page.text
    assert "4 次 · 2 家医院" in html and "无文章，建议起草" in html
    assert all(f"#{n}" in html for n in numbers)
    assert "13812345678" not in html and "张三" not in html
    [link] = re.findall(r'href="(/problems/[0-9a-f]{8}/draft\?days=7)"', html)

    editor = await web.client.get(link)
    assert editor.status_code == 200
    assert "草稿（未发布）" in editor.text and 'action="/kb/new"' in editor.text
    article_id = field(editor.text, "id")
    assert article_id.startswith("draft-install-")
    assert "13812345678" not in editor.text
    body = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', editor.text, re.S)
    assert body and "1. 打印方式改为热敏" in body.group(1).replace("&#34;", '"')
    # nothing is in the KB before the engineer saves
    assert web.app.services.engine.index.get(article_id) is None

    form = {
        name: field(editor.text, name) for name in ("id", "title", "module", "tags", "questions")
    }
    form["questions"] = re.search(
        r'<textarea[^>]*name="questions"[^>]*>(.*?)</textarea>', editor.text, re.S
    ).group(1)  # type: ignore[union-attr]
    form.update(category="install", body=body.group(1), csrf=csrf_of(editor.text))
    assert set(field(editor.text, "problem_tickets").split()) == set(numbers)
    form["problem_tickets"] = field(editor.text, "problem_tickets") + " not-a-ticket"
    refused = await web.client.post("/kb/new", data={**form, "category": "nonsense"})
    assert refused.status_code == 400  # the form comes back still naming the problem's tickets
    assert set(field(refused.text, "problem_tickets").split()) == set(numbers)
    saved = await web.client.post("/kb/new", data=form)
    assert saved.status_code == 303 and saved.headers["location"].startswith(f"/kb/{article_id}")
    # the problem's 需要新文章 labels now name the published article: the history expects it
    labels = LabelStore(web.app.db)  # type: ignore[arg-type]
    assert {r.number: r.article_id for r in labels.labelled()} == dict.fromkeys(numbers, article_id)
    decision = web.app.services.engine.decide("腕带打出来是白的，碳带也装了")
    assert decision.kind in (DecisionKind.ANSWER, DecisionKind.CONFIRM)
    assert decision.article is not None and decision.article.id == article_id


async def test_bad_periods_and_unknown_problems(web: WebEnv) -> None:
    await web.login("e01")
    assert (await web.client.get("/problems?days=5")).status_code == 400
    assert (await web.client.get("/problems/0badc0de/draft")).status_code == 404
    empty = await web.client.get("/problems?days=30")
    assert empty.status_code == 200 and "没有重复出现的问题" in empty.text


async def test_article_feedback_flags_unsolved_articles_and_splits_at_the_edit(
    web: WebEnv,
) -> None:
    import datetime as dt

    from bot.conversation.exchanges import ExchangeStore, Outcome
    from bot.kb.loop.feedback import article_feedback

    db = web.app.db
    assert db is not None
    when = [dt.datetime(2020, 1, 1, tzinfo=dt.UTC)]
    exchanges = ExchangeStore(db, clock=lambda: when[0])

    def answered(article: str, outcome: Outcome, decision: str = "answer") -> None:
        row = exchanges.record(
            hospital_id="h001", platform="web", chat_id="h001", thread_root="1",
            question_message_id="1", reporter_user_id="u", reporter_name="护士",
            question="腕带打印空白", decision=decision, article_ids=[article], confidence=0.9,
        )  # fmt: skip
        if outcome is not Outcome.PENDING:
            exchanges.set_outcome(row.id or 0, outcome)

    # before the article's current version (saved now): mostly unsolved
    for outcome in [Outcome.ESCALATED] * 4 + [Outcome.SOLVED, Outcome.PENDING]:
        answered("hb-007", outcome)
    answered("hb-007", Outcome.ESCALATED, decision="confirm")  # 不是: not an answer
    # after the edit (a later time than any real save): solved
    when[0] = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    for outcome in [Outcome.SOLVED] * 3 + [Outcome.UNSOLVED]:
        answered("hb-007", outcome)
    for outcome in [Outcome.UNSOLVED] * 3 + [Outcome.ESCALATED] * 2:
        answered("hb-002", outcome)

    rows = {f.article_id: f for f in article_feedback(db)}
    printer, insurance = rows["hb-007"], rows["hb-002"]
    assert (printer.before.answered, printer.before.solved, printer.before.unsolved) == (6, 1, 4)
    assert (printer.after.answered, printer.after.solved, printer.after.unsolved) == (4, 3, 1)
    assert not printer.needs_review  # the edit helped: judged on the answers since
    assert insurance.needs_review and insurance.after.share(insurance.after.unsolved) == 1.0
    assert article_feedback(db)[0].article_id == "hb-002"  # flagged first

    await web.login("e01")
    page = await web.client.get("/problems/articles")
    assert page.status_code == 200
    html = page.text
    assert "需复核" in html and html.index("hb-002") < html.index("hb-007")
    assert "修改前" in html and "修改后" in html and "67%" in html  # 4 of 6 before the edit
    # the KB page of each article shows its rates to engineers, and the flag on the flagged one
    flagged = (await web.client.get("/kb/hb-002")).text
    assert "需复核" in flagged and "回答反馈" in flagged
    fine = (await web.client.get("/kb/hb-007")).text
    assert "需复核" not in fine and "修改前：回答 6，已解决 1，没解决 4" in fine
    assert [f.article_id for f in article_feedback(db, only="hb-007")] == ["hb-007"]
