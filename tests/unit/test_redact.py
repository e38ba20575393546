"""bot.redact: PII is masked, and everything else is kept byte for byte.

Check digits are computed here, apart from the code under test, so a test never rests on a
hand-typed ID or card number that is quietly invalid.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.redact import PiiSpan, find_pii, redact, redact_lines

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=150)

PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45]
PROVINCES += [46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]
PLACEHOLDERS = ["[身份证号]", "[手机号]", "[银行卡号]", "[住院号]", "[门诊号]", "[病历号]"]
PLACEHOLDERS += ["[病案号]", "[就诊卡号]", "[患者ID]"]
DIGITS = "0123456789"
FULL_WIDTH = str.maketrans(DIGITS, "０１２３４５６７８９")


# --- independent helpers ----------------------------------------------------------------


def id_check(first17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def make_id(region: str = "110101", birth: str = "19900307", seq: str = "777") -> str:
    body = region + birth + seq
    return body + id_check(body)


def wrong_check(resident_id: str) -> str:
    wrong = "0" if resident_id[-1] != "0" else "1"
    return resident_id[:-1] + wrong


def luhn_complete(partial: str) -> str:
    """``partial`` plus the digit that makes it pass Luhn."""
    total = 0
    for i, d in enumerate(reversed(partial)):
        n = int(d) * (1 if i % 2 else 2)  # the new check digit will sit at position 0
        total += n - 9 if n > 9 else n
    return partial + str(-total % 10)


def luhn_fail(card: str) -> str:
    return card[:-1] + str((int(card[-1]) + 1) % 10)


def group4(digits: str, sep: str = " ") -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


ID = make_id()  # 11010119900307777 + its real check digit (4)
ID_X = next(make_id(seq=f"{n:03d}") for n in range(1000) if make_id(seq=f"{n:03d}")[-1] == "X")
CARD16 = luhn_complete("622202123456789")
CARD19 = luhn_complete("621700123456789012")


def test_helpers_agree_with_published_examples() -> None:
    assert make_id("110105", "19491231", "002") == "11010519491231002X"  # GB 11643 sample
    assert luhn_complete("7992739871") == "79927398713"  # the textbook Luhn example
    assert luhn_complete("411111111111111") == "4111111111111111"


# --- each kind, in realistic messages --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"患者张三 身份证{ID} 医保结算报2207错误",
            "患者[姓名] 身份证[身份证号] 医保结算报2207错误",
        ),
        (f"身份证号:{ID_X}，挂号时提示重复建档", "身份证号:[身份证号]，挂号时提示重复建档"),
        (f"身份证号:{ID_X.lower()}，读卡失败", "身份证号:[身份证号]，读卡失败"),
        ("老患者身份证110101900307123，15位的查不到", "老患者身份证[身份证号]，15位的查不到"),
        (f"{ID}和{make_id(seq='123')}两个人", "[身份证号]和[身份证号]两个人"),
        (f"证件号({ID})", "证件号([身份证号])"),
    ],
)
def test_id_cards_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_wrong_check_digit_with_real_province_and_birth_date_is_still_an_id() -> None:
    """The documented decision: a mistyped ID still names the patient, so it is masked."""
    typo = wrong_check(ID)
    assert redact(f"患者身份证{typo}，系统说校验位不对") == "患者身份证[身份证号]，系统说校验位不对"
    assert find_pii(typo) == [PiiSpan(0, 18, "id_card")]


def test_check_digit_decides_outside_the_province_list() -> None:
    """9-prefixed foreigners' permanent residence IDs are masked on their check digit alone."""
    foreign = make_id(region="911101", birth="19851201", seq="005")
    assert redact(f"外籍患者 {foreign}") == "外籍患者 [身份证号]"
    assert redact(f"编号 {wrong_check(foreign)}") == f"编号 {wrong_check(foreign)}"


@pytest.mark.parametrize(
    "number",
    [
        make_id(birth="19900230"),  # no 30 February
        make_id(birth="18991231"),  # before 1900
        make_id(birth=f"{date.today().year + 1}0101"),  # not born yet
        make_id(birth="19901301"),  # month 13
        wrong_check(make_id(region="990101")),  # no province 99, and a wrong check digit
        "110101901307123",  # 15 digits, month 13
        "990101900307123",  # 15 digits, no province 99
        ID + "12",  # 20-digit run: not an ID plus two digits
        "0" + ID,  # 19-digit run
    ],
)
def test_id_shaped_numbers_without_a_plausible_shape_are_kept(number: str) -> None:
    assert redact(f"流水号{number}报错") == f"流水号{number}报错"


