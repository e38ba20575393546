"""bot.redact against how people really write personal data (issue 13, item 1).

The examples are the ones found left verbatim; the properties generate the same forms —
separators of every kind between groups, Unicode and Chinese digits, labels with their many
separators, lists after a label, names after 患者 — and check that nothing of the value
survives while error codes, transaction numbers, versions, amounts, dates and IPs do.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.redact import find_pii, redact
from tests.unit.test_redact import luhn_complete, make_id

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)
ID = "110101199003074518"  # the example: its check digit is wrong (a typo still names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证 110101 19900307 4518", "身份证 [身份证号]"),
        ("110101-19900307-4518", "[身份证号]"),
        ("sfz110101199003074518", "sfz[身份证号]"),
        ("ID110101199003074518", "ID[身份证号]"),
        ("138 12345678", "[手机号]"),
        ("138.1234.5678", "[手机号]"),
        ("138/1234/5678", "[手机号]"),
        ("tel13812345678", "tel[手机号]"),
        ("电话\u00a0138\u00a01234\u00a05678", "电话\u00a0[手机号]"),
        ("手机\t138\t1234\t5678", "手机\t[手机号]"),
        ("手机１３８\u200b１２３４\u200b５６７８", "手机[手机号]"),
        ("电话١٣٨١٢٣٤٥٦٧٨回电", "电话[手机号]回电"),  # Arabic-Indic digits
        ("电话𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", "电话[手机号]"),  # mathematical digits
        ("家属电话1381234\n5678，麻烦回电", "家属电话[手机号]，麻烦回电"),
        ("身份证11010119900\r\n3074518", "身份证[身份证号]"),
        ("住院号为：ZY20230016", "住院号为：[住院号]"),
        ("住院号是:2023001", "住院号是:[住院号]"),
        ("住院号（ZY2023001）", "住院号（[住院号]）"),
        ("住院号【2023001】", "住院号【[住院号]】"),
        ("住院号#2023001", "住院号#[住院号]"),
        ("住院号码：2023 0016 的病人", "住院号码：[住院号] 的病人"),
        ("住院号2023001,2023002", "住院号[住院号],[住院号]"),
        (
            "住院号2023001，2023002；2023003和2023004",
            "住院号[住院号]，[住院号]；[住院号]和[住院号]",
        ),
        ("住院号 2023001 2023002 都结算失败", "住院号 [住院号] [住院号] 都结算失败"),
        ("手机一三八一二三四五六七八", "手机[手机号]"),
        ("电话幺三八幺二三四五六七八", "电话[手机号]"),
        ("住院号二零二三零零一六", "住院号[住院号]"),
        ("患者张三住院费用不对", "患者[姓名]住院费用不对"),
        ("病人王小明的医保结算报2207", "病人[姓名]的医保结算报2207"),
        ("家属：欧阳娜娜说发票没打出来", "家属：[姓名]说发票没打出来"),
        ("姓名：李四，性别男", "姓名：[姓名]，性别男"),
        ("电话：0571-88886666", "电话：[电话]"),
    ],
)
def test_the_forms_found_left_verbatim_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ORA-01653: unable to extend table",
        "医保结算报2304，总额和明细对不上",
        "升级到5.2.1后报错，之前是5.1.9",
        "数据库 13.81.234.56 连不上，备机 10.1.1.2",
        "2026-03-18 13:45 结算2304失败",
        "日期 2026/3/18、2026.03.18",
        "金额1,234.56元，退费12.50",
        "患者余额不足",
        "患者高血压用药",
        "病人黄疸指数",
        "患者信息打印不出来",
        "设备上病人名字是问号",  # a KB question: 问 is no surname
        "家属签字后再办出院",
        "患者马上要出院了",
        "病人周一来复查",
        "住院号为10位",
        "电话打不通",
        "我打电话问了2304",
        "一直报错，一下子全没了",
        "第一二次都失败",
        "错误1501 2207 2304连着报",
    ],
)
def test_what_engineers_need_is_kept(text: str) -> None:
    assert find_pii(text) == []
    assert redact(text) == text


# --- generated forms ------------------------------------------------------------------------

SEPARATORS = [" ", "  ", "-", " - ", ".", "/", "\t", "\u00a0", "\u3000", "\n", "\r\n", "\u200b"]
DIGIT_SCRIPTS = [
    "0123456789",
    "０１２３４５６７８９",
    "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic
    "०१२३४५६७८९",  # Devanagari
    "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",  # mathematical bold
    "〇一二三四五六七八九",  # Chinese numerals, digit by digit
]


def script(digits: str, numerals: str) -> str:
    return digits.translate(str.maketrans("0123456789", numerals))


@st.composite
def mobile_forms(draw: st.DrawFn) -> str:
    digits = f"1{draw(st.integers(3, 9))}{draw(st.integers(0, 10**9 - 1)):09d}"
    sizes = draw(st.sampled_from([(11,), (3, 4, 4), (3, 8), (7, 4), (4, 4, 3), (5, 6)]))
    return _grouped(draw, digits, sizes)


@st.composite
def id_forms(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1930, 1, 1), date(2020, 12, 31)))
    number = make_id("110101", f"{born:%Y%m%d}", f"{draw(st.integers(0, 999)):03d}")
    sizes = draw(st.sampled_from([(18,), (6, 8, 4), (6, 4, 4, 4), (9, 9), (3, 3, 4, 4, 4)]))
    return _grouped(draw, number, sizes)


@st.composite
def card_forms(draw: st.DrawFn) -> str:
    body = "622202" + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    card = luhn_complete(body)
    sizes = draw(st.sampled_from([(16,), (4, 4, 4, 4), (8, 8)]))
    return _grouped(draw, card, sizes, same_separator=True)


def _grouped(
    draw: st.DrawFn, digits: str, sizes: tuple[int, ...], same_separator: bool = False
) -> str:
    numerals = draw(st.sampled_from(DIGIT_SCRIPTS))
    if numerals[0] == "〇" and len(sizes) > 1:
        numerals = DIGIT_SCRIPTS[0]  # read-out numerals come in one run
    one = draw(st.sampled_from(SEPARATORS))
    parts, pos = [], 0
    for size in sizes:
        parts.append(script(digits[pos : pos + size], numerals))
        pos += size
    text = parts[0]
    for part in parts[1:]:
        text += (one if same_separator else draw(st.sampled_from(SEPARATORS))) + part
    return text


PREFIXES = st.sampled_from(["", "电话", "手机：", "身份证号 ", "sfz", "ID", "tel", "联系方式是"])
CONTEXT = st.sampled_from(["", "，麻烦回电", "。", " 的费用不对", "，医保报2207"])


def _digit_values(text: str) -> set[str]:
    return {c for c in text if c.isdecimal()}


@DETERMINISTIC
@given(PREFIXES, st.one_of(mobile_forms(), id_forms(), card_forms()), CONTEXT)
def test_generated_numbers_are_masked_whole(prefix: str, number: str, context: str) -> None:
    out = redact(prefix + number + context)
    assert out.startswith(prefix) and out.endswith(context)
    masked = out[len(prefix) : len(out) - len(context)]
    assert masked in ("[手机号]", "[身份证号]", "[银行卡号]", "[电话]"), (number, out)


RECORD_LABELS = st.sampled_from(["住院号", "住院号码", "门诊号", "病历号", "病案号", "就诊卡号"])
LABEL_GAPS = st.sampled_from(
    ["", "：", ":", " ", "为", "是", "为：", "是:", "（", "(", "【", "#", "＃", " = ", "：\u200b"]
)
RECORD_VALUES = st.tuples(
    st.sampled_from(["", "ZY", "MZ", "zy-"]), st.integers(10_000, 99_999_999)
).map(lambda t: f"{t[0]}{t[1]}")
LIST_GAPS = st.sampled_from([",", "，", "、", "；", ";", "/", " 和 ", "及"])


@DETERMINISTIC
@given(
    RECORD_LABELS,
    LABEL_GAPS,
    st.lists(RECORD_VALUES, min_size=1, max_size=4),
    LIST_GAPS,
    st.sampled_from(["", "）", "】", " 的病人结算报2304", "，急"]),
)
def test_every_value_of_a_labelled_list_is_masked(
    label: str, gap: str, values: list[str], joiner: str, tail: str
) -> None:
    text = label + gap + joiner.join(values) + tail
    out = redact(text)
    for value in values:
        assert value not in out, (text, out)
    assert out.startswith(label + gap) and out.endswith(tail)


SURNAMES = st.sampled_from([*"王李张刘陈杨赵吴徐孙朱郭林罗郑梁宋唐韩冯", "欧阳", "诸葛"])
GIVEN = st.text(
    alphabet=st.sampled_from(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英")),
    min_size=1,
    max_size=2,
)


@DETERMINISTIC
@given(
    st.sampled_from(["患者", "病人", "家属", "患儿", "患者：", "病人 "]),
    SURNAMES,
    GIVEN,
    st.sampled_from(["的住院费用不对", "，医保报2207", "住院三天了", "说发票没打出来", ""]),
)
def test_names_after_patient_words_are_masked(
    word: str, surname: str, given: str, rest: str
) -> None:
    assert redact(word + surname + given + rest) == word + "[姓名]" + rest


ENGINEERING = st.one_of(
    st.integers(0, 99999).map(lambda n: f"ORA-{n:05d}"),
    st.sampled_from(["1101", "2201", "2207", "2304", "3101", "4101A", "5203", "9001"]),
    st.lists(st.integers(0, 99), min_size=2, max_size=4).map(lambda v: ".".join(map(str, v))),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: "{}.{}.{}.{}".format(*t)),
    st.dates(date(1990, 1, 1), date(2099, 12, 31)).flatmap(
        lambda d: st.sampled_from([f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}", f"{d:%Y.%m.%d}"])
    ),
    st.decimals(0, 10**6, places=2).map(lambda d: f"{d:,.2f}元"),
)


@DETERMINISTIC
@given(st.lists(st.tuples(ENGINEERING, st.sampled_from(["\n", " ", "，", "、", "/"])), max_size=5))
def test_engineering_numbers_survive_any_separator(items: list[tuple[str, str]]) -> None:
    text = "".join(item + joiner for item, joiner in items)
    assert redact(text) == text
