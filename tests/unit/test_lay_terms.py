"""kb_index.lay_terms: everyday phrases → the KB's technical words, for the lexical retriever."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb_index.lay_terms import LayTerms, LayTermsError
from kb_index.lexical import LexicalIndex
from kb_index.text import lexical_terms, prepare_query

DOCS = [
    "点击腕带打印后无反应 护士站打印腕带",
    "叫号屏不显示 候诊区大屏黑屏",
    "盘点结束后账面和实物对不上",
    "门诊收费打印发票提示打印机脱机",
]


@pytest.fixture
def lexical() -> LexicalIndex:
    return LexicalIndex.build([lexical_terms(d) for d in DOCS])


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("给新病人打手上那个身份带，机器一动不动", ["腕带"]),
        ("儿科门口挂墙上那个电视黑了", ["叫号屏"]),
        ("月底想点库，电脑不让开始", ["盘点"]),
    ],
)
def test_everyday_phrases_bring_their_technical_words(message: str, words: list[str]) -> None:
    hints = LayTerms().hints(prepare_query(message))
    for word in words:
        assert word in hints


def test_words_the_message_already_has_are_not_repeated() -> None:
    assert "腕带" not in LayTerms().hints(prepare_query("腕带打不出来，手上的带子也没了"))


def test_expansion_appends_and_never_replaces() -> None:
    text = prepare_query("挂墙上那个电视黑了")
    expanded = LayTerms().expand(text)
    assert expanded.startswith(text) and expanded != text
    assert LayTerms().expand("系统今天挺好") == "系统今天挺好"


@pytest.mark.parametrize(
    ("message", "doc"),
    [
        ("给新病人打手上那个身份带，按了按钮那台小机器一动不动", 0),
        ("儿科门口挂墙上那个电视黑了 病人看不到排到第几个", 1),
        ("月底想点库，数了好几遍东西没少", 2),
    ],
)
def test_expanded_query_finds_the_article_the_plain_one_misses(
    lexical: LexicalIndex, message: str, doc: int
) -> None:
    plain = prepare_query(message)
    expanded = LayTerms().expand(plain)
    assert int(np.argmax(lexical.score(expanded).bm25)) == doc
    assert lexical.score(plain).bm25[doc] < lexical.score(expanded).bm25[doc]


def test_an_empty_table_changes_nothing() -> None:
    assert LayTerms(()).expand("手上那个身份带") == "手上那个身份带"


def test_a_site_file_adds_local_slang(tmp_path: Path) -> None:
    site = tmp_path / "lay.toml"
    site.write_text('"小白盒" = "读卡器"\n"蓝屏机" = "自助机"\n', encoding="utf-8")
    terms = LayTerms.with_site_file(site)
    assert terms.hints("小白盒又不亮了") == ["读卡器"]
    assert "腕带" in terms.hints("手上那个身份带")  # the built-in table stays


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('"小白盒" = 3\n', "本地叫法"),
        ('"小白盒" = ""\n', "本地叫法"),
        ("小白盒 = \n", r"lay\.toml"),
    ],
)
def test_a_bad_site_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    site = tmp_path / "lay.toml"
    site.write_text(content, encoding="utf-8")
    with pytest.raises(LayTermsError, match=message):
        LayTerms.with_site_file(site)


def test_a_missing_site_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LayTermsError, match=r"nope\.toml"):
        LayTerms.with_site_file(tmp_path / "nope.toml")


def test_settings_choose_the_table(tmp_path: Path) -> None:
    from bot.infra.config import load_settings
    from bot.kb.knowledge import lay_terms

    (tmp_path / "slang.toml").write_text('"小白盒" = "读卡器"\n', encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text('[retrieval]\nlay_terms_file = "slang.toml"\n', encoding="utf-8")
    assert lay_terms(load_settings(site)).hints("小白盒不亮") == ["读卡器"]  # relative to the file
    off = tmp_path / "off.toml"
    off.write_text("[retrieval]\nlay_terms = false\n", encoding="utf-8")
    assert lay_terms(load_settings(off)).hints("手上那个身份带") == []
