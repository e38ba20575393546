"""Knowledge-base pages: browse, search with the bot's engine, articles and their history,
and engineers' edits that the bot answers with at once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

import pytest
from markupsafe import Markup
from sqlalchemy import Engine
from sqlmodel import Session

from bot.kb.editing import Draft, EditConflict, LiveKnowledge
from bot.kb.knowledge import load_index, view_recipe
from bot.web.kb_pages import match_spans, query_terms, snippet
from kb_index.embedder import Embedder, Vectors
from kb_index.index import article_views
from kb_index.store import KbArticle, article_history, import_folder
from tests.web.conftest import WebEnv, csrf_of

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"

NEW_ARTICLE = {
    "id": "hb-900",
    "title": "自助机打印发票时卡纸报警",
    "category": "usage",
    "module": "自助服务",
    "tags": "自助机, 发票, 卡纸",
    "questions": "自助机打发票卡纸了\n自助机一直响报警打不出发票",
    "body": "## 现象\n自助机打印发票中途停止并报警。\n\n## 处理步骤\n1. 打开自助机后盖取出卡住的纸。\n2. 重新装入发票纸后点击“重打”。",
}


def edit_form(article: KbArticle, **changes: str) -> dict[str, str]:
    a = article.to_article()
    form = {
        "id": a.id,
        "title": a.title,
        "category": a.category,
        "module": a.module,
        "tags": ", ".join(a.tags),
        "questions": "\n".join(a.questions),
        "body": a.body,
        "based_on": str(article.version),
    }
    return {**form, **changes}


def db(web: WebEnv) -> Engine:
    assert web.app.db is not None
    return web.app.db


def current(web: WebEnv, article_id: str) -> KbArticle:
    with Session(db(web)) as s:
        row = s.get(KbArticle, article_id)
        assert row is not None
        return row


class CountingEmbedder:
    """The running model, counting the passages a rebuild embeds."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.passages: list[str] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.passages.extend(texts)
        return self.inner.embed_passages(texts)


class BrokenEmbedder(CountingEmbedder):
    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        raise RuntimeError("the model crashed")


# -- reading ---------------------------------------------------------------------------------


async def test_browse_lists_categories_modules_and_articles(web: WebEnv) -> None:
    r = await web.client.get("/kb")
    assert r.status_code == 200
    assert "医保" in r.text and "数据修正" in r.text  # Chinese category labels
    assert "/kb/hb-001" in r.text and "/kb/hb-015" in r.text
    assert 'href="/kb?category=insurance"' in r.text


async def test_browse_filters_by_category_and_module(web: WebEnv) -> None:
    r = await web.client.get("/kb", params={"category": "insurance"})
    assert "/kb/hb-002" in r.text and "/kb/hb-003" in r.text
    assert "/kb/hb-001" not in r.text
    assert "医保接口" in r.text  # the category's module facet
    r = await web.client.get("/kb", params={"module": "系统管理"})
    assert "/kb/hb-001" in r.text and "/kb/hb-011" in r.text
    assert "/kb/hb-002" not in r.text
    assert "共 2 篇" in r.text


async def test_search_finds_the_article_and_highlights_matches(web: WebEnv) -> None:
    r = await web.client.get("/kb/search", params={"q": "住院医保结算提示就诊信息不存在"})
    assert r.status_code == 200
    assert re.findall(r'href="/kb/(hb-\d+)"', r.text)[0] == "hb-003"
    assert "<mark>住院医保结算提示就诊信息不存在</mark>" in r.text  # the title, one merged span
    assert "<mark>就诊信息不存在</mark>" in r.text  # and in the snippet


async def test_search_understands_pinyin_shorthand(web: WebEnv) -> None:
    r = await web.client.get("/kb/search", params={"q": "yb结算"})
    found = re.findall(r'href="/kb/(hb-\d+)"', r.text)
    assert found[:2] and set(found[:2]) <= {"hb-002", "hb-003"}
    assert "<mark>医保结算</mark>" in r.text


async def test_search_without_a_match_or_with_bad_queries(web: WebEnv) -> None:
    r = await web.client.get("/kb/search", params={"q": "今天天气怎么样"})
    assert r.status_code == 200 and "没有找到相关文章" in r.text
    r = await web.client.get("/kb/search", params={"q": "  "})
    assert r.status_code == 200 and "拼音首字母" in r.text
    r = await web.client.get("/kb/search", params={"q": "医保" * 200})
    assert r.status_code == 200 and "搜索内容过长" in r.text


