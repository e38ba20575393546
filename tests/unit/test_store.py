"""kb_index.store: importing a folder into SQLite, idempotently, with every version kept."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.infra.db import make_engine
from kb_index.articles import parse_article
from kb_index.store import (
    WEB_SOURCE,
    KbArticle,
    KbArticleVersion,
    article_history,
    import_folder,
    list_articles,
    load_articles,
    restore_article,
    retire_article,
    save_article,
)

SAMPLE_IDS = [f"hb-{i:03d}" for i in range(1, 16)]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'db' / 'hisbot.db'}")


@pytest.fixture
def kb(tmp_path: Path, sample_kb_dir: Path) -> Path:
    """A private copy of the sample KB that tests may edit."""
    folder = tmp_path / "kb"
    shutil.copytree(sample_kb_dir, folder)
    return folder


def version_rows(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(KbArticleVersion)).one())


def test_import_timestamps_are_stored_and_read_back(engine: Engine, kb: Path) -> None:
    # regression: naive datetimes were rejected by SQLModel's UTCDateTime column type
    import_folder(engine, kb)
    [version] = article_history(engine, "hb-001")
    with Session(engine) as s:
        row = s.get(KbArticle, "hb-001")
        assert row is not None
        assert row.imported_at.tzinfo is not None
        assert row.imported_at == version.created_at


def test_import_sample_kb(engine: Engine, kb: Path, tmp_path: Path) -> None:
    report = import_folder(engine, kb)
    assert not report.errors
    assert sorted(report.added) == SAMPLE_IDS
    assert report.updated == () and report.unchanged == ()
    assert (tmp_path / "db" / "hisbot.db").is_file()
    articles = load_articles(engine)
    assert [a.id for a in articles] == SAMPLE_IDS
    assert version_rows(engine) == 15
    # what comes back from the database is exactly what was parsed from the file
    assert articles[1] == parse_article((kb / "hb-002.md").read_text(encoding="utf-8"), "hb-002.md")


def test_progress_is_called_once_per_article(engine: Engine, kb: Path) -> None:
    calls: list[int] = []
    import_folder(engine, kb, progress=calls.append)
    assert sum(calls) == 15


def test_reimport_is_a_no_op(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    with Session(engine) as s:
        before = {r.id: r.imported_at for r in s.exec(select(KbArticle)).all()}
    report = import_folder(engine, kb)
    assert report.added == () and report.updated == ()
    assert sorted(report.unchanged) == SAMPLE_IDS
    assert version_rows(engine) == 15
    with Session(engine) as s:
        rows = s.exec(select(KbArticle)).all()
        assert {r.id: r.imported_at for r in rows} == before
        assert {r.version for r in rows} == {1}


def test_editing_one_file_makes_version_2_and_keeps_version_1(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    path = kb / "hb-002.md"
    old_text = path.read_text(encoding="utf-8")
    path.write_text(
        old_text.replace("结算中止。", "结算中止，收费处无法出院结账。"), encoding="utf-8"
    )

    report = import_folder(engine, kb)
    assert report.updated == ("hb-002",)
    assert report.added == ()
    assert len(report.unchanged) == 14
    assert version_rows(engine) == 16

    history = article_history(engine, "hb-002")
    assert [v.version for v in history] == [1, 2]
    assert "结算中止。" in history[0].markdown
    assert "收费处无法出院结账" not in history[0].markdown
    assert "收费处无法出院结账" in history[1].markdown
    assert history[0].content_hash != history[1].content_hash
    # the stored markdown of each version is itself a valid article
    assert parse_article(history[0].markdown, "v1") == parse_article(old_text, "old")

    current = {a.id: a for a in load_articles(engine)}["hb-002"]
    assert "收费处无法出院结账" in current.body
    with Session(engine) as s:
        row = s.get(KbArticle, "hb-002")
        assert row is not None and row.version == 2
        assert row.content_hash == current.content_hash
    assert [v.version for v in article_history(engine, "hb-001")] == [1]


def test_metadata_only_change_is_a_new_version(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    path = kb / "hb-005.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('category = "usage"', 'category = "consult"'), encoding="utf-8")
    assert 'category = "consult"' in path.read_text(encoding="utf-8"), "fixture assumption"
    report = import_folder(engine, kb)
    assert report.updated == ("hb-005",)
    assert [v.version for v in article_history(engine, "hb-005")] == [1, 2]


def test_removed_file_keeps_the_article(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    (kb / "hb-015.md").unlink()
    report = import_folder(engine, kb)
    assert len(report.unchanged) == 14
    assert "hb-015" in [a.id for a in load_articles(engine)]


def test_bad_file_is_reported_and_the_rest_imported(engine: Engine, kb: Path) -> None:
    bad = kb / "hb-016.md"
    text = (kb / "hb-001.md").read_text(encoding="utf-8").replace('id = "hb-001"', 'id = "hb-016"')
    bad.write_text(text.replace('category = "install"', 'category = "network"'), encoding="utf-8")
    report = import_folder(engine, kb)
    assert report.errors
    assert len(report.errors) == 1
    assert report.errors[0].source == str(bad)
    assert report.errors[0].field == "category"
    assert sorted(report.added) == SAMPLE_IDS
    assert [a.id for a in load_articles(engine)] == SAMPLE_IDS


def test_strict_import_with_a_bad_file_imports_nothing(engine: Engine, kb: Path) -> None:
    (kb / "zz-bad.md").write_text("没有 front matter", encoding="utf-8")
    report = import_folder(engine, kb, strict=True)
    assert report.errors
    assert report.added == report.updated == report.unchanged == ()
    assert [e.source for e in report.errors] == [str(kb / "zz-bad.md")]
    assert load_articles(engine) == []
    assert version_rows(engine) == 0


def test_strict_import_of_a_clean_folder_imports(engine: Engine, kb: Path) -> None:
    report = import_folder(engine, kb, strict=True)
    assert not report.errors
    assert len(report.added) == 15


def test_strict_import_does_not_touch_existing_articles(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    path = kb / "hb-003.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("## 原因", "## 原因\n新增一句。"), encoding="utf-8"
    )
    (kb / "zz-bad.md").write_bytes(b"\xff\xfe")
    report = import_folder(engine, kb, strict=True)
    assert report.updated == ()
    assert [v.version for v in article_history(engine, "hb-003")] == [1]


def test_import_of_missing_folder(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        import_folder(engine, tmp_path / "nope")


def web_edit(engine: Engine, article_id: str, title: str) -> None:
    """What the web console does: save a changed article as a "web" version."""
    with Session(engine) as s:
        row = s.get(KbArticle, article_id)
        assert row is not None
        edited = dataclasses.replace(row.to_article(), title=title)
        assert save_article(s, edited, source=WEB_SOURCE, changed_by="e01") == "updated"
        s.commit()


def test_reimporting_an_unchanged_file_keeps_the_web_edit(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    web_edit(engine, "hb-002", title="网页上改过的标题")
    report = import_folder(engine, kb)
    assert report.kept == ("hb-002",)
    assert report.updated == () and len(report.unchanged) == 15
    assert {a.id: a for a in load_articles(engine)}["hb-002"].title == "网页上改过的标题"
    assert [(v.version, v.source) for v in article_history(engine, "hb-002")] == [
        (1, str(kb)),
        (2, WEB_SOURCE),
    ]
    # and again at the next start: still kept, still no new version
    assert import_folder(engine, kb).kept == ("hb-002",)
    assert version_rows(engine) == 16


def test_a_file_changed_after_a_web_edit_wins_as_a_new_version(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    web_edit(engine, "hb-002", title="网页上改过的标题")
    path = kb / "hb-002.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("结算中止。", "结算中止（文件版）。"),
        encoding="utf-8",
    )
    report = import_folder(engine, kb)
    assert report.updated == ("hb-002",) and report.kept == ()
    current = {a.id: a for a in load_articles(engine)}["hb-002"]
    assert "文件版" in current.body and current.title != "网页上改过的标题"
    assert [v.version for v in article_history(engine, "hb-002")] == [1, 2, 3]
    # the file is now the current version: its next unchanged import is a plain no-op
    assert import_folder(engine, kb).kept == ()


def test_an_article_created_on_the_web_is_overwritten_by_a_new_file(
    engine: Engine, kb: Path
) -> None:
    # no folder version to compare with: a file with the same id is a real change
    import_folder(engine, kb)
    with Session(engine) as s:
        web_only = parse_article(
            (kb / "hb-001.md").read_text(encoding="utf-8").replace("hb-001", "hb-100"), "web"
        )
        save_article(s, web_only, source=WEB_SOURCE, changed_by="e01")
        s.commit()
    (kb / "hb-100.md").write_text(
        web_only.to_markdown().replace("无监听程序", "无监听程序（文件）"), encoding="utf-8"
    )
    report = import_folder(engine, kb)
    assert report.updated == ("hb-100",) and report.kept == ()


# -- retiring ----------------------------------------------------------------------------------


def retire(engine: Engine, article_id: str, reason: str = "HIS 4.x 已无医院使用") -> bool | None:
    with Session(engine) as s:
        outcome = retire_article(s, article_id, "e01", reason)
        s.commit()
        return outcome


def restore(engine: Engine, article_id: str) -> bool | None:
    with Session(engine) as s:
        outcome = restore_article(s, article_id)
        s.commit()
        return outcome


def test_a_retired_article_is_not_loaded_but_kept(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    assert retire(engine, "hb-004") is True
    assert "hb-004" not in [a.id for a in load_articles(engine)]
    assert len(load_articles(engine)) == 14
    with Session(engine) as s:
        rows = {r.id: r for r in list_articles(s)}
        assert len(rows) == 15 and len(list_articles(s, include_retired=False)) == 14
    row = rows["hb-004"]
    assert row.retired and row.retired_by == "e01" and row.retired_reason == "HIS 4.x 已无医院使用"
    assert row.retired_at is not None and row.retired_at.tzinfo is not None  # stored, read back
    assert [v.version for v in article_history(engine, "hb-004")] == [1]  # history untouched


def test_retiring_and_restoring_are_idempotent(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    assert retire(engine, "hb-004", "first") is True
    assert retire(engine, "hb-004", "second") is False  # the first retirement is kept
    with Session(engine) as s:
        row = s.get(KbArticle, "hb-004")
        assert row is not None and row.retired_reason == "first"
    assert restore(engine, "hb-004") is True
    assert restore(engine, "hb-004") is False
    with Session(engine) as s:
        row = s.get(KbArticle, "hb-004")
        assert (
            row is not None
            and not row.retired
            and (row.retired_by, row.retired_reason)
            == (
                "",
                "",
            )
        )
    assert "hb-004" in [a.id for a in load_articles(engine)]
    assert retire(engine, "nope") is None and restore(engine, "nope") is None


def test_import_keeps_a_retired_article_retired(engine: Engine, kb: Path) -> None:
    import_folder(engine, kb)
    retire(engine, "hb-002")
    assert "hb-002" in import_folder(engine, kb).unchanged
    # a changed file is stored as a new version, and the article stays retired
    path = kb / "hb-002.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("结算中止。", "结算中止（新版）。"),
        encoding="utf-8",
    )
    report = import_folder(engine, kb)
    assert report.updated == ("hb-002",)
    assert [v.version for v in article_history(engine, "hb-002")] == [1, 2]
    assert "hb-002" not in [a.id for a in load_articles(engine)]
    with Session(engine) as s:
        row = s.get(KbArticle, "hb-002")
        assert row is not None and row.retired and "新版" in row.body
    # restoring brings back the newest version
    restore(engine, "hb-002")
    assert "新版" in {a.id: a for a in load_articles(engine)}["hb-002"].body
