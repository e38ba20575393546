"""kb_index.articles: strict parsing, and errors that name the file and the field."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from kb_index.articles import (
    CATEGORIES,
    Article,
    ArticleError,
    parse_article,
    read_article,
    scan_folder,
)

FRONT = """\
id = "hb-900"
title = "门诊收费打印发票提示打印机脱机"
category = "usage"
module = "门诊收费"
tags = ["打印机", "发票", "脱机"]
questions = ["收费处打不了发票", "发票打印机显示脱机"]
updated = "2026-04-01"
"""

BODY = """\
## 现象
收费员点击打印发票时提示“打印机脱机”，纸质发票打不出来。

## 处理步骤
1. 检查打印机电源和数据线。
2. 在控制面板中取消“脱机使用打印机”。

## 注意
不要在打印过程中重启收费客户端。
"""


def article_text(front: str = FRONT, body: str = BODY) -> str:
    return f"+++\n{front}+++\n{body}"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def replace_line(front: str, key: str, new: str | None) -> str:
    """The front matter with the line of ``key`` replaced (``None`` removes it)."""
    lines = []
    for line in front.splitlines(keepends=True):
        if line.startswith(f"{key} ="):
            if new is not None:
                lines.append(new + "\n")
        else:
            lines.append(line)
    return "".join(lines)


# ---- valid articles ---------------------------------------------------------------------


def test_valid_article_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "hb-900.md", article_text())
    art = read_article(path)
    assert art.id == "hb-900"
    assert art.title == "门诊收费打印发票提示打印机脱机"
    assert art.category == "usage"
    assert art.module == "门诊收费"
    assert art.tags == ("打印机", "发票", "脱机")
    assert art.questions == ("收费处打不了发票", "发票打印机显示脱机")
    assert art.updated == dt.date(2026, 4, 1)
    assert art.body.startswith("## 现象")
    assert art.body.endswith("不要在打印过程中重启收费客户端。")


def test_steps_is_the_steps_section_only() -> None:
    art = parse_article(article_text(), "a.md")
    assert art.steps == "1. 检查打印机电源和数据线。\n2. 在控制面板中取消“脱机使用打印机”。"


def test_steps_falls_back_to_the_whole_body() -> None:
    art = parse_article(article_text(body="重启打印服务即可。\n"), "a.md")
    assert art.steps == "重启打印服务即可。"


def test_optional_lists_default_to_empty() -> None:
    front = replace_line(replace_line(FRONT, "tags", None), "questions", None)
    art = parse_article(article_text(front), "a.md")
    assert art.tags == ()
    assert art.questions == ()


def test_toml_date_and_datetime_are_accepted() -> None:
    d = parse_article(article_text(replace_line(FRONT, "updated", "updated = 2026-04-02")), "a.md")
    assert d.updated == dt.date(2026, 4, 2)
    front = replace_line(FRONT, "updated", "updated = 2026-04-03T08:30:00")
    assert parse_article(article_text(front), "a.md").updated == dt.date(2026, 4, 3)


def test_content_hash_changes_with_body_but_not_with_updated() -> None:
    base = parse_article(article_text(), "a.md")
    later = parse_article(
        article_text(replace_line(FRONT, "updated", 'updated = "2026-05-20"')), "a.md"
    )
    edited = parse_article(article_text(body=BODY.replace("电源", "电源线")), "a.md")
    assert later.updated != base.updated
    assert later.content_hash == base.content_hash
    assert edited.content_hash != base.content_hash
    assert len(base.content_hash) == 64


def test_content_hash_covers_title_and_questions() -> None:
    base = parse_article(article_text(), "a.md")
    assert dataclasses.replace(base, title="别的标题").content_hash != base.content_hash
    assert dataclasses.replace(base, questions=("另一个问法",)).content_hash != base.content_hash
    # moving a tag into the questions is a different article, not the same bytes
    moved = dataclasses.replace(
        base, tags=base.tags[:-1], questions=(base.tags[-1], *base.questions)
    )
    assert moved.content_hash != base.content_hash


def test_bom_is_tolerated(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.md", "\ufeff".encode() + article_text().encode("utf-8"))
    assert read_article(path).id == "hb-900"


def test_crlf_line_endings_are_tolerated(tmp_path: Path) -> None:
    path = write(tmp_path, "crlf.md", article_text().replace("\n", "\r\n").encode("utf-8"))
    art = read_article(path)
    assert art.title == "门诊收费打印发票提示打印机脱机"
    assert "\r" not in art.steps


def test_to_markdown_round_trips_the_sample_kb(sample_articles: tuple[Article, ...]) -> None:
    assert len(sample_articles) == 15
    for art in sample_articles:
        assert parse_article(art.to_markdown(), f"{art.id}.md") == art


def test_to_markdown_escapes_quotes_and_backslashes() -> None:
    art = dataclasses.replace(
        parse_article(article_text(), "a.md"),
        title='路径 C:\\HIS\\bin 提示 "找不到文件"',
        tags=('a"b', "c\\d"),
    )
    assert parse_article(art.to_markdown(), "a.md") == art


def test_to_markdown_round_trips_a_question_with_a_newline() -> None:
    front = replace_line(FRONT, "questions", 'questions = ["发票打不出来\\n提示脱机"]')
    art = parse_article(article_text(front), "a.md")
    assert art.questions == ("发票打不出来\n提示脱机",)
    assert parse_article(art.to_markdown(), "a.md") == art


# ---- bad articles: the error names the file and the field -------------------------------


def bad(tmp_path: Path, text: str | bytes, name: str = "bad-article.md") -> ArticleError:
    path = write(tmp_path, name, text)
    with pytest.raises(ArticleError) as info:
        read_article(path)
    err = info.value
    assert err.source == str(path)
    assert str(path) in str(err)
    return err


def test_missing_front_matter(tmp_path: Path) -> None:
    err = bad(tmp_path, BODY)
    assert err.field is None
    assert "+++" in str(err)


def test_empty_file(tmp_path: Path) -> None:
    err = bad(tmp_path, "")
    assert "+++" in str(err)


def test_unclosed_front_matter(tmp_path: Path) -> None:
    err = bad(tmp_path, "+++\n" + FRONT + BODY)
    assert err.field is None
    assert "closing" in str(err)


def test_invalid_toml(tmp_path: Path) -> None:
    err = bad(tmp_path, article_text(FRONT.replace('title = "', "title = ")))
    assert err.field is None
    assert "TOML" in str(err)


@pytest.mark.parametrize("field", ["id", "title", "category", "module", "updated"])
def test_missing_required_field(tmp_path: Path, field: str) -> None:
    err = bad(tmp_path, article_text(replace_line(FRONT, field, None)))
    assert err.field == field
    assert f"field '{field}'" in str(err)
    assert "missing" in str(err)


@pytest.mark.parametrize("value", ['""', '"   "', "42", '["标题"]'])
def test_title_must_be_a_non_empty_string(tmp_path: Path, value: str) -> None:
    err = bad(tmp_path, article_text(replace_line(FRONT, "title", f"title = {value}")))
    assert err.field == "title"


def test_bad_category(tmp_path: Path) -> None:
    err = bad(tmp_path, article_text(replace_line(FRONT, "category", 'category = "billing"')))
    assert err.field == "category"
    assert "'billing'" in str(err)
    assert "insurance" in str(err)  # the message lists the allowed values


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_contract_category_is_accepted(category: str) -> None:
    front = replace_line(FRONT, "category", f'category = "{category}"')
    assert parse_article(article_text(front), "a.md").category == category


@pytest.mark.parametrize(
    "value", ['"2026-13-01"', '"yesterday"', '"2026/04/01"', "20260401", "true"]
)
def test_bad_date(tmp_path: Path, value: str) -> None:
    err = bad(tmp_path, article_text(replace_line(FRONT, "updated", f"updated = {value}")))
    assert err.field == "updated"
    assert "YYYY-MM-DD" in str(err)


def test_unknown_field(tmp_path: Path) -> None:
    err = bad(tmp_path, article_text(FRONT + 'author = "张工"\n'))
    assert err.field == "author"
    assert "unknown field" in str(err)


def test_misspelt_field_is_unknown_not_silently_dropped(tmp_path: Path) -> None:
    err = bad(tmp_path, article_text(FRONT.replace("questions =", "question =")))
    assert err.field == "question"


@pytest.mark.parametrize("body", ["", "\n\n   \n"])
def test_empty_body(tmp_path: Path, body: str) -> None:
    err = bad(tmp_path, article_text(body=body))
    assert err.field == "body"
    assert "empty" in str(err)


@pytest.mark.parametrize("value", ['"发票"', '["发票", ""]', '["发票", 3]'])
def test_tags_must_be_a_list_of_non_empty_strings(tmp_path: Path, value: str) -> None:
    err = bad(tmp_path, article_text(replace_line(FRONT, "tags", f"tags = {value}")))
    assert err.field == "tags"


@pytest.mark.parametrize("value", ['"HB-900"', '"hb 900"', '"-hb"', '"医保-1"'])
def test_bad_id(tmp_path: Path, value: str) -> None:
    err = bad(tmp_path, article_text(replace_line(FRONT, "id", f"id = {value}")))
    assert err.field == "id"


def test_invalid_utf8(tmp_path: Path) -> None:
    raw = article_text().encode("utf-8")
    at = raw.index("门诊收费".encode())
    err = bad(tmp_path, raw[:at] + b"\xff\xfe" + raw[at:])
    assert err.field is None
    assert "UTF-8" in str(err)
    assert f"byte {at}" in str(err)


def test_gbk_file_is_rejected_as_invalid_utf8(tmp_path: Path) -> None:
    err = bad(tmp_path, article_text().encode("gbk"))
    assert "UTF-8" in str(err)


def test_unreadable_path_is_an_article_error(tmp_path: Path) -> None:
    with pytest.raises(ArticleError) as info:
        read_article(tmp_path / "missing.md")
    assert "missing.md" in str(info.value)


# ---- scanning a folder ------------------------------------------------------------------


def test_scan_sample_kb(sample_kb_dir: Path) -> None:
    scan = scan_folder(sample_kb_dir)
    assert scan.errors == ()
    assert [a.id for a in scan.articles] == [f"hb-{i:03d}" for i in range(1, 16)]


def test_scan_folder_ignores_readme_and_other_files(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# 说明\n这不是文章")
    write(tmp_path, "sub/readme.md", "也不是")
    write(tmp_path, "notes.txt", "不是 markdown")
    write(tmp_path, "sub/hb-900.md", article_text())
    scan = scan_folder(tmp_path)
    assert scan.errors == ()
    assert [a.id for a in scan.articles] == ["hb-900"]


def test_scan_folder_duplicate_id_rejects_the_second_file_naming_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a-first.md", article_text())
    second = write(tmp_path, "b-second.md", article_text(body="另一个正文。\n"))
    scan = scan_folder(tmp_path)
    assert [a.id for a in scan.articles] == ["hb-900"]
    assert scan.articles[0].body.startswith("## 现象")  # the first file won
    assert len(scan.errors) == 1
    err = scan.errors[0]
    assert err.source == str(second)
    assert err.field == "id"
    assert str(first) in str(err)
    assert str(second) in str(err)
    assert "duplicate" in str(err)


def test_scan_folder_reports_bad_files_and_keeps_the_good(tmp_path: Path) -> None:
    write(tmp_path, "good.md", article_text())
    write(
        tmp_path,
        "bad-cat.md",
        article_text(replace_line(FRONT, "category", 'category = "x"').replace("hb-900", "hb-901")),
    )
    write(tmp_path, "bad-bytes.md", b"+++\n\xff\n+++\nbody")
    scan = scan_folder(tmp_path)
    assert [a.id for a in scan.articles] == ["hb-900"]
    by_file = {Path(e.source).name: e for e in scan.errors}
    assert set(by_file) == {"bad-cat.md", "bad-bytes.md"}
    assert by_file["bad-cat.md"].field == "category"


def test_scan_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        scan_folder(tmp_path / "nope")