def test_highlighting_escapes_before_marking() -> None:
    terms = query_terms("script 医保")
    text = f"{XSS_SCRIPT} 医保结算"
    out = snippet(text, terms)
    assert isinstance(out, Markup)
    assert "<script>" not in out
    assert "&lt;<mark>script</mark>&gt;" in out and "<mark>医保</mark>" in out
    assert match_spans("医保结算", query_terms("ybjs")) == [(0, 4)]


async def test_article_page_shows_metadata_steps_and_history_link(web: WebEnv) -> None:
    r = await web.client.get("/kb/hb-003")
    assert r.status_code == 200
    assert "住院医保结算提示就诊信息不存在" in r.text
    assert "医保接口" in r.text and "mdtrt_id" in r.text  # module, tags
    assert "自费入院后改医保" in r.text  # questions
    assert "处理步骤" in r.text and "<ol>" in r.text  # steps rendered from Markdown
    assert "2026-04-15" in r.text and "第 1 版" in r.text
    assert 'href="/kb/hb-003/history"' in r.text
    assert 'href="/kb/hb-003/edit"' not in r.text  # anonymous: no edit button


async def test_unknown_article_is_a_404_page(web: WebEnv) -> None:
    for path in (
        "/kb/nope",
        "/kb/nope/history",
        "/kb/hb-001/history?v=9",
        "/kb/hb-001/history?v=x",
    ):
        r = await web.client.get(path)
        assert r.status_code == 404, path
        assert "页面不存在" in r.text


async def test_history_lists_versions_and_shows_old_markdown(web: WebEnv) -> None:
    c = await web.login("e01")
    row = current(web, "hb-002")
    r = await web.post_form(
        c, "/kb/hb-002/edit", edit_form(row, title="住院医保结算总额不一致"), "/kb/hb-002/edit"
    )
    assert r.status_code == 303
    r = await web.client.get("/kb/hb-002/history")
    assert "第 2 版" in r.text and "第 1 版" in r.text
    assert "网页编辑" in r.text and "文件导入" in r.text and "e01" in r.text
    r = await web.client.get("/kb/hb-002/history", params={"v": "1"})
    assert "title = &#34;住院医保结算提示总额与明细合计不一致&#34;" in r.text


# -- who may edit ----------------------------------------------------------------------------


async def test_anonymous_and_hospital_cannot_edit(web: WebEnv) -> None:
    token = await web.csrf(web.client, "/login")  # a valid anonymous token
    data = {**NEW_ARTICLE, "csrf": token}
    for path in ("/kb/new", "/kb/hb-001/edit"):
        r = await web.client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    for path in ("/kb/new", "/kb/hb-001/edit", "/kb/preview"):
        r = await web.client.post(path, data=data)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    hospital = await web.as_hospital("h001")
    r = await hospital.get("/kb/hb-001")
    assert r.status_code == 200 and 'href="/kb/hb-001/edit"' not in r.text
    h_token = await web.csrf(hospital, "/kb")
    for path in ("/kb/new", "/kb/hb-001/edit"):
        assert (await hospital.get(path)).status_code == 404
    for path in ("/kb/new", "/kb/hb-001/edit", "/kb/preview"):
        r = await hospital.post(path, data={**NEW_ARTICLE, "csrf": h_token, "based_on": "1"})
        assert r.status_code == 404, path
    with pytest.raises(AssertionError):
        current(web, "hb-900")
    assert current(web, "hb-001").version == 1


async def test_post_without_csrf_token_is_refused(web: WebEnv) -> None:
    c = await web.login("e01")
    r = await c.post("/kb/new", data=NEW_ARTICLE)
    assert r.status_code == 403
    r = await c.post("/kb/new", data={**NEW_ARTICLE, "csrf": "forged"})
    assert r.status_code == 403
    with pytest.raises(AssertionError):
        current(web, "hb-900")


# -- editing ---------------------------------------------------------------------------------