@pytest.mark.parametrize(
    "mobile",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-13812345678",
        "8613812345678",
        "0086 13812345678",
        "(+86)13812345678",
        "１３８１２３４５６７８",
        "１３８－１２３４－５６７８",
        "19912345678",
        "16612345678",
    ],
)
def test_mobiles_are_masked(mobile: str) -> None:
    assert redact(f"家属电话{mobile}，麻烦回电") == "家属电话[手机号]，麻烦回电"


def test_a_list_of_grouped_mobiles_is_masked_entirely() -> None:
    text = "联系人 138 1234 5678 139 8765 4321 都打不通"
    assert redact(text) == "联系人 [手机号] [手机号] 都打不通"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("住院号：202300123 出院结算报错", "住院号：[住院号] 出院结算报错"),
        ("住院号:202300123", "住院号:[住院号]"),
        ("住院号 202300123", "住院号 [住院号]"),
        ("住院号202300123的病人费用没上传", "住院号[住院号]的病人费用没上传"),
        ("住院号是2023001，请查一下", "住院号是[住院号]，请查一下"),
        ("住院号码：ZY-2023-001", "住院号码：[住院号]"),
        ("门诊号:MZ2023001 挂号费重复收取", "门诊号:[门诊号] 挂号费重复收取"),
        ("病历号 A123456", "病历号 [病历号]"),
        ("病案号：0012345 首页上传失败", "病案号：[病案号] 首页上传失败"),
        ("就诊卡号：8800123456", "就诊卡号：[就诊卡号]"),
        ("患者ID号 556677", "患者ID号 [患者ID]"),
        ("患者ID：556677", "患者ID：[患者ID]"),
        ("id号=556677", "id号=[患者ID]"),
        ("住院号：２０２３００１", "住院号：[住院号]"),
        ("select * from zy_brry where zyh='2023001'", "select * from zy_brry where zyh='[住院号]'"),
        ('ZYH = "2023001"', 'ZYH = "[住院号]"'),
        ("mzh:MZ0001", "mzh:[门诊号]"),
        (
            "住院号2023001、2023002、 2023003都结算失败",
            "住院号[住院号]、[住院号]、 [住院号]都结算失败",
        ),
    ],
)
def test_labelled_record_numbers_keep_the_label(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "住院号是多少？",
        "住院号：未知",
        "住院号为10位",  # a length, not a record number
        "病历号 error",  # no digit: not a record number
        "zyh2023001",  # glued to the abbreviation: an identifier, not a labelled value
        "xzyh: 2023001",  # not the abbreviation
        "门诊号规则改为MZ+8位流水",
    ],
)
def test_labels_without_a_record_value_are_kept(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "card",
    [
        CARD16,
        CARD19,
        group4(CARD16),
        group4(CARD16, "-"),
        group4(CARD19),
        luhn_complete("4111111111111111"[:15]),
        luhn_complete("523456789012345"),
        luhn_complete("62220212345678901"),  # 18 digits
        CARD16.translate(FULL_WIDTH),
    ],
)
def test_bank_cards_are_masked(card: str) -> None:
    assert redact(f"退费请打到卡号{card}，谢谢") == "退费请打到卡号[银行卡号]，谢谢"


@pytest.mark.parametrize(
    "number",
    [
        luhn_fail(CARD16),
        group4(luhn_fail(CARD16)),
        luhn_complete("202603181234567"),  # a date-prefixed serial that happens to pass Luhn
        luhn_complete("000012345678901"),
        luhn_complete("6222021234567890123"),  # 20 digits
        group4(luhn_complete("6222021234567890123")),  # five groups of four
        group4(CARD16) + " 12",  # grouped run with a tail: one longer number
    ],
)
def test_card_shaped_numbers_that_are_not_cards_are_kept(number: str) -> None:
    assert redact(f"交易流水号{number}，对账不平") == f"交易流水号{number}，对账不平"


def test_a_card_next_to_a_grouped_mobile_is_masked_once_the_mobile_is() -> None:
    text = f"卡号 {group4(CARD16)} 138 1234 5678"
    assert redact(text) == "卡号 [银行卡号] [手机号]"


def test_all_kinds_in_one_message() -> None:
    text = (
        f"［急］患者李四，身份证{ID}，手机138-1234-5678，住院号：ZY2023001，"
        f"医保2207结算失败（ORA-01653），退费卡号{group4(CARD19)}，版本V10.35.120。\n"
    )
    assert redact(text) == (
        "［急］患者[姓名]，身份证[身份证号]，手机[手机号]，住院号：[住院号]，"
        "医保2207结算失败（ORA-01653），退费卡号[银行卡号]，版本V10.35.120。\n"
    )
    kinds = ["name", "id_card", "mobile", "medical_record", "bank_card"]
    assert [s.kind for s in find_pii(text)] == kinds