async def test_created_article_is_answered_at_once(web: WebEnv) -> None:
    engine = web.app.services.engine
    before = engine.index
    assert engine.rank("自助机打印发票卡纸", 1)[0].article.id != "hb-900"
    c = await web.login("e01")
    r = await web.post_form(c, "/kb/new", NEW_ARTICLE, "/kb/new")
    assert r.status_code == 303 and r.headers["location"] == "/kb/hb-900?n=saved"
    assert engine.index is not before and len(engine.index) == 16
    decision = engine.decide("自助机打印发票卡纸了怎么办")
    assert decision.article is not None and decision.article.id == "hb-900"
    r = await c.get(r.headers["location"])
    assert "已保存并重新索引" in r.text and "自助机打印发票时卡纸报警" in r.text
    [version] = article_history(db(web), "hb-900")
    assert (version.source, version.changed_by) == ("web", "e01")
    audit = web.store.audit_search()
    assert (audit[0].action, audit[0].target) == ("kb_create", "hb-900")
    # the public search finds it too, and a restart loads the saved index without embedding
    r = await web.client.get("/kb/search", params={"q": "自助机卡纸"})
    assert 'href="/kb/hb-900"' in r.text
    assert load_index(web.settings, engine.embedder).get("hb-900") is not None


async def test_saving_without_a_change_makes_no_version(web: WebEnv) -> None:
    c = await web.login("e01")
    row = current(web, "hb-001")
    r = await web.post_form(c, "/kb/hb-001/edit", edit_form(row), "/kb/hb-001/edit")
    assert r.headers["location"] == "/kb/hb-001?n=unchanged"
    assert current(web, "hb-001").version == 1


async def test_concurrent_saves_both_reach_the_index(web: WebEnv) -> None:
    engine = web.app.services.engine
    live = LiveKnowledge(web.settings, web.app.services.db, engine)
    draft = Draft(**NEW_ARTICLE)
    one = draft.to_article(dt.date(2026, 5, 1))
    two = dataclasses.replace(draft, id="hb-901").to_article(one.updated)
    results = await asyncio.gather(live.save(one, "e01", None), live.save(two, "e02", None))
    assert [(r.outcome, r.version, r.embedded) for r in results] == [("added", 1, 1)] * 2
    assert engine.index.get("hb-900") and engine.index.get("hb-901")
    with pytest.raises(EditConflict) as info:
        await live.save(one, "e01", None)  # "new", but the id is taken by now
    assert info.value.current_version == 1


async def test_editing_re_embeds_only_that_article(web: WebEnv) -> None:
    engine = web.app.services.engine
    counting = CountingEmbedder(engine.embedder)
    engine.embedder = counting
    c = await web.login("e01")
    row = current(web, "hb-007")
    body = row.body + "\n\n## 补充\n更换色带后仍乱码的，检查打印驱动是否为通用文本驱动。"
    r = await web.post_form(c, "/kb/hb-007/edit", edit_form(row, body=body), "/kb/hb-007/edit")
    assert r.status_code == 303
    edited = current(web, "hb-007")
    assert edited.version == 2 and "通用文本驱动" in edited.body
    views = article_views(edited.to_article(), view_recipe(web.settings))
    assert counting.passages == [text for _, text in views]  # hb-007's views, nothing else
    assert [v.version for v in article_history(db(web), "hb-007")] == [1, 2]


async def test_a_failed_rebuild_keeps_the_save_and_says_so(web: WebEnv) -> None:
    engine = web.app.services.engine
    before = engine.index
    broken = BrokenEmbedder(engine.embedder)
    engine.embedder = broken
    c = await web.login("e01")
    row = current(web, "hb-008")
    r = await web.post_form(c, "/kb/hb-008/edit", edit_form(row, title="电子票据未授权"))
    assert r.headers["location"] == "/kb/hb-008?n=stale"
    assert current(web, "hb-008").version == 2 and engine.index is before
    assert "搜索索引更新失败" in (await c.get(r.headers["location"])).text


async def test_validation_errors_name_the_field_and_keep_the_input(web: WebEnv) -> None:
    c = await web.login("e01")
    bad = {**NEW_ARTICLE, "id": "Bad Id!", "questions": "保留这句问法"}
    r = await web.post_form(c, "/kb/new", bad, "/kb/new")
    assert r.status_code == 400
    assert "「编号」" in r.text and "保留这句问法" in r.text
    r = await web.post_form(c, "/kb/new", {**NEW_ARTICLE, "category": "network"}, "/kb/new")
    assert r.status_code == 400 and "「分类」请选择一个分类" in r.text
    r = await web.post_form(c, "/kb/new", {**NEW_ARTICLE, "title": " "}, "/kb/new")
    assert r.status_code == 400 and "「标题」不能为空" in r.text
    r = await web.post_form(c, "/kb/new", {**NEW_ARTICLE, "id": "hb-001"}, "/kb/new")
    assert r.status_code == 409 and "已被其他文章使用" in r.text
    assert current(web, "hb-001").version == 1