def test_full_width_text_is_kept_outside_the_masks() -> None:
    text = f"身份证：{ID.translate(FULL_WIDTH)}　电话：１３８１２３４５６７８　２２０７错误"
    assert redact(text) == "身份证：[身份证号]　电话：[手机号]　２２０７错误"


# --- what engineers need must never be masked ------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "医保结算报2207错误",
        "1101人员信息获取失败，2201、2207、4101A都报-1",
        "ORA-01653: unable to extend table",
        "错误码0x80004005",
        "返回-1",
        "交易流水号202603181234567890123456",
        "发送方报文ID H11010500001202603181234560001",
        "订单TXN13812345678已关闭",
        "msgid=A110101199003077777B",
        "日期2026-03-18、20260318、2026年3月18日、2026/3/18",
        "时间 13:45:09，时间戳20260318134509",
        "版本V10.35.120，客户端5.3.2.1",
        "金额¥1234.56，自付12,345.00元",
        "数据库192.168.10.25:1521，端口8080",
        "编码10012345678和20260318123",
        "号段12812345678",
        "138123456789 是12位",
        "013812345678",
        f"{ID}12",
    ],
)
def test_engineering_numbers_are_kept(text: str) -> None:
    assert find_pii(text) == []
    assert redact(text) == text


# --- API shape ---------------------------------------------------------------------------


def test_find_pii_reports_sorted_spans_in_original_offsets() -> None:
    text = f"住院号：2023001 手机１３８１２３４５６７８ 身份证{ID}"
    spans = find_pii(text)
    assert spans == [
        PiiSpan(4, 11, "medical_record"),
        PiiSpan(14, 25, "mobile"),
        PiiSpan(29, 47, "id_card"),
    ]
    assert text[29:47] == ID


def test_pii_span_is_frozen() -> None:
    span = PiiSpan(0, 1, "mobile")
    with pytest.raises(dataclasses.FrozenInstanceError):
        span.start = 2  # type: ignore[misc]


def test_placeholders_survive_the_search_query_cleanup() -> None:
    """intents.decide drops ``\\[[^\\[\\]\\s]{1,8}\\]`` from queries; every mask must fit."""
    shape = re.compile(r"\[[^\[\]\s]{1,8}\]")
    assert all(shape.fullmatch(p) for p in PLACEHOLDERS)


def test_redact_lines_keeps_line_endings_and_reads_a_paragraph_at_a_time() -> None:
    def lines() -> Iterator[str]:
        yield "电话13812345678\r\n"
        yield "\n"
        yield f"身份证{ID[:9]}\n"
        yield f"{ID[9:]}，请查\n"
        yield "\n"
        raise AssertionError("read past what was asked for")

    out = redact_lines(lines())
    assert next(out) == "电话[手机号]\r\n"
    assert next(out) == "\n"
    assert next(out) == "身份证[身份证号]，请查\n"  # a number broken over two lines
    assert next(out) == "\n"


# --- properties ------------------------------------------------------------------------


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = f"{draw(st.sampled_from(PROVINCES))}{draw(st.integers(0, 9999)):04d}"
    if draw(st.booleans()):
        born = draw(st.dates(date(1900, 1, 1), date(2024, 12, 31)))
        number = make_id(region, f"{born:%Y%m%d}", f"{draw(st.integers(0, 999)):03d}")
        return number.lower() if draw(st.booleans()) else number
    born = draw(st.dates(date(1900, 1, 1), date(1999, 12, 31)))  # 15-digit first generation
    return f"{region}{born:%y%m%d}{draw(st.integers(0, 999)):03d}"


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    digits = f"1{draw(st.integers(3, 9))}{draw(st.integers(0, 10**9 - 1)):09d}"
    sep = draw(st.sampled_from(["", " ", "-"]))
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "86", "0086", "0086 ", "(+86)"]))
    return f"{prefix}{digits[:3]}{sep}{digits[3:7]}{sep}{digits[7:]}"


@st.composite
def bank_cards(draw: st.DrawFn) -> str:
    iin = draw(st.sampled_from(["62", "4", "5", "35", "37", "9", "2221", "2720", "60"]))
    length = draw(st.integers(16, 19))
    body = iin + "".join(
        draw(
            st.lists(
                st.sampled_from(DIGITS),
                min_size=length - len(iin) - 1,
                max_size=length - len(iin) - 1,
            )
        )
    )
    card = luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return group4(card, sep) if sep else card


@st.composite
def some_full_width(draw: st.DrawFn, numbers: st.SearchStrategy[str]) -> str:
    number = draw(numbers)
    flags = draw(st.lists(st.booleans(), min_size=len(number), max_size=len(number)))
    return "".join(c.translate(FULL_WIDTH) if f else c for c, f in zip(number, flags, strict=True))