async def test_concurrent_edit_shows_a_conflict_instead_of_overwriting(web: WebEnv) -> None:
    first = await web.login("e01")
    second = await web.login("e02", web.new_client())
    row = current(web, "hb-004")
    r = await web.post_form(first, "/kb/hb-004/edit", edit_form(row, module="门诊挂号系统"))
    assert r.status_code == 303
    r = await web.post_form(second, "/kb/hb-004/edit", edit_form(row, title="号源锁定"))
    assert r.status_code == 409
    assert "已被他人修改" in r.text and "号源锁定" in r.text
    assert 'name="based_on" value="2"' in r.text
    now = current(web, "hb-004")
    assert (now.version, now.module, now.title) == (2, "门诊挂号系统", row.title)


async def test_preview_renders_markdown_without_saving(web: WebEnv) -> None:
    c = await web.login("e01")
    data = {**NEW_ARTICLE, "body": "## 处理步骤\n1. **先**重启\n\n联系 13812345678"}
    r = await web.post_form(c, "/kb/preview", data, "/kb/new")
    assert r.status_code == 200
    assert "<strong>先</strong>" in r.text and "[手机号]" in r.text
    assert "将在保存时被隐去" in r.text
    assert "13812345678" in r.text  # the textarea keeps the input as typed
    with pytest.raises(AssertionError):
        current(web, "hb-900")


async def test_personal_data_is_masked_before_saving(web: WebEnv) -> None:
    c = await web.login("e01")
    data = {**NEW_ARTICLE, "questions": "病人身份证110101199003071234结算不了"}
    r = await web.post_form(c, "/kb/new", data, "/kb/new")
    assert r.headers["location"] == "/kb/hb-900?n=masked"
    row = current(web, "hb-900")
    assert "110101199003071234" not in row.questions_json and "[身份证号]" in row.questions_json
    r = await c.get(r.headers["location"])
    assert "已被自动隐去" in r.text


async def test_script_in_an_article_is_rendered_escaped(web: WebEnv) -> None:
    c = await web.login("e01")
    data = {
        **NEW_ARTICLE,
        "title": f"标题{XSS_SCRIPT}",
        "tags": XSS_IMG,
        "body": f"## 现象\n{XSS_SCRIPT}\n\n{XSS_IMG}\n\n[点我](javascript:alert(1))",
    }
    r = await web.post_form(c, "/kb/new", data, "/kb/new")
    assert r.status_code == 303
    pages = [
        await c.get("/kb/hb-900"),
        await c.get("/kb/hb-900/edit"),
        await c.get("/kb/hb-900/history?v=1"),
        await web.client.get("/kb"),
        await web.client.get("/kb/search", params={"q": "自助机 script"}),
    ]
    for page in pages:
        assert page.status_code == 200
        assert XSS_SCRIPT not in page.text and XSS_IMG not in page.text
        assert 'href="javascript:' not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0].text


# -- folder import and web edits -------------------------------------------------------------


async def test_restart_import_keeps_a_web_edit_over_an_unchanged_file(web: WebEnv) -> None:
    c = await web.login("e01")
    row = current(web, "hb-005")
    r = await web.post_form(
        c, "/kb/hb-005/edit", edit_form(row, title="挂号找不到医生号别（网页版）")
    )
    assert r.status_code == 303
    report = import_folder(db(web), web.settings.path(web.settings.kb.dir))
    assert report.kept == ("hb-005",) and "hb-005" in report.unchanged
    assert current(web, "hb-005").title == "挂号找不到医生号别（网页版）"


# -- access setting --------------------------------------------------------------------------


class TestLoginOnly:
    @pytest.fixture
    def extra_config(self) -> str:
        return '[web]\nkb_access = "login"\n'

    async def test_kb_needs_a_login(self, web: WebEnv) -> None:
        for path in ("/kb", "/kb/hb-001", "/kb/search?q=yb", "/kb/hb-001/history"):
            r = await web.client.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next=")
        hospital = await web.as_hospital("h002")
        assert (await hospital.get("/kb/hb-001")).status_code == 200
        c = await web.login("e02")
        r = await c.get("/kb")
        assert r.status_code == 200 and csrf_of(r.text)


# -- retiring and restoring ------------------------------------------------------------------

#: A question hb-003 answers.
HB003_QUESTION = "住院医保上传提示就诊ID不存在"


def answered_with(web: WebEnv, question: str) -> str | None:
    decision = web.app.services.engine.decide(question)
    return decision.article.id if decision.article is not None else None