PII = some_full_width(st.one_of(resident_ids(), mobiles(), bank_cards()))
# Punctuation and Han characters: never a digit, letter or number separator next to the PII.
BOUNDARY = st.sampled_from(list("，。；：！？、（）【】《》“”\n\t患者号的了#@/|,.;!?'\"="))
CHATTY = st.text(
    alphabet=st.sampled_from(list("0123456789０１２３４５６７８９ -+()：:=、xX住院号门诊ID患者")),
    max_size=25,
)
FRAGMENTS = st.sampled_from(["住院号：", "zyh=", "ID号 ", "+86", "2207", "-", " ", "1", "６"])
MESSAGES = st.lists(st.one_of(PII, CHATTY, FRAGMENTS, st.text(max_size=10)), max_size=6).map(
    "".join
)


@DETERMINISTIC
@given(st.text(max_size=40), BOUNDARY, PII, BOUNDARY, st.text(max_size=40))
def test_embedded_pii_never_survives(
    before: str, left: str, pii: str, right: str, after: str
) -> None:
    text = before + left + pii + right + after
    start = len(before) + 1
    covered = {i for s in find_pii(text) for i in range(s.start, s.end)}
    assert set(range(start, start + len(pii))) <= covered
    assume(pii not in before + after)
    assert pii not in redact(text)


@DETERMINISTIC
@given(st.text(alphabet=st.characters(exclude_characters=DIGITS + "０１２３４５６７８９")))
def test_text_without_digits_is_unchanged(text: str) -> None:
    assert redact(text) == text


@DETERMINISTIC
@given(st.one_of(MESSAGES, st.text()))
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@DETERMINISTIC
@given(st.one_of(MESSAGES, st.text()))
def test_only_the_found_spans_change(text: str) -> None:
    spans = find_pii(text)
    assert all(0 <= a.start < a.end <= b.start < b.end for a, b in itertools.pairwise(spans))
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    masks = "|".join(re.escape(p) for p in PLACEHOLDERS)
    pattern, pos = "", 0
    for span in spans:
        pattern += re.escape(text[pos : span.start]) + f"(?:{masks})"
        pos = span.end
    pattern += re.escape(text[pos:])
    assert re.fullmatch(pattern, redact(text))


DATETIMES = st.datetimes(datetime(1990, 1, 1), datetime(2099, 12, 31))
versions = st.lists(st.integers(0, 999), min_size=2, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
ENGINEERING = st.one_of(
    st.dates(date(1990, 1, 1), date(2099, 12, 31)).flatmap(
        lambda d: st.sampled_from(
            [f"{d:%Y-%m-%d}", f"{d:%Y%m%d}", f"{d:%Y/%m/%d}", f"{d.year}年{d.month}月{d.day}日"]
        )
    ),
    DATETIMES.map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"),
    DATETIMES.map(lambda t: f"{t:%Y%m%d%H%M%S}"),
    versions,
    versions.map(lambda v: "V" + v),
    st.integers(0, 99999).map(lambda n: f"ORA-{n:05d}"),
    st.integers(0, 2**32 - 1).map(lambda n: f"0x{n:08X}"),
    st.integers(-99, 99999).map(str),
    st.sampled_from(["1101", "2201", "2207", "3101", "4101A", "5203", "9001"]),
    st.decimals(0, 10**7, places=2).map(lambda d: f"¥{d}"),
    st.decimals(0, 10**7, places=2).map(lambda d: f"{d:,.2f}元"),
    st.tuples(*[st.integers(0, 255)] * 4, st.integers(1, 65535)).map(
        lambda t: "{}.{}.{}.{}:{}".format(*t)
    ),
    st.text(DIGITS, min_size=20, max_size=40),  # long transaction serials
    st.tuples(
        st.text("ABCHTXN", min_size=1, max_size=4), st.text(DIGITS, min_size=6, max_size=30)
    ).map("".join),  # digits inside alphanumeric ids
    st.integers(0, 10**9 - 1).map(lambda n: f"10{n:09d}"),  # 11 digits, not a mobile
    st.integers(0, 10**10 - 1).map(lambda n: f"2{n:010d}"),
)
JOINERS = st.sampled_from(["，", "；", "、", "\n", " 报 ", "（", "）", "/"])


@DETERMINISTIC
@given(st.lists(st.tuples(ENGINEERING, JOINERS), min_size=1, max_size=5))
def test_engineering_numbers_are_never_masked(items: list[tuple[str, str]]) -> None:
    text = "".join(item + joiner for item, joiner in items)
    assert find_pii(text) == []
    assert redact(text) == text