def candidates(web: WebEnv, question: str) -> list[str]:
    return [h.article.id for h in web.app.services.engine.rank(question, 15)]


async def test_a_retired_article_is_no_longer_answered_and_restoring_brings_it_back(
    web: WebEnv,
) -> None:
    assert answered_with(web, HB003_QUESTION) == "hb-003"
    c = await web.login("e01")
    r = await web.post_form(
        c, "/kb/hb-003/retire", {"reason": "HIS 4.x 已无医院使用"}, "/kb/hb-003"
    )
    assert r.status_code == 303 and r.headers["location"] == "/kb/hb-003?n=retired"
    # the very next question: not answered with it, not even a candidate
    assert answered_with(web, HB003_QUESTION) != "hb-003"
    assert "hb-003" not in candidates(web, HB003_QUESTION)
    row = current(web, "hb-003")
    assert row.retired and (row.retired_by, row.retired_reason) == ("e01", "HIS 4.x 已无医院使用")
    audit = web.store.audit_search()
    assert (audit[0].action, audit[0].target, audit[0].detail) == (
        "kb_retire",
        "hb-003",
        "HIS 4.x 已无医院使用",
    )
    page = await c.get(r.headers["location"])
    assert "已停用：机器人不再用这篇文章回答" in page.text
    assert 'action="/kb/hb-003/restore"' in page.text
    assert 'action="/kb/hb-003/retire"' not in page.text
    # retiring again changes nothing (and is not audited twice)
    r = await web.post_form(c, "/kb/hb-003/retire", {"reason": "again"}, "/kb/hb-003")
    assert r.status_code == 303 and current(web, "hb-003").retired_reason == "HIS 4.x 已无医院使用"
    assert [a.action for a in web.store.audit_search()].count("kb_retire") == 1

    r = await web.post_form(c, "/kb/hb-003/restore", {}, "/kb/hb-003")
    assert r.status_code == 303 and r.headers["location"] == "/kb/hb-003?n=restored"
    assert answered_with(web, HB003_QUESTION) == "hb-003"
    assert not current(web, "hb-003").retired
    assert web.store.audit_search()[0].action == "kb_restore"
    # the history lists both events, newest first, next to the (unchanged) versions
    r = await web.client.get("/kb/hb-003/history")
    assert "停用与恢复" in r.text and "HIS 4.x 已无医院使用" in r.text
    assert r.text.index("恢复</td>") < r.text.index("停用</span>")
    assert "第 1 版" in r.text and "第 2 版" not in r.text


async def test_a_retired_article_page_still_opens_with_a_banner(web: WebEnv) -> None:
    c = await web.login("e01", web.new_client())
    await web.post_form(c, "/kb/hb-003/retire", {"reason": "已被 hb-002 取代"}, "/kb/hb-003")
    hospital = await web.as_hospital("h001")
    for client in (web.client, hospital, c):
        r = await client.get("/kb/hb-003")
        assert r.status_code == 200
        assert "此文章已停用" in r.text and "已被 hb-002 取代" in r.text and "e01" in r.text
        assert "住院医保结算提示就诊信息不存在" in r.text  # the content is still readable
    for client in (web.client, hospital):  # no retire/restore forms for them
        r = await client.get("/kb/hb-003")
        assert "/kb/hb-003/restore" not in r.text and "/kb/hb-003/retire" not in r.text
    assert "此文章已停用" in (await web.client.get("/kb/hb-003/history")).text


async def test_retired_articles_are_hidden_from_browse_and_search_but_not_engineers(
    web: WebEnv,
) -> None:
    c = await web.login("e01", web.new_client())
    r = await c.get("/kb/hb-003")
    assert 'action="/kb/hb-003/retire"' in r.text and 'name="reason"' in r.text
    await web.post_form(c, "/kb/hb-003/retire", {"reason": "过时"}, "/kb/hb-003")
    hospital = await web.as_hospital("h001")
    for client in (web.client, hospital):
        for params in ({}, {"retired": "1"}, {"category": "insurance"}):
            r = await client.get("/kb", params=params)
            assert r.status_code == 200 and 'href="/kb/hb-003"' not in r.text, params
            assert "已停用" not in r.text
        r = await client.get("/kb/search", params={"q": "医保就诊ID不存在"})
        assert r.status_code == 200 and 'href="/kb/hb-003"' not in r.text
    # engineers: not among the articles in use, listed and marked under 已停用
    r = await c.get("/kb")
    assert 'href="/kb/hb-003"' not in r.text and 'href="/kb?retired=1"' in r.text
    r = await c.get("/kb", params={"retired": "1"})
    assert 'href="/kb/hb-003"' in r.text and 'class="badge kb-retired">已停用' in r.text
    assert 'href="/kb/hb-001"' not in r.text


async def test_retiring_needs_a_reason(web: WebEnv) -> None:
    c = await web.login("e01")
    for reason in ("", "   ", "长" * 201):
        r = await web.post_form(c, "/kb/hb-003/retire", {"reason": reason}, "/kb/hb-003")
        assert r.headers["location"] == "/kb/hb-003?n=no_reason"
    assert not current(web, "hb-003").retired
    assert "请填写停用原因" in (await c.get("/kb/hb-003?n=no_reason")).text


async def test_only_engineers_retire_or_restore_with_the_csrf_token(web: WebEnv) -> None:
    before = len(web.app.services.engine.index)
    token = await web.csrf(web.client, "/login")  # a valid anonymous token
    hospital = await web.as_hospital("h001")
    h_token = await web.csrf(hospital, "/kb")
    for action in ("retire", "restore"):
        path = f"/kb/hb-003/{action}"
        r = await web.client.post(path, data={"reason": "x", "csrf": token})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        r = await hospital.post(path, data={"reason": "x", "csrf": h_token})
        assert r.status_code == 404
    c = await web.login("e01")
    r = await c.post("/kb/hb-003/retire", data={"reason": "x"})  # no token
    assert r.status_code == 403
    r = await c.post("/kb/hb-003/retire", data={"reason": "x", "csrf": "wrong"})
    assert r.status_code == 403
    assert not current(web, "hb-003").retired and len(web.app.services.engine.index) == before
    r = await web.post_form(c, "/kb/nope/retire", {"reason": "x"}, "/kb")
    assert r.status_code == 404


async def test_import_and_web_edits_keep_a_retired_article_retired(web: WebEnv) -> None:
    c = await web.login("e01")
    await web.post_form(c, "/kb/hb-003/retire", {"reason": "过时"}, "/kb/hb-003")
    import_folder(db(web), web.settings.path(web.settings.kb.dir))
    row = current(web, "hb-003")
    r = await web.post_form(c, "/kb/hb-003/edit", edit_form(row, title="旧版医保结算（停用）"))
    assert r.status_code == 303
    row = current(web, "hb-003")
    assert row.retired and row.version == 2
    assert "hb-003" not in candidates(web, "旧版医保结算停用")


async def test_a_retire_and_a_save_at_once_both_reach_the_index(web: WebEnv) -> None:
    """They share the console's one ``LiveKnowledge`` (one lock): neither rebuild starts from
    an index the other is replacing."""
    c = await web.login("e01")
    row = current(web, "hb-005")
    await asyncio.gather(
        web.post_form(c, "/kb/hb-003/retire", {"reason": "过时"}, "/kb/hb-003"),
        web.post_form(c, "/kb/hb-005/edit", edit_form(row, title="挂号找不到医生号别（新）")),
    )
    index = web.app.services.engine.index
    assert index.get("hb-003") is None
    entry = index.get("hb-005")
    assert entry is not None and entry.title == "挂号找不到医生号别（新）"


async def test_a_failed_rebuild_on_restore_says_so_and_a_repeat_catches_up(web: WebEnv) -> None:
    engine = web.app.services.engine
    c = await web.login("e01")
    await web.post_form(c, "/kb/hb-003/retire", {"reason": "过时"}, "/kb/hb-003")
    working = engine.embedder
    engine.embedder = BrokenEmbedder(working)  # restoring must embed hb-003 again
    r = await web.post_form(c, "/kb/hb-003/restore", {}, "/kb/hb-003")
    assert r.headers["location"] == "/kb/hb-003?n=restore_stale"
    assert "搜索索引更新失败" in (await c.get(r.headers["location"])).text
    assert not current(web, "hb-003").retired and engine.index.get("hb-003") is None
    engine.embedder = working
    # restoring again writes nothing (not audited twice) but brings the index into step
    r = await web.post_form(c, "/kb/hb-003/restore", {}, "/kb/hb-003")
    assert r.headers["location"] == "/kb/hb-003?n=restored"
    assert answered_with(web, HB003_QUESTION) == "hb-003"
    assert [a.action for a in web.store.audit_search()].count("kb_restore") == 1
